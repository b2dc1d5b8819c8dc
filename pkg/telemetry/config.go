package telemetry

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keeptrusts/gateway/pkg/config"
)

// Exporter names, as OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and
// OTEL_LOGS_EXPORTER spell them.
const (
	ExporterOTLP       = "otlp"
	ExporterConsole    = "console"
	ExporterNone       = "none"
	ExporterPrometheus = "prometheus" // metrics only: enables the /metrics handler
)

// OTLP protocols.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Config is the runtime telemetry configuration: the file's telemetry
// section with the standard OTEL_* environment applied over it. Build it
// with NewConfig; tests may fill it in directly.
type Config struct {
	// Disabled makes every signal a no-op (telemetry.enabled: false or
	// OTEL_SDK_DISABLED=true).
	Disabled bool
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// ResourceAttributes come from OTEL_RESOURCE_ATTRIBUTES; they win over
	// the detected ones (host, process), service.name excepted.
	ResourceAttributes []attribute.KeyValue
	// Traces, Metrics and Logs say where each signal is exported.
	Traces, Metrics, Logs Export
	// Sampler decides which new traces are recorded; nil means
	// parent-based always-on. It sees no attributes for the request and
	// attempt spans: those get all theirs when they end, in one call,
	// which the SDK copies once, where attributes given at the start are
	// copied into the start options, into the span, and again into a
	// larger slice when the end adds its own (BenchmarkMiddleware: 37%
	// less CPU and memory for a recorded request span; nothing built at
	// all for one that is not recorded). None of the samplers the OTEL_*
	// variables name reads attributes.
	Sampler sdktrace.Sampler
	// ExemplarFilter decides which measurements keep an exemplar; nil means
	// trace_based (measurements made inside a sampled span) while spans are
	// recorded, and no exemplars when they are not (none could be kept:
	// this spares every measurement the filter and the reservoir).
	ExemplarFilter exemplar.Filter
	// MetricInterval is the push interval of exported metrics; 0 means 60s.
	MetricInterval time.Duration
	// SpanQueueSize bounds the spans waiting for export (beyond it they are
	// dropped) and SpanBatchSize is how many go in one export; 0 means
	// 4096 and 512 (OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE).
	SpanQueueSize, SpanBatchSize int
	// Prometheus enables the scrape handler (PrometheusHandler).
	Prometheus bool
	// TraceProbes records a span per health probe.
	TraceProbes bool
	// Targets maps target ids to their base URLs, for the server.address and
	// server.port attributes of attempt spans.
	Targets map[string]string
	// Console receives the console exporters' output; nil means os.Stdout.
	Console io.Writer

	// SpanProcessors receive spans in addition to the exporters (in-memory
	// recorders in tests, embedding); one turns tracing on even without an
	// exporter. MetricReaders and LogProcessors do the same for their signal.
	SpanProcessors []sdktrace.SpanProcessor
	// MetricReaders read the metrics in addition to the exporters.
	MetricReaders []metric.Reader
	// LogProcessors receive log records in addition to the exporters.
	LogProcessors []sdklog.Processor
}

// Export says where one signal goes.
type Export struct {
	// Exporters are the exporter names (otlp, console); empty means the
	// signal is not exported.
	Exporters []string
	// Protocol of the otlp exporter: grpc or http/protobuf.
	Protocol string
	// Endpoint is the otlp exporter's full URL (for http/protobuf including
	// the signal's path, e.g. http://collector:4318/v1/traces).
	Endpoint string
}

// has reports whether the signal is exported with the named exporter.
func (e Export) has(name string) bool { return slices.Contains(e.Exporters, name) }

// signal describes how one signal is named in the OTEL_* variables.
type signal struct {
	name string // TRACES, METRICS, LOGS
	path string // the OTLP/HTTP path
}

var (
	tracesSignal  = signal{"TRACES", "/v1/traces"}
	metricsSignal = signal{"METRICS", "/v1/metrics"}
	logsSignal    = signal{"LOGS", "/v1/logs"}
)

