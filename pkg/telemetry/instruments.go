package telemetry

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. The gen_ai.* ones follow the OpenTelemetry GenAI semantic
// conventions; the keeptrusts.* ones are the gateway's own. docs/telemetry.md
// lists their attributes and units; Prometheus shows them with dots turned
// into underscores, the unit appended (_seconds) and _total on counters.
const (
	MetricClientOperationDuration = "gen_ai.client.operation.duration"
	MetricClientTokenUsage        = "gen_ai.client.token.usage"
	MetricServerRequestDuration   = "gen_ai.server.request.duration"
	MetricServerTimeToFirstToken  = "gen_ai.server.time_to_first_token"
	MetricAttempts                = "keeptrusts.attempts"
	MetricFailovers               = "keeptrusts.failovers"
	MetricRetries                 = "keeptrusts.retries"
	// MetricMidstreamContinuations counts mid-stream continuations by
	// from, to and outcome (ok, refused, or the continuation's failure).
	MetricMidstreamContinuations = "keeptrusts.midstream.continuations"
	MetricRequests               = "keeptrusts.requests"
	MetricGatewayOverhead        = "keeptrusts.gateway.overhead"
	MetricCost                   = "keeptrusts.cost"
	MetricPolicyHits             = "keeptrusts.policy.hits"
	MetricLimitRejections        = "keeptrusts.limit.rejections"
	MetricProbeDuration          = "keeptrusts.probe.duration"
	MetricProbeFailures          = "keeptrusts.probe.failures"
	MetricProviderHealth         = "keeptrusts.provider.health"
	MetricCircuitState           = "keeptrusts.circuit.state"
)

// Span names that are not derived from a model or a route.
const (
	SpanFailover = "failover"
	// EventFirstToken marks a streaming attempt's first event.
	EventFirstToken = "gen_ai.first_token"
	// EventMidstream marks, on both attempts' spans, where a mid-stream
	// continuation joined them (keeptrusts.midstream.* attributes).
	EventMidstream = "keeptrusts.midstream"
)

// Attribute keys: GenAI semantic conventions (spelled out rather than taken
// from a semconv package, which dropped gen_ai.* in v1.42), then ours.
const (
	attrOperation         = attribute.Key("gen_ai.operation.name")
	attrProviderName      = attribute.Key("gen_ai.provider.name")
	attrRequestModel      = attribute.Key("gen_ai.request.model")
	attrResponseModel     = attribute.Key("gen_ai.response.model")
	attrInputTokens       = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens      = attribute.Key("gen_ai.usage.output_tokens")
	attrCacheReadTokens   = attribute.Key("gen_ai.usage.cache_read.input_tokens")
	attrCacheCreateTokens = attribute.Key("gen_ai.usage.cache_creation.input_tokens")
	attrFinishReasons     = attribute.Key("gen_ai.response.finish_reasons")
	attrTimeToFirstChunk  = attribute.Key("gen_ai.response.time_to_first_chunk")
	attrTokenType         = attribute.Key("gen_ai.token.type")
	attrRequestStream     = attribute.Key("gen_ai.request.stream")
	attrErrorType         = attribute.Key("error.type")
	attrHTTPStatus        = attribute.Key("http.response.status_code")
	attrTargetID          = attribute.Key("keeptrusts.target.id")
	attrTargetKind        = attribute.Key("keeptrusts.target.kind")
	// attrRoute is the configured route (its model name, alias or glob)
	// that served the request; absent without routes. Bounded by config.
	attrRoute = attribute.Key("keeptrusts.route")
	// attrEndpoint is the API a request was made to (provider.API's name:
	// chat, messages, count_tokens, responses, embeddings, completions):
	// gen_ai.operation.name alone cannot tell Messages from Chat
	// Completions, both "chat".
	attrEndpoint = attribute.Key("keeptrusts.endpoint")
	// attrDroppedParams lists the request fields a failover attempt left
	// out because its target's provider kind cannot take them.
	attrDroppedParams = attribute.Key("keeptrusts.dropped_params")
	// attrMappedParams lists the request fields a failover attempt sent
	// with a value mapped onto its target kind's range, as name=from->to.
	attrMappedParams = attribute.Key("keeptrusts.mapped_params")
	// attrUnsupportedParam is, on a skip span with reason
	// unsupported_request, the field the target could not take.
	attrUnsupportedParam    = attribute.Key("keeptrusts.unsupported_param")
	attrAttempt             = attribute.Key("keeptrusts.attempt")
	attrFailureReason       = attribute.Key("keeptrusts.failure.reason")
	attrSkipped             = attribute.Key("keeptrusts.skipped")
	attrFailoverFrom        = attribute.Key("keeptrusts.failover.from")
	attrFailoverTo          = attribute.Key("keeptrusts.failover.to")
	attrFailoverReason      = attribute.Key("keeptrusts.failover.reason")
	attrFailoverFromModel   = attribute.Key("keeptrusts.failover.from_model")
	attrFailoverToModel     = attribute.Key("keeptrusts.failover.to_model")
	attrModelMappingApplied = attribute.Key("keeptrusts.model_mapping.applied")
	attrRetry               = attribute.Key("keeptrusts.retry")
	attrRetryReason         = attribute.Key("keeptrusts.retry.reason")
	attrRetryWait           = attribute.Key("keeptrusts.retry.wait")
	attrMidstreamFrom       = attribute.Key("keeptrusts.midstream.from")
	attrMidstreamTo         = attribute.Key("keeptrusts.midstream.to")
	attrMidstreamChars      = attribute.Key("keeptrusts.midstream.chars")
	attrMidstreamRole       = attribute.Key("keeptrusts.midstream.role")
	attrMidstreamCause      = attribute.Key("keeptrusts.midstream.interruption")
	attrMidstreamOutcome    = attribute.Key("keeptrusts.midstream.outcome")

	// Short labels of the keeptrusts.* metrics, chosen to read well as
	// Prometheus labels on dashboards.
	labelTarget      = attribute.Key("target")
	labelOutcome     = attribute.Key("outcome")
	labelFrom        = attribute.Key("from")
	labelTo          = attribute.Key("to")
	labelReason      = attribute.Key("reason")
	labelStatusClass = attribute.Key("status_class")
	labelProvider    = attribute.Key("provider")
	labelModel       = attribute.Key("model")
	labelPolicy      = attribute.Key("policy")
	labelTeam        = attribute.Key("team")
	labelCategory    = attribute.Key("category")
	labelAction      = attribute.Key("action")
	labelStream      = attribute.Key("stream")
	labelSkipped     = attribute.Key("skipped")
	labelEndpoint    = attribute.Key("endpoint")
)

