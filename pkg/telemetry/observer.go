package telemetry

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/provider/kinds"
	"github.com/keeptrusts/gateway/pkg/router"
)

// observer is the router.Observer behind Telemetry.Observer.
type observer struct {
	t      *Telemetry
	client trace.SpanStartOption // SpanKindClient, built once
	// buildStart is buildStartOpts bound once, not per attempt.
	buildStart func(startKey) startOpts
	bufs       sync.Pool // *attrBuf
}

// attrBuf holds the attributes an attempt span ends with: its start
// attributes and what the attempt's end adds.
type attrBuf [24]attribute.KeyValue

func newObserver(t *Telemetry) *observer {
	o := &observer{t: t, client: trace.WithSpanKind(trace.SpanKindClient)}
	o.buildStart = o.buildStartOpts
	o.bufs.New = func() any { return new(attrBuf) }
	return o
}

// buildFinishReason is gen_ai.response.finish_reasons of one reason.
func buildFinishReason(r string) attribute.KeyValue {
	return attrFinishReasons.StringSlice([]string{r})
}

// attemptSpanKey marks the context StartAttempt returned, so that
// EndAttempt ends the attempt's span and never the request's.
type attemptSpanKey struct{}

// providerName maps a target kind onto gen_ai.provider.name, the kind's
// GenAIName: an OpenAI-compatible server speaks OpenAI (its kind stays in
// keeptrusts.target.kind). A kind not in the table (only tests build
// such targets) keeps its own name.
func providerName(kind string) string {
	if k, ok := kinds.Lookup(kind); ok {
		return k.GenAIName
	}
	return kind
}

// StartAttempt starts the attempt's CLIENT span at the attempt's start; the
// returned context carries it to the upstream request (see Transport). The
// span gets its attributes when it ends (see Config.Sampler).
func (o *observer) StartAttempt(ctx context.Context, a *router.Attempt) context.Context {
	t := o.t
	if a.Retry.N > 0 && t.metering {
		// Counted when the retry is sent, not when it ends (a streamed
		// retry may end minutes later).
		t.inst.retries.Add(ctx, 1, t.caches.retries.get(retryKey{target: a.Target, reason: string(a.Retry.Reason)}, buildRetrySet)...)
	}
	if !t.tracing {
		return ctx
	}
	so := o.startOpts(a)
	ctx, span := t.tracer.Start(ctx, so.name, o.client, trace.WithTimestamp(a.Start))
	return context.WithValue(ctx, attemptSpanKey{}, span)
}

// startOpts are the name and start attributes of a's span.
func (o *observer) startOpts(a *router.Attempt) startOpts {
	return o.t.caches.starts.get(startKey{api: a.API, route: a.Route, target: a.Target, kind: a.Kind, model: a.Model, n: a.N, stream: a.Stream}, o.buildStart)
}

// buildStartOpts builds an attempt span's name and start attributes.
func (o *observer) buildStartOpts(k startKey) startOpts {
	servers := o.t.serverAttrsOf(k.target)
	op := k.api.Operation()
	attrs := make([]attribute.KeyValue, 0, 8+len(servers))
	attrs = append(attrs,
		attrOperation.String(op),
		attrEndpoint.String(k.api.String()),
		attrProviderName.String(providerName(k.kind)),
		attrRequestModel.String(k.model),
		attrTargetID.String(k.target),
		attrTargetKind.String(k.kind),
		attrAttempt.Int(k.n),
	)
	if k.stream {
		attrs = append(attrs, attrRequestStream.Bool(true))
	}
	if k.route != "" {
		attrs = append(attrs, attrRoute.String(k.route))
	}
	attrs = append(attrs, servers...)
	// The GenAI convention's span name: "{gen_ai.operation.name} {model}".
	return startOpts{name: op + " " + k.model, attrs: attrs}
}

