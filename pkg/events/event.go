package events

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// IDPrefix starts every event id.
const IDPrefix = "evt_"

// EndpointChat is Event.Endpoint of a Chat Completions request: what an
// event stored before the field existed reads back as.
const EndpointChat = "chat"

// Event is the record of one client request. The JSON field names are a
// public contract: users pipe `kt events tail --format json` into jq.
type Event struct {
	// ID is IDPrefix + a lowercase ULID: unique and sortable by creation time.
	ID string `json:"id"`
	// Timestamp is when the request started, UTC.
	Timestamp time.Time `json:"timestamp"`
	// RequestID is the request's id as returned to the client.
	RequestID string `json:"request_id"`
	// Endpoint is the API the request was made to, as provider.API names
	// it: chat, messages, count_tokens, responses, embeddings or
	// completions. Events recorded before endpoints existed have none; the
	// store reads them back as chat (EndpointChat), the only one there was.
	Endpoint string `json:"endpoint"`
	// ResponseID is the id of the answer a Responses API request got
	// (resp_...), kept so that a follow-up naming it (previous_response_id,
	// GET / DELETE /v1/responses/{id}) is sent to the target that holds it
	// (Store.ResponseTarget); "" for every other request.
	ResponseID string `json:"response_id,omitempty"`
	// Team is the team of the gateway key that authenticated the request;
	// "" when client authentication is off.
	Team string `json:"team,omitempty"`
	// KeyName is the configured name of that gateway key (never the key
	// itself); "" when client authentication is off.
	KeyName string `json:"key_name,omitempty"`
	// TraceID is the W3C trace id, when the request was traced.
	TraceID string `json:"trace_id,omitempty"`
	// Provider is the target id that answered; "" when none did.
	Provider string `json:"provider"`
	// Model is the model that answered, or the one last tried.
	Model string `json:"model"`
	// RequestedModel is the model the client asked for.
	RequestedModel string `json:"requested_model"`
	// Route is the model (name, alias or glob) of the configured route that
	// served the request; "" without routes.
	Route string `json:"route,omitempty"`
	// Status is the HTTP status returned to the client; 499 when the client
	// went away before the answer.
	Status int `json:"status"`
	// LatencyMS is the total time the gateway spent on the request.
	LatencyMS float64 `json:"latency_ms"`
	// GatewayLatencyMS is LatencyMS minus the time spent waiting on
	// upstreams: what the gateway itself added.
	GatewayLatencyMS float64 `json:"gateway_latency_ms"`
	// Stream is true for a streamed (SSE) answer.
	Stream bool `json:"stream"`
	// Failover says whether the request moved off its first target.
	Failover Failover `json:"failover"`
	// Attempts lists every target considered, in order, including skipped ones.
	Attempts []Attempt `json:"attempts"`
	// DroppedParams are the request fields left out of some attempt
	// because its target's provider kind cannot take them
	// (failover.drop_unsupported_params), in the order first dropped.
	DroppedParams []string `json:"dropped_params,omitempty"`
	// MappedParams are the request fields whose value some attempt mapped
	// onto its target kind's range, each once as name=from->to
	// ("temperature=1.8->0.9"), in the order first mapped.
	MappedParams []string `json:"mapped_params,omitempty"`
	// Usage is the token usage of the answer.
	Usage Usage `json:"usage"`
	// CostUSD is the price of Usage at the answering model's price; 0 when
	// unknown.
	CostUSD float64 `json:"cost_usd"`
	// Policies are the results of the policies evaluated on the request.
	Policies []PolicyResult `json:"policies,omitempty"`
	// Error is the error code or reason of a non-2xx answer
	// (all_providers_failed, client_canceled, invalid_request_error, …).
	Error string `json:"error,omitempty"`
	// RequestBody is the client's request, only with events.include_bodies.
	RequestBody json.RawMessage `json:"request_body,omitempty"`
	// ResponseBody is the answer, only with events.include_bodies.
	ResponseBody json.RawMessage `json:"response_body,omitempty"`
	// Midstream records a mid-stream continuation (failover.midstream):
	// absent when the stream was not continued.
	Midstream *Midstream `json:"midstream,omitempty"`
}

// Midstream is where a stream cut or stalled after it started was handed
// to another target to continue the same answer.
type Midstream struct {
	// From is the target whose stream was interrupted.
	From string `json:"from"`
	// To is the target that continued it (or was asked to).
	To string `json:"to,omitempty"`
	// Chars is how many characters of answer text the client had before
	// the seam.
	Chars int `json:"chars"`
	// Interruption is how From's stream failed: stream_cut, stall or
	// malformed.
	Interruption string `json:"interruption"`
	// Outcome of the continuation: ok, refused (the target does not accept
	// prefill), not_attempted (no target could take it), or the failure
	// reason.
	Outcome string `json:"outcome"`
}

// Failover is the failover decision of one request, as in the response's
// keeptrusts_metadata.
type Failover struct {
	// Triggered is true when a target other than the first one was tried.
	Triggered bool `json:"triggered"`
	// OriginalProvider is the target tried first.
	OriginalProvider string `json:"original_provider,omitempty"`
	// Reason is why the first target failed (upstream_timeout, auth_error, …).
	Reason string `json:"reason,omitempty"`
}

