package telemetry

import (
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// maxCachedSets bounds each cache below: label values are bounded by
// configuration, except response models, which an upstream names; past the
// bound sets are built per measurement instead of remembered.
const maxCachedSets = 1024

// setCache remembers the measurement options (sorted, hashed attribute
// sets) of label combinations already seen, so that recording an attempt
// does not rebuild them every time. The options are kept as the one-element
// slices Record and Add take: passing a kept slice with opts... allocates
// nothing, while passing one option builds a new variadic slice that
// escapes into the SDK on every measurement.
type setCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// get returns the value for k, building it with build on a miss.
func (c *setCache[K, V]) get(k K, build func(K) V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = build(k)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[K]V)
	}
	if len(c.m) < maxCachedSets {
		c.m[k] = v
	}
	c.mu.Unlock()
	return v
}

// reset drops every cached value.
func (c *setCache[K, V]) reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// opKey identifies the labels of one attempt's duration and token usage.
type opKey struct {
	api                                           provider.API
	kind, model, target, responseModel, errorType string
}

// opSets are the options of gen_ai.client.operation.duration and of
// gen_ai.client.token.usage's input and output points.
type opSets struct {
	duration, input, output []metric.RecordOption
}

func buildOpSets(k opKey) opSets {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		attrOperation.String(k.api.Operation()),
		attrProviderName.String(providerName(k.kind)),
		attrRequestModel.String(k.model),
		attrTargetID.String(k.target),
	)
	if k.responseModel != "" {
		attrs = append(attrs, attrResponseModel.String(k.responseModel))
	}
	if k.errorType != "" {
		attrs = append(attrs, attrErrorType.String(k.errorType))
	}
	n := len(attrs)
	return opSets{
		duration: recordSet(attrs...),
		input:    recordSet(append(attrs[:n:n], tokenInput)...),
		output:   recordSet(append(attrs[:n:n], tokenOutput)...),
	}
}

// attemptKey identifies a keeptrusts.attempts point.
type attemptKey struct {
	target, outcome string
	skipped         bool
}

func buildAttemptSet(k attemptKey) []metric.AddOption {
	return addSet(labelTarget.String(k.target), labelOutcome.String(k.outcome), labelSkipped.Bool(k.skipped))
}

// failoverKey identifies a keeptrusts.failovers point.
type failoverKey struct{ from, to, reason string }

func buildFailoverSet(k failoverKey) []metric.AddOption {
	return addSet(labelFrom.String(k.from), labelTo.String(k.to), labelReason.String(k.reason))
}

// retryKey identifies a keeptrusts.retries point: the target retried and
// the failure that was repeated.
type retryKey struct{ target, reason string }

func buildRetrySet(k retryKey) []metric.AddOption {
	return addSet(labelTarget.String(k.target), labelReason.String(k.reason))
}

// serverKey identifies the labels of the gateway-level request metrics.
type serverKey struct {
	api                                     provider.API
	route, requestedModel, model, errorType string
	// errStatus is the HTTP status that is error.type when errorType is "".
	errStatus int
	stream    bool
	// unrouted leaves gen_ai.request.model out (see Request.Unrouted).
	unrouted bool
}

func buildServerSet(k serverKey) []metric.RecordOption {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, attrOperation.String(k.api.Operation()), attrEndpoint.String(k.api.String()))
	if !k.unrouted {
		attrs = append(attrs, attrRequestModel.String(k.requestedModel))
	}
	if k.model != "" {
		attrs = append(attrs, attrResponseModel.String(k.model))
	}
	switch {
	case k.errorType != "":
		attrs = append(attrs, attrErrorType.String(k.errorType))
	case k.errStatus != 0:
		attrs = append(attrs, attrErrorType.String(strconv.Itoa(k.errStatus)))
	}
	if k.stream {
		attrs = append(attrs, attrRequestStream.Bool(true))
	}
	if k.route != "" {
		attrs = append(attrs, attrRoute.String(k.route))
	}
	return recordSet(attrs...)
}

// requestsKey identifies a keeptrusts.requests point.
// team is "" when auth is off: the label is then left out.
type requestsKey struct {
	api                         provider.API
	statusClass, provider, team string
}

func buildRequestsSet(k requestsKey) []metric.AddOption {
	return addSet(withTeam(k.team, labelEndpoint.String(k.api.String()), labelStatusClass.String(k.statusClass), labelProvider.String(k.provider))...)
}

// costKey identifies a keeptrusts.cost point.
type costKey struct{ provider, model, team string }

func buildCostSet(k costKey) []metric.AddOption {
	return addSet(withTeam(k.team, labelProvider.String(k.provider), labelModel.String(k.model))...)
}

// limitKey identifies a keeptrusts.limit.rejections point.
type limitKey struct{ team, reason string }

func buildLimitSet(k limitKey) []metric.AddOption {
	return addSet(labelTeam.String(k.team), labelReason.String(k.reason))
}

// withTeam adds the team label when there is a team. Teams come from the
// configuration (a request's key), so the label's values are bounded.
func withTeam(team string, attrs ...attribute.KeyValue) []attribute.KeyValue {
	if team != "" {
		attrs = append(attrs, labelTeam.String(team))
	}
	return attrs
}

func buildPolicySet(h PolicyHit) []metric.AddOption {
	return addSet(labelPolicy.String(h.Policy), labelCategory.String(h.Category), labelAction.String(h.Action))
}

// startKey identifies what an attempt span starts with: its name and
// attributes depend on nothing else.
type startKey struct {
	api                 provider.API
	route               string
	target, kind, model string
	n                   int
	stream              bool
}

// startOpts are an attempt span's name and start attributes, built once
// per combination instead of every time.
type startOpts struct {
	name  string
	attrs []attribute.KeyValue
}

// caches are the set caches of one Telemetry.
type caches struct {
	ops       setCache[opKey, opSets]
	attempts  setCache[attemptKey, []metric.AddOption]
	failovers setCache[failoverKey, []metric.AddOption]
	retries   setCache[retryKey, []metric.AddOption]
	server    setCache[serverKey, []metric.RecordOption]
	requests  setCache[requestsKey, []metric.AddOption]
	cost      setCache[costKey, []metric.AddOption]
	policies  setCache[PolicyHit, []metric.AddOption]
	limits    setCache[limitKey, []metric.AddOption]
	starts    setCache[startKey, startOpts]
	// finish holds gen_ai.response.finish_reasons of single reasons
	// ("stop", "length"), which StringSlice would otherwise copy per attempt.
	finish setCache[string, attribute.KeyValue]
	// overhead holds the two keeptrusts.gateway.overhead sets: [stream].
	overhead [2][]metric.RecordOption
}

func newCaches() *caches {
	return &caches{overhead: [2][]metric.RecordOption{
		recordSet(labelStream.Bool(false)),
		recordSet(labelStream.Bool(true)),
	}}
}

// recordSet is the options of a Record with the attribute set of attrs.
func recordSet(attrs ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}

// addSet is the options of an Add with the attribute set of attrs.
func addSet(attrs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}
