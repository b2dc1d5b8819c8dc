package telemetry

import (
	"context"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// Request is what the gateway knows about one request once it has been
// answered (a stream: once it ended).
type Request struct {
	// API is the API the request was made to: it gives the gateway-level
	// metrics gen_ai.operation.name (API.Operation) and the endpoint
	// (keeptrusts.endpoint on gen_ai.server.*, endpoint on
	// keeptrusts.requests). The zero value is chat.
	API provider.API
	// Provider is the id of the target that answered, "" if none did.
	Provider string
	// RequestedModel is the model the client asked for.
	RequestedModel string
	// Route is the configured route that served the request ("" without
	// routes); it labels gen_ai.server.request.duration as keeptrusts.route.
	// Only route names from the configuration may be passed, so that the
	// label's values stay bounded.
	Route string
	// Unrouted marks a request whose model no configured route matches (404
	// model_not_found): RequestedModel is then left off the metrics, so that
	// names clients make up add no label values.
	Unrouted bool
	// Model is the model that answered, "" if none did.
	Model string
	// Status is the HTTP status sent to the client.
	Status int
	// Stream marks a streaming request.
	Stream bool
	// Duration from the request's arrival to its last byte.
	Duration time.Duration
	// UpstreamTime is the time spent waiting on providers (all attempts).
	UpstreamTime time.Duration
	// TimeToFirstToken is a stream's time from arrival to its first event
	// sent to the client; 0 if none was sent.
	TimeToFirstToken time.Duration
	// CostUSD is the estimated cost of the answer, 0 if unknown.
	CostUSD float64
	// PolicyHits are the policies that matched.
	PolicyHits []PolicyHit
	// ErrorType is the failure when the request failed: a failure reason
	// (upstream_error ...), client_error, or similar; "" on success. With
	// Status ≥ 400 and no ErrorType the status code is used.
	ErrorType string
	// Team of the gateway key that made the request; "" when auth is off.
	// It labels keeptrusts.requests and keeptrusts.cost.
	Team string
}

// PolicyHit is one policy match.
type PolicyHit struct {
	// Policy name, Category matched and Action taken (flag, block, redact).
	Policy, Category, Action string
}

// RecordRequest records the gateway-level metrics of one request, labelled
// with its operation and endpoint:
// gen_ai.server.request.duration, gen_ai.server.time_to_first_token
// (streams), keeptrusts.requests, keeptrusts.gateway.overhead,
// keeptrusts.cost and keeptrusts.policy.hits. Pass the request's context so
// that exemplars link to its trace.
func (t *Telemetry) RecordRequest(ctx context.Context, r Request) {
	if t == nil || !t.metering {
		return
	}
	in, c := t.inst, t.caches
	k := serverKey{api: r.API, route: r.Route, requestedModel: r.RequestedModel, model: r.Model, errorType: r.ErrorType, stream: r.Stream}
	if r.Unrouted {
		k.route, k.requestedModel, k.unrouted = "", "", true
	}
	if k.errorType == "" && r.Status >= 400 {
		// The status code stands in; spelt out only when the set is built.
		k.errStatus = r.Status
	}
	opt := c.server.get(k, buildServerSet)
	in.serverDuration.Record(ctx, r.Duration.Seconds(), opt...)
	if r.Stream && r.TimeToFirstToken > 0 {
		in.serverTTFT.Record(ctx, r.TimeToFirstToken.Seconds(), opt...)
	}

	provider := r.Provider
	if provider == "" {
		provider = "none"
	}
	in.requests.Add(ctx, 1, c.requests.get(requestsKey{api: r.API, statusClass: statusClass(r.Status), provider: provider, team: r.Team}, buildRequestsSet)...)
	stream := 0
	if r.Stream {
		stream = 1
	}
	in.overhead.Record(ctx, max(r.Duration-r.UpstreamTime, 0).Seconds(), c.overhead[stream]...)
	if r.CostUSD > 0 {
		model := r.Model
		if model == "" && !r.Unrouted {
			model = r.RequestedModel
		}
		in.cost.Add(ctx, r.CostUSD, c.cost.get(costKey{provider: provider, model: model, team: r.Team}, buildCostSet)...)
	}
	for _, h := range r.PolicyHits {
		in.policyHits.Add(ctx, 1, c.policies.get(h, buildPolicySet)...)
	}
}

// RecordLimit counts a request refused by team's rate limit or budget
// (keeptrusts.limit.rejections; reason: requests, tokens, daily_budget,
// monthly_budget).
func (t *Telemetry) RecordLimit(ctx context.Context, team, reason string) {
	if t == nil || !t.metering {
		return
	}
	t.inst.limitRejects.Add(ctx, 1, t.caches.limits.get(limitKey{team: team, reason: reason}, buildLimitSet)...)
}

// statusClass is "2xx" ... "5xx", or "other"; constants, so that naming
// one builds no string per request.
func statusClass(code int) string {
	switch code / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "other"
}
