package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedSets bounds each cache below: label values are bounded by
// configuration, except response models, which an upstream names; past the
// bound sets are built per measurement instead of remembered.
const maxCachedSets = 1024

// setCache remembers the measurement options (sorted, hashed attribute
// sets) of label combinations already seen, so that recording an attempt
// does not rebuild them every time.
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

// opKey identifies the labels of one attempt's duration and token usage.
type opKey struct {
	kind, model, target, responseModel, errorType string
}

// opSets are the options of gen_ai.client.operation.duration and of
// gen_ai.client.token.usage's input and output points.
type opSets struct {
	duration, input, output metric.MeasurementOption
}

func buildOpSets(k opKey) opSets {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		opChat,
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
		duration: metric.WithAttributeSet(attribute.NewSet(attrs...)),
		input:    metric.WithAttributeSet(attribute.NewSet(append(attrs[:n:n], tokenInput)...)),
		output:   metric.WithAttributeSet(attribute.NewSet(append(attrs[:n:n], tokenOutput)...)),
	}
}

// attemptKey identifies a keeptrusts.attempts point.
type attemptKey struct {
	target, outcome string
	skipped         bool
}

func buildAttemptSet(k attemptKey) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(labelTarget.String(k.target), labelOutcome.String(k.outcome), labelSkipped.Bool(k.skipped)))
}

// failoverKey identifies a keeptrusts.failovers point.
type failoverKey struct{ from, to, reason string }

func buildFailoverSet(k failoverKey) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(labelFrom.String(k.from), labelTo.String(k.to), labelReason.String(k.reason)))
}

// serverKey identifies the labels of the gateway-level request metrics.
type serverKey struct {
	requestedModel, model, errorType string
	stream                           bool
}

func buildServerSet(k serverKey) metric.MeasurementOption {
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, opChat, attrRequestModel.String(k.requestedModel))
	if k.model != "" {
		attrs = append(attrs, attrResponseModel.String(k.model))
	}
	if k.errorType != "" {
		attrs = append(attrs, attrErrorType.String(k.errorType))
	}
	if k.stream {
		attrs = append(attrs, attrRequestStream.Bool(true))
	}
	return metric.WithAttributeSet(attribute.NewSet(attrs...))
}

// requestsKey identifies a keeptrusts.requests point.
type requestsKey struct{ statusClass, provider string }

func buildRequestsSet(k requestsKey) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(labelStatusClass.String(k.statusClass), labelProvider.String(k.provider)))
}

// caches are the set caches of one Telemetry.
type caches struct {
	ops       setCache[opKey, opSets]
	attempts  setCache[attemptKey, metric.MeasurementOption]
	failovers setCache[failoverKey, metric.MeasurementOption]
	server    setCache[serverKey, metric.MeasurementOption]
	requests  setCache[requestsKey, metric.MeasurementOption]
	// overhead holds the two keeptrusts.gateway.overhead sets: [stream].
	overhead [2]metric.MeasurementOption
}

func newCaches() *caches {
	return &caches{overhead: [2]metric.MeasurementOption{
		metric.WithAttributeSet(attribute.NewSet(labelStream.Bool(false))),
		metric.WithAttributeSet(attribute.NewSet(labelStream.Bool(true))),
	}}
}
