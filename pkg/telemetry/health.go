package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/router"
)

// WrapProbe returns c recording keeptrusts.probe.duration and
// keeptrusts.probe.failures {target} per probe, and, when Config.TraceProbes
// is set, a CLIENT span "probe {target}" (whose context Transport carries to
// the upstream). A probe cut short by shutdown is not recorded.
func (t *Telemetry) WrapProbe(targetID, kind string, c health.Check) health.Check {
	spans := t != nil && t.tracing && t.cfg.TraceProbes
	if t == nil || (!t.metering && !spans) {
		return c
	}
	name := "probe " + targetID
	set := metric.WithAttributeSet(attribute.NewSet(labelTarget.String(targetID)))
	spanAttrs := append([]attribute.KeyValue{
		attrTargetID.String(targetID),
		attrTargetKind.String(kind),
		attrProviderName.String(providerName(kind)),
	}, t.serverAttrsOf(targetID)...)
	return func(ctx context.Context) error {
		start := time.Now()
		var span trace.Span
		sctx := ctx
		if spans {
			sctx, span = t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(spanAttrs...))
		}
		err := c(sctx)
		took := time.Since(start)
		if span != nil {
			if err != nil {
				et := probeErrorType(ctx)
				span.SetAttributes(attrErrorType.String(et))
				span.SetStatus(codes.Error, et)
			}
			span.End()
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			// Shutting down: says nothing about the provider.
			return err
		}
		if t.metering {
			t.inst.probeDuration.Record(ctx, took.Seconds(), set)
			if err != nil {
				t.inst.probeFailures.Add(ctx, 1, set)
			}
		}
		return err
	}
}

// probeErrorType is error.type of a failed probe: a timeout, or any other
// failure (the check's error text is not bounded enough for an attribute).
func probeErrorType(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return string(classify.UpstreamTimeout)
	}
	return "probe_failed"
}

// TargetState is one target's health as the gauges report it.
type TargetState struct {
	// ID and Kind of the target.
	ID, Kind string
	// Healthy is the verdict /health shows.
	Healthy bool
	// Circuit is the breaker state: 0 closed, 1 half-open, 2 open, -1 disabled.
	Circuit int64
}

// TargetStates returns a reader of the targets' current states, for
// ObserveTargets.
func TargetStates(targets []*router.Target) func() []TargetState {
	return func() []TargetState {
		out := make([]TargetState, 0, len(targets))
		for _, rt := range targets {
			out = append(out, TargetState{
				ID:      rt.ID,
				Kind:    rt.Adapter.Kind(),
				Healthy: rt.Health.Snapshot().Healthy,
				Circuit: rt.Health.BreakerStateValue(),
			})
		}
		return out
	}
}

// ObserveTargets registers the observable gauges keeptrusts.provider.health
// (1 healthy, 0 not) and keeptrusts.circuit.state {target}; targets is read
// at each collection, never on the request path. Without metrics it does
// nothing.
func (t *Telemetry) ObserveTargets(targets func() []TargetState) error {
	if t == nil || !t.metering {
		return nil
	}
	// Annotation units: a plain "1" would make Prometheus append _ratio.
	healthG, err := t.meter.Int64ObservableGauge(MetricProviderHealth, metric.WithUnit("{status}"),
		metric.WithDescription("1 when the target is healthy, 0 when it is not (as /health reports it)."))
	if err != nil {
		return fmt.Errorf("%s: %w", MetricProviderHealth, err)
	}
	circuitG, err := t.meter.Int64ObservableGauge(MetricCircuitState, metric.WithUnit("{state}"),
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open, -1 disabled."))
	if err != nil {
		return fmt.Errorf("%s: %w", MetricCircuitState, err)
	}
	_, err = t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range targets() {
			set := metric.WithAttributeSet(attribute.NewSet(labelTarget.String(s.ID)))
			h := int64(0)
			if s.Healthy {
				h = 1
			}
			o.ObserveInt64(healthG, h, set)
			o.ObserveInt64(circuitG, s.Circuit, set)
		}
		return nil
	}, healthG, circuitG)
	if err != nil {
		return fmt.Errorf("register target gauges: %w", err)
	}
	return nil
}