// EndAttempt ends the attempt's span at Start+Duration and records the
// attempt's metrics with the attempt's context, so that exemplars carry its
// trace. A skipped target gets its skip span instead.
func (o *observer) EndAttempt(ctx context.Context, a *router.Attempt) {
	t := o.t
	if a.Skipped {
		o.skip(ctx, a)
		return
	}
	failed := !a.Outcome.OK()
	if span, ok := ctx.Value(attemptSpanKey{}).(trace.Span); ok && span.IsRecording() {
		// The SDK copies the attributes: the buffer goes back to the pool.
		buf := o.bufs.Get().(*attrBuf)
		defer o.bufs.Put(buf)
		attrs := append(buf[:0], o.startOpts(a).attrs...)
		if a.ResponseModel != "" {
			attrs = append(attrs, attrResponseModel.String(a.ResponseModel))
		}
		if u := a.Usage; u.InputTokens > 0 || u.OutputTokens > 0 {
			attrs = append(attrs, attrInputTokens.Int64(u.InputTokens), attrOutputTokens.Int64(u.OutputTokens))
			if u.CacheReadTokens > 0 {
				attrs = append(attrs, attrCacheReadTokens.Int64(u.CacheReadTokens))
			}
			if u.CacheCreationTokens > 0 {
				attrs = append(attrs, attrCacheCreateTokens.Int64(u.CacheCreationTokens))
			}
		}
		switch len(a.FinishReasons) {
		case 0:
		case 1:
			attrs = append(attrs, t.caches.finish.get(a.FinishReasons[0], buildFinishReason))
		default:
			attrs = append(attrs, attrFinishReasons.StringSlice(a.FinishReasons))
		}
		if a.Outcome.Status != 0 {
			attrs = append(attrs, attrHTTPStatus.Int(a.Outcome.Status))
		}
		if r := a.Retry; r.N > 0 {
			attrs = append(attrs, attrRetry.Int(r.N), attrRetryReason.String(string(r.Reason)), attrRetryWait.Float64(r.Wait.Seconds()))
		}
		if len(a.DroppedParams) > 0 {
			attrs = append(attrs, attrDroppedParams.StringSlice(a.DroppedParams))
		}
		if len(a.MappedParams) > 0 {
			attrs = append(attrs, attrMappedParams.StringSlice(a.MappedParams))
		}
		if a.Stream && a.FirstByte > 0 {
			ttft := attrTimeToFirstChunk.Float64(a.FirstByte.Seconds())
			attrs = append(attrs, ttft)
			span.AddEvent(EventFirstToken, trace.WithTimestamp(a.Start.Add(a.FirstByte)), trace.WithAttributes(ttft))
		}
		if failed {
			reason := string(a.Outcome.Reason)
			attrs = append(attrs, attrErrorType.String(reason), attrFailureReason.String(reason))
			span.SetStatus(codes.Error, reason)
		}
		if sm := a.Seam; sm != nil {
			seam := seamAttrs(a)
			attrs = append(attrs, seam...)
			span.AddEvent(EventMidstream, trace.WithTimestamp(a.Start.Add(a.Duration)), trace.WithAttributes(seam...))
		}
		span.SetAttributes(attrs...)
		span.End(trace.WithTimestamp(a.Start.Add(a.Duration)))
	}
	if !t.metering {
		return
	}

	var errType string
	if failed {
		errType = string(a.Outcome.Reason)
	}
	c := t.caches
	sets := c.ops.get(opKey{api: a.API, kind: a.Kind, model: a.Model, target: a.Target, responseModel: a.ResponseModel, errorType: errType}, buildOpSets)
	in := t.inst
	in.opDuration.Record(ctx, a.Duration.Seconds(), sets.duration...)
	if u := a.Usage; u.InputTokens > 0 || u.OutputTokens > 0 {
		in.tokenUsage.Record(ctx, u.InputTokens, sets.input...)
		in.tokenUsage.Record(ctx, u.OutputTokens, sets.output...)
	}
	in.attempts.Add(ctx, 1, c.attempts.get(attemptKey{target: a.Target, outcome: outcome(a)}, buildAttemptSet)...)
	if sm := a.Seam; sm != nil && sm.Continuing {
		// Rare (a cut stream, continued): no cached attribute set.
		in.midstream.Add(ctx, 1, metric.WithAttributes(attribute.String("from", sm.From), attribute.String("to", a.Target), attribute.String("outcome", router.SeamOutcome(a.Outcome))))
	}
}

// seamAttrs are the keeptrusts.midstream.* attributes of an attempt on
// either side of a mid-stream continuation.
func seamAttrs(a *router.Attempt) []attribute.KeyValue {
	sm := a.Seam
	cause := string(sm.Interruption.Reason)
	if sm.Interruption.Detail != "" {
		cause = string(sm.Interruption.Detail)
	}
	role := "interrupted"
	attrs := []attribute.KeyValue{attrMidstreamFrom.String(sm.From), attrMidstreamTo.String(sm.To), attrMidstreamChars.Int(sm.Chars), attrMidstreamCause.String(cause)}
	if sm.Continuing {
		role = "continuation"
		attrs = append(attrs, attrMidstreamOutcome.String(router.SeamOutcome(a.Outcome)))
	}
	return append(attrs, attrMidstreamRole.String(role))
}

// skip records a target that was not tried.
func (o *observer) skip(ctx context.Context, a *router.Attempt) {
	t := o.t
	reason := string(a.Outcome.Reason)
	if t.tracing {
		_, span := t.tracer.Start(ctx, "skip "+a.Target,
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithTimestamp(a.Start),
			trace.WithAttributes(
				attrSkipped.Bool(true),
				attrTargetID.String(a.Target),
				attrTargetKind.String(a.Kind),
				attrAttempt.Int(a.N),
				attrFailureReason.String(reason),
				attrProviderName.String(providerName(a.Kind)),
				attrRequestModel.String(a.Model),
			))
		if a.Route != "" {
			span.SetAttributes(attrRoute.String(a.Route))
		}
		if u := a.Unsupported; u != nil {
			span.SetAttributes(attrUnsupportedParam.String(u.Param))
		}
		span.End(trace.WithTimestamp(a.Start))
	}
	if t.metering {
		t.inst.attempts.Add(ctx, 1, t.caches.attempts.get(attemptKey{target: a.Target, outcome: reason, skipped: true}, buildAttemptSet)...)
	}
}

// Failover records the move as a zero-length "failover" span under the
// request's span and counts it.
func (o *observer) Failover(ctx context.Context, f router.FailoverStep) {
	t := o.t
	reason := string(f.Reason)
	if t.tracing {
		_, span := t.tracer.Start(ctx, SpanFailover,
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(
				attrFailoverFrom.String(f.From),
				attrFailoverTo.String(f.To),
				attrFailoverReason.String(reason),
				attrFailoverFromModel.String(f.FromModel),
				attrFailoverToModel.String(f.ToModel),
				attrModelMappingApplied.Bool(f.FromModel != f.ToModel),
			))
		span.End()
	}
	if t.metering {
		t.inst.failovers.Add(ctx, 1, t.caches.failovers.get(failoverKey{from: f.From, to: f.To, reason: reason}, buildFailoverSet)...)
	}
}

// outcome is an attempt's outcome label: ok or the failure reason.
func outcome(a *router.Attempt) string {
	if a.Outcome.OK() {
		return "ok"
	}
	return string(a.Outcome.Reason)
}
