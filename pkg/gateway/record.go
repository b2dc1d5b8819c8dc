package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/policy"
	"github.com/keeptrusts/gateway/pkg/pricing"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/router"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// eventLog is the request event log: the store and its async writer.
type eventLog struct {
	store         events.Store
	writer        *events.Writer
	includeBodies bool
}

// openEventLog opens the configured store, or returns nil when events are off.
func openEventLog(c config.Events, logger *slog.Logger) (*eventLog, error) {
	if !c.IsEnabled() {
		return nil, nil
	}
	path := c.Path
	if path == "" {
		p, err := events.DefaultPath()
		if err != nil {
			return nil, fmt.Errorf("events.path: %w", err)
		}
		path = p
	}
	st, err := events.OpenSQLite(path, events.Retention{
		MaxAge:    time.Duration(c.RetentionDays * float64(24*time.Hour)),
		MaxEvents: c.MaxEvents,
	})
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	w := events.NewWriter(st, events.WriterOptions{Logger: logger.With("component", "events")})
	return &eventLog{store: st, writer: w, includeBodies: c.IncludeBodies}, nil
}

// close flushes pending events and closes the store.
func (l *eventLog) close(ctx context.Context) error {
	if l == nil {
		return nil
	}
	return errors.Join(l.writer.Close(ctx), l.store.Close())
}

// record is everything known about one client request, filled in as it is
// handled; finishRecord turns it into the request's one event and its
// gateway-level metrics.
type record struct {
	start          time.Time
	reqID          string
	requestedModel string
	route          string // the route's model pattern; "" for the implicit route
	unrouted       bool   // no route matched the requested model
	stream         bool
	status         int
	errCode        string
	provider       string
	model          string
	usage          provider.Usage
	failover       router.Failover
	attempts       []router.Attempt
	seam           *router.Seam // a mid-stream continuation's, if any
	policies       []policy.Result
	ttft           time.Duration
	reqBody        []byte
	respBody       []byte
	team           string
	keyName        string
	prices         *pricing.Table // of the runtime that served the request

	// api is the API the request was made to (its zero value is chat):
	// the event's endpoint and the metrics' operation.
	api provider.API
	// responseID is the id of a Responses API answer (resp_...): the
	// event records it and, with a 2xx status, rememberResponse keeps
	// which target holds it.
	responseID string
}

