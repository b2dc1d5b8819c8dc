// Package telemetry sets up OpenTelemetry for the gateway and records what
// makes failover visible: a server span per HTTP request (otelhttp's, or
// for the POSTs that carry the load a lean equivalent; see server.go), one
// CLIENT span per upstream attempt in the GenAI semantic conventions
// ("chat {model}"), a span per failover, metrics per attempt, per request,
// per probe and per target, and trace ids on log records.
//
// Configuration comes from the file's telemetry section with the standard
// OTEL_* variables over it (the operator's override wins; see NewConfig).
// With nothing configured no exporter is built: the tracer provider is a
// no-op and there is no meter provider, so the request path pays next to
// nothing. OTEL_SDK_DISABLED=true (or telemetry.enabled: false) turns
// everything off, the Prometheus endpoint included.
//
// Decisions, also written down in docs/telemetry.md:
//   - A failover is a span of its own, named "failover" (kind INTERNAL, zero
//     length, a child of the request's span, between the attempt it leaves
//     and the one it moves to), so that it can be searched for and counted
//     in any trace backend; keeptrusts.failovers counts the same moves.
//   - A skipped target (circuit open, unhealthy, in a Retry-After cooldown)
//     is a zero-length INTERNAL span "skip {target}" with
//     keeptrusts.skipped=true and the reason, not a CLIENT span: no request
//     was sent.
//   - A stream's first event is the span event "gen_ai.first_token" on its
//     attempt span, at the time it arrived.
//   - The attempt span is the CLIENT span: Transport only injects its
//     context into the upstream request and creates no span of its own.
//
// Telemetry never blocks a request: spans and log records go through batch
// processors with bounded queues that drop when full, metrics aggregate in
// memory and are pushed by a periodic reader or pulled by Prometheus.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/keeptrusts/gateway/pkg/router"
)

// scope is the instrumentation scope name of everything recorded here.
const scope = "github.com/keeptrusts/gateway"

// defaultMetricInterval is the OTel default push interval.
const defaultMetricInterval = 60 * time.Second

// Telemetry holds the providers, instruments and propagator built by Setup.
// Its methods are safe for concurrent use. A nil *Telemetry is valid and
// records nothing, so callers need no special case when telemetry is off.
type Telemetry struct {
	cfg      Config
	version  string
	tracing  bool // a real tracer provider exists
	metering bool // a real meter provider exists
	tp       trace.TracerProvider
	tracer   trace.Tracer
	mp       metric.MeterProvider
	meter    metric.Meter
	lp       log.LoggerProvider // nil unless logs are exported
	prop     propagation.TextMapPropagator
	prom     http.Handler
	inst     *instruments
	caches   *caches
	// servers holds each target's server.address/server.port attributes;
	// replaced whole by SetTargets on a configuration reload.
	servers  atomic.Pointer[map[string][]attribute.KeyValue]
	observer router.Observer
	shutdown func(context.Context) error
}

// Setup builds the telemetry cfg describes. version becomes service.version.
// Shutdown must be called to flush and stop the exporters.
func Setup(ctx context.Context, cfg Config, version string) (*Telemetry, error) {
	t := &Telemetry{
		cfg:      cfg,
		version:  version,
		tp:       tracenoop.NewTracerProvider(),
		mp:       metricnoop.NewMeterProvider(),
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown: func(context.Context) error { return nil },
	}
	if !cfg.Disabled {
		res, err := newResource(ctx, cfg, version)
		if err != nil {
			return nil, err
		}
		p, shutdown, err := setupOTelSDK(ctx, cfg, res)
		if err != nil {
			return nil, fmt.Errorf("set up telemetry: %w", err)
		}
		t.shutdown = shutdown
		if p.tracer != nil {
			t.tp, t.tracing = p.tracer, true
		}
		if p.meter != nil {
			t.mp, t.metering = p.meter, true
		}
		if p.logger != nil {
			t.lp = p.logger
		}
		if p.prometheus != nil {
			t.prom = promhttp.HandlerFor(p.prometheus, promhttp.HandlerOpts{})
		}
	}
	t.tracer = t.tp.Tracer(scope, trace.WithInstrumentationVersion(version))
	t.meter = t.mp.Meter(scope, metric.WithInstrumentationVersion(version))
	inst, err := newInstruments(t.meter)
	if err != nil {
		return nil, fmt.Errorf("set up telemetry: %w", err)
	}
	t.inst = inst
	t.caches = newCaches()
	t.SetTargets(cfg.Targets)
	if t.tracing || t.metering {
		t.observer = newObserver(t)
	} else {
		t.observer = nopObserver{}
	}
	return t, nil
}

// SetTargets replaces the target ids → base URLs the server.address and
// server.port attributes of attempt and probe spans come from (Config.Targets
// at start-up; the gateway calls it when a reload changes the targets).
func (t *Telemetry) SetTargets(targets map[string]string) {
	if t == nil {
		return
	}
	servers := make(map[string][]attribute.KeyValue, len(targets))
	for id, u := range targets {
		servers[id] = serverAttrs(u)
	}
	t.servers.Store(&servers)
	if t.caches != nil {
		// Cached attempt-span options hold the old attributes.
		t.caches.starts.reset()
	}
}

// serverAttrsOf returns a target's server.address and server.port attributes.
func (t *Telemetry) serverAttrsOf(id string) []attribute.KeyValue {
	if m := t.servers.Load(); m != nil {
		return (*m)[id]
	}
	return nil
}

// Shutdown flushes what is buffered and stops the exporters; ctx bounds how
// long it may take. It is safe to call more than once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Tracer returns the gateway's tracer, for spans recorded elsewhere (policies).
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil {
		return tracenoop.NewTracerProvider().Tracer(scope)
	}
	return t.tracer
}

// Observer returns the router.Observer that records attempts, skips and
// failovers as spans and metrics; a no-op when neither is on.
func (t *Telemetry) Observer() router.Observer {
	if t == nil {
		return nopObserver{}
	}
	return t.observer
}

// PrometheusHandler serves the metrics in the Prometheus text format, or is
// nil when the scrape endpoint is not enabled (telemetry.prometheus.enabled
// or OTEL_METRICS_EXPORTER=prometheus).
func (t *Telemetry) PrometheusHandler() http.Handler {
	if t == nil {
		return nil
	}
	return t.prom
}

// Propagator returns the W3C trace context and baggage propagator used on
// the way in (Middleware) and out (Transport).
func (t *Telemetry) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.prop
}

// nopObserver records nothing: telemetry is off.
type nopObserver struct{}

func (nopObserver) StartAttempt(ctx context.Context, _ *router.Attempt) context.Context { return ctx }
func (nopObserver) EndAttempt(context.Context, *router.Attempt)                         {}
func (nopObserver) Failover(context.Context, router.FailoverStep)                       {}

// TraceID returns the trace id of the span in ctx as 32 hex digits, or ""
// when there is none: what events record as trace_id, equal to the id in
// the response's traceparent.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// ErrorHandler returns an otel.ErrorHandler that reports the SDK's own
// failures (an unreachable collector, a full queue) through logger at warn
// level instead of the standard library's log. It is not installed here:
// otel.SetErrorHandler is process-wide, for the process's wiring to call.
func ErrorHandler(logger *slog.Logger) otel.ErrorHandler {
	return otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("telemetry export failed", "error", err)
	})
}