// NewConfig builds the runtime configuration from the loaded file and the
// environment (as os.Environ returns it; passed in so that tests control
// it). The OTEL_* variables win over the file: they are the standard
// operator override. It fails on OTEL_* values it cannot honour, such as an
// unknown exporter or sampler, rather than silently exporting nothing.
//
// A signal is exported when its OTEL_<SIGNAL>_EXPORTER names an exporter,
// or, when that is unset, when an OTLP endpoint is known: telemetry.endpoint,
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT. Logs
// also need telemetry.export_logs (or OTEL_LOGS_EXPORTER, or a logs
// endpoint), as the console already has them.
func NewConfig(f *config.File, environ []string) (Config, error) {
	env := envMap(environ)
	tc := f.Telemetry
	c := Config{
		Disabled:    !tc.IsEnabled() || strings.EqualFold(strings.TrimSpace(env["OTEL_SDK_DISABLED"]), "true"),
		ServiceName: tc.ServiceName,
		Prometheus:  tc.Prometheus.Enabled,
		TraceProbes: tc.TraceProbes,
		Targets:     make(map[string]string, len(f.Providers.Targets)),
	}
	for _, t := range f.Providers.Targets {
		c.Targets[t.ID] = t.BaseURL
	}
	if c.ServiceName == "" {
		c.ServiceName = config.DefaultServiceName
	}

	attrs, err := parseResourceAttributes(env["OTEL_RESOURCE_ATTRIBUTES"])
	if err != nil {
		return Config{}, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	// OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES,
	// which wins over the file.
	for _, kv := range attrs {
		if kv.Key == "service.name" {
			c.ServiceName = kv.Value.AsString()
			continue
		}
		c.ResourceAttributes = append(c.ResourceAttributes, kv)
	}
	if v := strings.TrimSpace(env["OTEL_SERVICE_NAME"]); v != "" {
		c.ServiceName = v
	}

	var errs []string
	for _, s := range []struct {
		sig    signal
		export *Export
		auto   bool // exported when an endpoint is known and no exporter named
	}{
		{tracesSignal, &c.Traces, true},
		{metricsSignal, &c.Metrics, true},
		{logsSignal, &c.Logs, tc.ExportLogs},
	} {
		e, err := resolveExport(s.sig, env, tc, s.auto)
		if err != nil {
			errs = append(errs, err.Error())
		}
		*s.export = e
	}
	if c.Metrics.has(ExporterPrometheus) {
		c.Prometheus = true
		c.Metrics.Exporters = slices.DeleteFunc(c.Metrics.Exporters, func(n string) bool { return n == ExporterPrometheus })
	}

	if c.Sampler, err = newSampler(env, tc.SampleRatio); err != nil {
		errs = append(errs, err.Error())
	}
	if c.ExemplarFilter, err = exemplarFilter(env["OTEL_METRICS_EXEMPLAR_FILTER"]); err != nil {
		errs = append(errs, err.Error())
	}
	c.MetricInterval = time.Duration(tc.MetricIntervalSeconds * float64(time.Second))
	if v := strings.TrimSpace(env["OTEL_METRIC_EXPORT_INTERVAL"]); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			errs = append(errs, fmt.Sprintf("OTEL_METRIC_EXPORT_INTERVAL: want a positive number of milliseconds, got %q", v))
		} else {
			c.MetricInterval = time.Duration(ms) * time.Millisecond
		}
	}
	for _, v := range []struct {
		name string
		to   *int
	}{{"OTEL_BSP_MAX_QUEUE_SIZE", &c.SpanQueueSize}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &c.SpanBatchSize}} {
		if s := strings.TrimSpace(env[v.name]); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Sprintf("%s: want a positive number, got %q", v.name, s))
				continue
			}
			*v.to = n
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("telemetry environment: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// resolveExport decides the exporters, protocol and endpoint of one signal.
func resolveExport(s signal, env map[string]string, tc config.Telemetry, auto bool) (Export, error) {
	var e Export
	key := "OTEL_" + s.name + "_EXPORTER"
	names, named := env[key]
	signalEndpoint := strings.TrimSpace(env["OTEL_EXPORTER_OTLP_"+s.name+"_ENDPOINT"])
	baseEndpoint := strings.TrimSpace(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
	if baseEndpoint == "" {
		baseEndpoint = tc.Endpoint
	}
	names = strings.TrimSpace(names)
	switch {
	case named && names != "":
		for _, n := range strings.Split(names, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			switch {
			case n == ExporterNone || n == "":
			case n == ExporterOTLP || n == ExporterConsole || (n == ExporterPrometheus && s == metricsSignal):
				if !slices.Contains(e.Exporters, n) {
					e.Exporters = append(e.Exporters, n)
				}
			default:
				want := "otlp, console or none"
				if s == metricsSignal {
					want = "otlp, prometheus, console or none"
				}
				return Export{}, fmt.Errorf("%s: unknown exporter %q (want %s)", key, n, want)
			}
		}
	case signalEndpoint != "" || (auto && baseEndpoint != ""):
		e.Exporters = []string{ExporterOTLP}
	}
	if !e.has(ExporterOTLP) {
		return e, nil
	}

	e.Protocol = strings.ToLower(strings.TrimSpace(env["OTEL_EXPORTER_OTLP_"+s.name+"_PROTOCOL"]))
	if e.Protocol == "" {
		e.Protocol = strings.ToLower(strings.TrimSpace(env["OTEL_EXPORTER_OTLP_PROTOCOL"]))
	}
	if e.Protocol == "" {
		e.Protocol = tc.Protocol
	}
	if e.Protocol == "" {
		e.Protocol = ProtocolHTTP
	}
	if e.Protocol != ProtocolGRPC && e.Protocol != ProtocolHTTP {
		return Export{}, fmt.Errorf("OTLP protocol for %s: unknown protocol %q (want grpc or http/protobuf)", strings.ToLower(s.name), e.Protocol)
	}

	insecure := func() bool {
		v := env["OTEL_EXPORTER_OTLP_"+s.name+"_INSECURE"]
		if v == "" {
			v = env["OTEL_EXPORTER_OTLP_INSECURE"]
		}
		return strings.EqualFold(strings.TrimSpace(v), "true")
	}
	switch {
	case signalEndpoint != "":
		// A signal's own endpoint is used as is (the spec: no path appended).
		e.Endpoint = withScheme(signalEndpoint, insecure())
	case baseEndpoint != "":
		e.Endpoint = withScheme(baseEndpoint, insecure())
		if e.Protocol == ProtocolHTTP {
			e.Endpoint = strings.TrimRight(e.Endpoint, "/") + s.path
		}
	case e.Protocol == ProtocolGRPC:
		e.Endpoint = "http://localhost:4317"
	default:
		e.Endpoint = "http://localhost:4318" + s.path
	}
	u, err := url.Parse(e.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		// The value may hold credentials: do not repeat it.
		return Export{}, fmt.Errorf("OTLP endpoint for %s is not an http:// or https:// URL", strings.ToLower(s.name))
	}
	return e, nil
}

// withScheme gives a schemeless endpoint (host:port) the scheme
// OTEL_EXPORTER_OTLP_INSECURE asks for: TLS unless insecure.
func withScheme(endpoint string, insecure bool) string {
	if strings.Contains(endpoint, "://") {
		return endpoint
	}
	if insecure {
		return "http://" + endpoint
	}
	return "https://" + endpoint
}

// newSampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, falling
// back to a parent-based ratio sampler at the file's sample_ratio. It is
// set explicitly so that the SDK does not read the process environment
// behind environ's back.
func newSampler(env map[string]string, ratio float64) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(env["OTEL_TRACES_SAMPLER"]))
	arg := strings.TrimSpace(env["OTEL_TRACES_SAMPLER_ARG"])
	ratioArg := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(r >= 0 && r <= 1) {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: want a ratio between 0 and 1, got %q", arg)
		}
		return r, nil
	}
	switch name {
	case "":
		if ratio >= 1 {
			return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratioArg()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: unsupported sampler %q (want always_on, always_off, traceidratio or their parentbased_ forms)", name)
}

// exemplarFilter reads OTEL_METRICS_EXEMPLAR_FILTER; nil means the default.
func exemplarFilter(v string) (exemplar.Filter, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return nil, nil
	case "trace_based":
		return exemplar.TraceBasedFilter, nil
	case "always_on":
		return exemplar.AlwaysOnFilter, nil
	case "always_off":
		return exemplar.AlwaysOffFilter, nil
	}
	return nil, fmt.Errorf("OTEL_METRICS_EXEMPLAR_FILTER: unknown filter %q (want trace_based, always_on or always_off)", v)
}

// envMap turns an os.Environ-style list into a map; the last entry wins,
// as it does in a process environment built by appending.
func envMap(environ []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			m[k] = v
		}
	}
	return m
}

// parseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES:
// key1=value1,key2=value2 with percent-encoded values. Empty members are
// ignored; a member without "=" or with an empty key is an error.
func parseResourceAttributes(s string) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for _, p := range strings.Split(s, ",") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("member %d is not key=value", len(attrs)+1)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", k, err)
		}
		attrs = append(attrs, attribute.String(k, val))
	}
	return attrs, nil
}

// serverAttrs turns a target's base URL into server.address and server.port.
func serverAttrs(baseURL string) []attribute.KeyValue {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil
	}
	host := u.Hostname()
	port := 0
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	} else if u.Scheme == "https" {
		port = 443
	} else if u.Scheme == "http" {
		port = 80
	}
	attrs := []attribute.KeyValue{attribute.String("server.address", host)}
	if port > 0 {
		attrs = append(attrs, attribute.Int("server.port", port))
	}
	return attrs
}