// finishRecord writes the request's event (off the request path: the
// writer batches) and records its metrics. Every request gets exactly one.
func (g *Gateway) finishRecord(ctx context.Context, rec *record) {
	total := time.Since(rec.start)
	var upstream time.Duration
	for _, a := range rec.attempts {
		if !a.Skipped {
			upstream += a.Duration
		}
	}
	prices := rec.prices
	if prices == nil {
		prices = g.rt.Load().prices
	}
	cost, _ := prices.Cost(rec.model, pricing.Usage(rec.usage))
	if rec.team != "" {
		g.limits.Charge(rec.team, rec.usage.InputTokens+rec.usage.OutputTokens, cost, time.Now())
	}
	if g.events != nil {
		traceID := ""
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			traceID = sc.TraceID().String()
		}
		ev := events.Event{
			ID:               events.NewID(),
			Timestamp:        rec.start.UTC(),
			RequestID:        rec.reqID,
			Endpoint:         rec.api.String(),
			ResponseID:       rec.responseID,
			Team:             rec.team,
			KeyName:          rec.keyName,
			TraceID:          traceID,
			Provider:         rec.provider,
			Model:            rec.model,
			RequestedModel:   rec.requestedModel,
			Route:            rec.route,
			Status:           rec.status,
			LatencyMS:        ms(total),
			GatewayLatencyMS: ms(max(total-upstream, 0)),
			Stream:           rec.stream,
			Failover:         events.Failover{Triggered: rec.failover.Triggered, OriginalProvider: rec.failover.OriginalProvider, Reason: string(rec.failover.Reason)},
			Attempts:         eventAttempts(rec.attempts),
			DroppedParams:    paramsOf(rec.attempts, func(a *router.Attempt) []string { return a.DroppedParams }),
			MappedParams:     paramsOf(rec.attempts, func(a *router.Attempt) []string { return a.MappedParams }),
			Usage: events.Usage{InputTokens: rec.usage.InputTokens, OutputTokens: rec.usage.OutputTokens,
				TotalTokens: rec.usage.InputTokens + rec.usage.OutputTokens, CacheReadTokens: rec.usage.CacheReadTokens,
				CacheCreationTokens: rec.usage.CacheCreationTokens},
			CostUSD:   cost,
			Policies:  eventPolicies(rec.policies),
			Error:     rec.errCode,
			Midstream: eventMidstream(rec.seam, rec.attempts),
		}
		if g.events.includeBodies {
			ev.RequestBody, ev.ResponseBody = rec.reqBody, rec.respBody
		}
		if !g.events.writer.Enqueue(ev) {
			g.logger.WarnContext(ctx, "event queue full: event dropped", "request_id", rec.reqID)
		}
	}
	if rec.responseID != "" && rec.provider != "" && rec.status >= 200 && rec.status < 300 {
		// Before the event reaches the store (the writer batches): a
		// follow-up naming the answer may come at once.
		g.rememberResponse(rec.responseID, rec.provider)
	}
	g.tel.RecordRequest(ctx, telemetry.Request{
		API:              rec.api,
		Provider:         rec.provider,
		RequestedModel:   rec.requestedModel,
		Route:            rec.route,
		Unrouted:         rec.unrouted,
		Model:            rec.model,
		Status:           rec.status,
		Stream:           rec.stream,
		Duration:         total,
		UpstreamTime:     upstream,
		TimeToFirstToken: rec.ttft,
		CostUSD:          cost,
		PolicyHits:       policyHits(rec.policies),
		ErrorType:        rec.errCode,
		Team:             rec.team,
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func eventAttempts(as []router.Attempt) []events.Attempt {
	out := make([]events.Attempt, len(as))
	for i, a := range as {
		out[i] = events.Attempt{Target: a.Target, Model: a.Model, Outcome: outcomeName(a), Status: a.Outcome.Status,
			Skipped: a.Skipped, Retry: a.Retry.N, DurationMS: ms(a.Duration), DroppedParams: a.DroppedParams, MappedParams: a.MappedParams}
	}
	return out
}

// paramsOf is every entry of some attempt's list (its dropped or mapped
// fields), each once, in the order first seen.
func paramsOf(as []router.Attempt, list func(*router.Attempt) []string) []string {
	var out []string
	for i := range as {
		for _, p := range list(&as[i]) {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func outcomeName(a router.Attempt) string {
	if a.Outcome.OK() {
		return "ok"
	}
	return string(a.Outcome.Reason)
}

func eventPolicies(rs []policy.Result) []events.PolicyResult {
	if len(rs) == 0 {
		return nil
	}
	out := make([]events.PolicyResult, len(rs))
	for i, r := range rs {
		out[i] = events.PolicyResult{Name: r.Policy, Type: r.Type, Action: string(r.Action), Outcome: r.Outcome, Categories: r.Categories}
	}
	return out
}

func policyHits(rs []policy.Result) []telemetry.PolicyHit {
	var hits []telemetry.PolicyHit
	for _, r := range rs {
		for _, c := range r.Categories {
			hits = append(hits, telemetry.PolicyHit{Policy: r.Policy, Category: c, Action: string(r.Action)})
		}
	}
	return hits
}

// statusClientClosed is the status recorded when the client went away
// before the answer (nginx's 499).
const statusClientClosed = 499

// errorCodeOf is the event's error code for an HTTP error answer.
func errorCodeOf(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	default:
		return provider.ErrorTypeForStatus(status)
	}
}

// eventMidstream is the event's record of a mid-stream continuation: where
// the answer was joined and how the continuation ended.
func eventMidstream(seam *router.Seam, as []router.Attempt) *events.Midstream {
	if seam == nil {
		return nil
	}
	m := &events.Midstream{From: seam.From, To: seam.To, Chars: seam.Chars, Interruption: string(seam.Interruption.Reason), Outcome: "not_attempted"}
	if seam.Interruption.Detail != "" {
		m.Interruption = string(seam.Interruption.Detail)
	}
	for i := len(as) - 1; i >= 0; i-- {
		if a := as[i]; a.Seam != nil && a.Seam.Continuing {
			m.To = a.Target
			m.Outcome = router.SeamOutcome(a.Outcome)
			break
		}
	}
	return m
}