// Attempt is one target considered for a request.
type Attempt struct {
	// Target is the target id.
	Target string `json:"target"`
	// Model is the model asked of that target (after model mapping).
	Model string `json:"model"`
	// Outcome is "ok" or the failure reason.
	Outcome string `json:"outcome"`
	// Status is the upstream HTTP status, when one was received.
	Status int `json:"status,omitempty"`
	// Skipped is true when the target was not called (circuit open,
	// unhealthy).
	Skipped bool `json:"skipped,omitempty"`
	// Retry is n for the nth same-target retry of this target
	// (failover.retry.same_target), absent on a target's first try.
	Retry int `json:"retry,omitempty"`
	// DurationMS is how long the attempt took.
	DurationMS float64 `json:"duration_ms"`
	// DroppedParams are the request fields this attempt left out.
	DroppedParams []string `json:"dropped_params,omitempty"`
	// MappedParams are the request fields this attempt sent with a value
	// mapped onto its target kind's range, as name=from->to.
	MappedParams []string `json:"mapped_params,omitempty"`
}

// Usage is token usage. InputTokens includes cached tokens;
// CacheReadTokens and CacheCreationTokens are subsets of it.
type Usage struct {
	// InputTokens counts all prompt tokens.
	InputTokens int64 `json:"input_tokens"`
	// OutputTokens counts completion tokens.
	OutputTokens int64 `json:"output_tokens"`
	// TotalTokens is InputTokens + OutputTokens.
	TotalTokens int64 `json:"total_tokens"`
	// CacheReadTokens is the part of InputTokens read from a prompt cache.
	CacheReadTokens int64 `json:"cache_read_tokens,omitempty"`
	// CacheCreationTokens is the part of InputTokens written to a prompt cache.
	CacheCreationTokens int64 `json:"cache_creation_tokens,omitempty"`
}

// PolicyResult is the result of one policy on one request.
type PolicyResult struct {
	// Name is the policy's configured name.
	Name string `json:"name"`
	// Type is the policy type (content_filter).
	Type string `json:"type"`
	// Action is the configured action (flag, block, redact).
	Action string `json:"action"`
	// Outcome is pass, flagged, blocked or redacted.
	Outcome string `json:"outcome"`
	// Categories are the categories that matched.
	Categories []string `json:"categories,omitempty"`
}

// MarshalJSON writes attempts as [] rather than null when there are none, so
// `jq '.attempts[]'` works on every event, and turns a body that is not
// valid JSON into a JSON string. It does not HTML-escape, leaving that to
// the caller's encoder (json.Marshal escapes; RenderJSON does not).
func (e Event) MarshalJSON() ([]byte, error) {
	return appendJSON(make([]byte, 0, 1024), &e)
}

// validJSON keeps a body that is valid JSON and turns anything else into a
// JSON string of its bytes: a truncated or non-JSON body must not make the
// whole event (and the batch it is in) unmarshalable.
func validJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(strings.ToValidUTF8(string(b), "\uFFFD")) // a string always marshals
	return s
}

// NewID returns a new event id: IDPrefix + a lowercase ULID (lowercasing
// keeps Crockford base32 order, digits before letters). IDs sort by creation
// time: the ULID's 48-bit millisecond timestamp is followed by the
// nanoseconds within that millisecond (20 bits), then 60 random bits. Every
// id a process mints is strictly greater than the one before, whichever
// goroutine asks (ids minted in the same nanosecond, or while the wall clock
// steps back, take the next free nanosecond); ids from different processes
// sharing a store are told apart by the random bits.
//
// Not ulid.Make: its monotonic entropy source sits behind one global mutex,
// contended when requests finish on every core at once. This costs one
// atomic compare-and-swap and one allocation.
func NewID() string {
	return formatID(idClock.next(time.Now().UnixNano()), rand.Uint64())
}

// formatID is the id for Unix time t in nanoseconds and random bits r.
func formatID(t int64, r uint64) string {
	ms, sub := uint64(t/1e6), uint64(t%1e6)
	// The 128-bit ULID: ms (48 bits) | sub (20 bits) | r's top 60 bits.
	hi := ms<<16 | sub>>4
	lo := sub<<60 | r>>4
	var b [len(IDPrefix) + ulidLen]byte
	copy(b[:], IDPrefix)
	// 26 base32 digits hold 130 bits; the first digit takes the top 3.
	for i := len(b) - 1; i >= len(IDPrefix); i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(b[:])
}

// ulidLen is the length of a ULID in base32.
const ulidLen = 26

// crockford is Crockford's base32 alphabet in lower case.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// monotonicClock hands out strictly increasing Unix nanosecond times.
type monotonicClock struct{ last atomic.Int64 }

// idClock is the one piece of package-level mutable state, on purpose: id
// order is a property of the process (every caller of the package-level
// NewID shares it), just as it was under ulid.Make's global entropy source.
var idClock monotonicClock

// next returns now, or one more than the last time handed out if now is
// not later (same nanosecond, or the wall clock stepped back), clamped to
// the ULID epoch: a clock before 1970 mints ids at 1970.
func (c *monotonicClock) next(now int64) int64 {
	now = max(now, 0)
	for {
		last := c.last.Load()
		t := max(now, last+1)
		if c.last.CompareAndSwap(last, t) {
			return t
		}
	}
}
