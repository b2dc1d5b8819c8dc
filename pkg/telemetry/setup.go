package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Queue bounds: when the collector is slow or gone, spans and log records
// beyond these are dropped rather than held or waited for. A span queue of
// 4096 holds about a second of a busy gateway's spans (two or three per
// request); batches of 512 keep the exporter's per-request overhead (one
// HTTP or gRPC call per batch) small next to encoding the spans. The
// processor exports from its own goroutine: requests only hand a span to
// its queue, never wait on the collector.
const (
	maxSpanQueue = 4096
	maxSpanBatch = 512
	maxLogQueue  = 4096
	maxLogBatch  = 512
)

// providers are the SDK objects setupOTelSDK builds; a nil field means the
// signal is off.
type providers struct {
	tracer *sdktrace.TracerProvider
	meter  *sdkmetric.MeterProvider
	logger *sdklog.LoggerProvider
	// prometheus serves the scrape endpoint when enabled.
	prometheus *prometheus.Registry
}

// setupOTelSDK builds the tracer, meter and logger providers that cfg asks
// for, in the manner of the OpenTelemetry Go dice example: every shutdown
// is collected and joined with errors.Join, and a failure part-way shuts
// down what was already built. A signal with neither an exporter nor an
// extra processor/reader gets no provider at all, so that it costs nothing.
func setupOTelSDK(ctx context.Context, cfg Config, res *resource.Resource) (p providers, shutdown func(context.Context) error, err error) {
	var shutdownFuncs []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var err error
		for _, fn := range shutdownFuncs {
			err = errors.Join(err, fn(ctx))
		}
		shutdownFuncs = nil
		return err
	}
	fail := func(inErr error) (providers, func(context.Context) error, error) {
		return providers{}, nil, errors.Join(inErr, shutdown(ctx))
	}
	console := cfg.Console
	if console == nil {
		console = os.Stdout
	}

	// Traces.
	var spanProcs []sdktrace.SpanProcessor
	queue, batch := cfg.SpanQueueSize, cfg.SpanBatchSize
	if queue <= 0 {
		queue = maxSpanQueue
	}
	if batch <= 0 {
		batch = maxSpanBatch
	}
	for _, name := range cfg.Traces.Exporters {
		exp, err := newSpanExporter(ctx, name, cfg.Traces, console)
		if err != nil {
			return fail(fmt.Errorf("trace exporter %s: %w", name, err))
		}
		spanProcs = append(spanProcs, sdktrace.NewBatchSpanProcessor(exp,
			sdktrace.WithMaxQueueSize(queue), sdktrace.WithMaxExportBatchSize(min(batch, queue))))
	}
	spanProcs = append(spanProcs, cfg.SpanProcessors...)
	if len(spanProcs) > 0 {
		sampler := cfg.Sampler
		if sampler == nil {
			sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
		}
		opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
		for _, sp := range spanProcs {
			opts = append(opts, sdktrace.WithSpanProcessor(sp))
		}
		p.tracer = sdktrace.NewTracerProvider(opts...)
		shutdownFuncs = append(shutdownFuncs, p.tracer.Shutdown)
	}

	// Metrics.
	var readers []sdkmetric.Reader
	for _, name := range cfg.Metrics.Exporters {
		exp, err := newMetricExporter(ctx, name, cfg.Metrics, console)
		if err != nil {
			return fail(fmt.Errorf("metric exporter %s: %w", name, err))
		}
		interval := cfg.MetricInterval
		if interval <= 0 {
			interval = defaultMetricInterval
		}
		readers = append(readers, sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval)))
	}
	if cfg.Prometheus {
		// An own registry: the gateway's /metrics shows its OTel
		// instruments only, not whatever else registered globally.
		p.prometheus = prometheus.NewRegistry()
		r, err := promexporter.New(promexporter.WithRegisterer(p.prometheus))
		if err != nil {
			return fail(fmt.Errorf("prometheus exporter: %w", err))
		}
		readers = append(readers, r)
	}
	readers = append(readers, cfg.MetricReaders...)
	if len(readers) > 0 {
		filter := cfg.ExemplarFilter
		if filter == nil {
			filter = exemplar.TraceBasedFilter
			if p.tracer == nil {
				// No span is recorded, so trace_based would keep no
				// exemplar: drop the reservoirs altogether.
				filter = exemplar.AlwaysOffFilter
			}
		}
		opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithExemplarFilter(filter)}
		for _, r := range readers {
			opts = append(opts, sdkmetric.WithReader(r))
		}
		p.meter = sdkmetric.NewMeterProvider(opts...)
		shutdownFuncs = append(shutdownFuncs, p.meter.Shutdown)
	}

	// Logs.
	var logProcs []sdklog.Processor
	for _, name := range cfg.Logs.Exporters {
		exp, err := newLogExporter(ctx, name, cfg.Logs, console)
		if err != nil {
			return fail(fmt.Errorf("log exporter %s: %w", name, err))
		}
		logProcs = append(logProcs, sdklog.NewBatchProcessor(exp,
			sdklog.WithMaxQueueSize(maxLogQueue), sdklog.WithExportMaxBatchSize(maxLogBatch)))
	}
	logProcs = append(logProcs, cfg.LogProcessors...)
	if len(logProcs) > 0 {
		opts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
		for _, lp := range logProcs {
			opts = append(opts, sdklog.WithProcessor(lp))
		}
		p.logger = sdklog.NewLoggerProvider(opts...)
		shutdownFuncs = append(shutdownFuncs, p.logger.Shutdown)
	}
	return p, shutdown, nil
}