var (
	tokenInput  = attrTokenType.String("input")
	tokenOutput = attrTokenType.String("output")
)

// Bucket boundaries. Durations follow the GenAI conventions' advice
// (10 ms doubling to ~82 s: an LLM answer takes seconds, a stream minutes);
// token counts grow by 4×; the first token and probes are faster; the
// gateway's own overhead is sub-millisecond when healthy.
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	probeBuckets    = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	overheadBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

// instruments are every synchronous instrument, created once.
type instruments struct {
	opDuration     metric.Float64Histogram
	tokenUsage     metric.Int64Histogram
	attempts       metric.Int64Counter
	failovers      metric.Int64Counter
	retries        metric.Int64Counter
	midstream      metric.Int64Counter
	serverDuration metric.Float64Histogram
	serverTTFT     metric.Float64Histogram
	requests       metric.Int64Counter
	overhead       metric.Float64Histogram
	cost           metric.Float64Counter
	policyHits     metric.Int64Counter
	limitRejects   metric.Int64Counter
	probeDuration  metric.Float64Histogram
	probeFailures  metric.Int64Counter
}

// newInstruments creates the instruments on m; a failure names the instrument.
func newInstruments(m metric.Meter) (*instruments, error) {
	var (
		in   instruments
		errs []error
	)
	f64h := func(name, unit, desc string, buckets []float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return h
	}
	i64c := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return c
	}
	in.opDuration = f64h(MetricClientOperationDuration, "s", "Duration of one upstream attempt (a stream: until it ended).", durationBuckets)
	tu, err := m.Int64Histogram(MetricClientTokenUsage, metric.WithUnit("{token}"), metric.WithDescription("Tokens used by one upstream attempt, by token type."), metric.WithExplicitBucketBoundaries(tokenBuckets...))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", MetricClientTokenUsage, err))
	}
	in.tokenUsage = tu
	in.attempts = i64c(MetricAttempts, "{attempt}", "Upstream attempts and skipped targets, by target and outcome.")
	in.failovers = i64c(MetricFailovers, "{failover}", "Moves of a request from one target to the next, by from, to and reason.")
	in.retries = i64c(MetricRetries, "{retry}", "Same-target retries: attempts that repeat a failed one on the same target before failing over, by target and the reason retried.")
	in.midstream = i64c(MetricMidstreamContinuations, "{continuation}", "Streams cut or stalled after text went out that another target was asked to continue, by from, to and outcome.")
	in.serverDuration = f64h(MetricServerRequestDuration, "s", "Duration of a request at the gateway, from arrival to the last byte, by operation and endpoint.", durationBuckets)
	in.serverTTFT = f64h(MetricServerTimeToFirstToken, "s", "Time from a streaming request's arrival to its first event sent to the client.", ttftBuckets)
	in.requests = i64c(MetricRequests, "{request}", "Requests answered, by endpoint, status class and answering provider.")
	in.overhead = f64h(MetricGatewayOverhead, "s", "Time a request spent in the gateway itself: total minus upstream time.", overheadBuckets)
	cost, err := m.Float64Counter(MetricCost, metric.WithUnit("{USD}"), metric.WithDescription("Estimated spend in US dollars, by provider and model."))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", MetricCost, err))
	}
	in.cost = cost
	in.policyHits = i64c(MetricPolicyHits, "{hit}", "Policy matches, by policy, category and action.")
	in.limitRejects = i64c(MetricLimitRejections, "{request}", "Requests refused with 429 by a team's rate limit or budget, by team and reason.")
	in.probeDuration = f64h(MetricProbeDuration, "s", "Duration of one active health probe.", probeBuckets)
	in.probeFailures = i64c(MetricProbeFailures, "{probe}", "Failed active health probes.")
	if len(errs) > 0 {
		return nil, fmt.Errorf("create instruments: %w", errors.Join(errs...))
	}
	return &in, nil
}