// The exporters are built here rather than by contrib's autoexport, which
// reads only the process environment (the file's endpoint could not apply,
// nor tests pass their own environment), exports over OTLP when nothing is
// set (we must export nothing then), and serves Prometheus on a second
// port. The variables autoexport honours are honoured here too; what the
// OTLP exporters themselves read (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
// _COMPRESSION, _CERTIFICATE ...) they still read from the process
// environment, while the endpoint resolved by NewConfig is passed
// explicitly and wins.

func newSpanExporter(ctx context.Context, name string, e Export, console io.Writer) (sdktrace.SpanExporter, error) {
	switch {
	case name == ExporterConsole:
		return stdouttrace.New(stdouttrace.WithWriter(console))
	case e.Protocol == ProtocolGRPC:
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(e.Endpoint))
	default:
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(e.Endpoint))
	}
}

func newMetricExporter(ctx context.Context, name string, e Export, console io.Writer) (sdkmetric.Exporter, error) {
	switch {
	case name == ExporterConsole:
		return stdoutmetric.New(stdoutmetric.WithWriter(console))
	case e.Protocol == ProtocolGRPC:
		return otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(e.Endpoint))
	default:
		return otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(e.Endpoint))
	}
}

func newLogExporter(ctx context.Context, name string, e Export, console io.Writer) (sdklog.Exporter, error) {
	switch {
	case name == ExporterConsole:
		return stdoutlog.New(stdoutlog.WithWriter(console))
	case e.Protocol == ProtocolGRPC:
		return otlploggrpc.New(ctx, otlploggrpc.WithEndpointURL(e.Endpoint))
	default:
		return otlploghttp.New(ctx, otlploghttp.WithEndpointURL(e.Endpoint))
	}
}

// newResource describes the gateway process: service name, version and
// instance, host, process and SDK, then OTEL_RESOURCE_ATTRIBUTES over them.
// The process's command line is left out: it may carry secrets.
func newResource(ctx context.Context, cfg Config, version string) (*resource.Resource, error) {
	if version == "" {
		version = "dev"
	}
	detected, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithAttributes(
			semconv.ServiceName(cfg.ServiceName),
			semconv.ServiceVersion(version),
			semconv.ServiceInstanceID(instanceID()),
		),
	)
	if err != nil {
		// A detector that fails (no hostname) still leaves a usable resource.
		if detected == nil {
			return nil, fmt.Errorf("telemetry resource: %w", err)
		}
	}
	// Operator attributes win; service.name stays as resolved.
	attrs := append([]attribute.KeyValue(nil), cfg.ResourceAttributes...)
	attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	res, err := resource.Merge(detected, resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

// instanceID tells gateway replicas apart in metrics (service.instance.id).
func instanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
