package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDPrefix starts every event id.
const IDPrefix = "evt_"

// Event is the record of one client request. The JSON field names are a
// public contract: users pipe `kt events tail --format json` into jq.
type Event struct {
	// ID is IDPrefix + a lowercase ULID: unique and sortable by creation time.
	ID string `json:"id"`
	// Timestamp is when the request started, UTC.
	Timestamp time.Time `json:"timestamp"`
	// RequestID is the request's id as returned to the client.
	RequestID string `json:"request_id"`
	// TraceID is the W3C trace id, when the request was traced.
	TraceID string `json:"trace_id,omitempty"`
	// Provider is the target id that answered; "" when none did.
	Provider string `json:"provider"`
	// Model is the model that answered, or the one last tried.
	Model string `json:"model"`
	// RequestedModel is the model the client asked for.
	RequestedModel string `json:"requested_model"`
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
	// DurationMS is how long the attempt took.
	DurationMS float64 `json:"duration_ms"`
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
	type plain Event // drops the method, avoiding recursion
	p := plain(e)
	if p.Attempts == nil {
		p.Attempts = []Attempt{}
	}
	p.RequestBody = validJSON(p.RequestBody)
	p.ResponseBody = validJSON(p.ResponseBody)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("marshal event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
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
// time to the millisecond. Within a millisecond successive ids increase
// (ULID's monotonic entropy) unless concurrent callers interleave: they get
// unique ids (80 random bits per millisecond, incremented under a lock) but
// no strict order, which is why the store orders by record order, not id.
func NewID() string {
	// Built in one buffer: NewID runs on every request (via Enqueue), so it
	// costs one allocation, not three.
	var b [len(IDPrefix) + ulid.EncodedSize]byte
	copy(b[:], IDPrefix)
	_ = ulid.Make().MarshalTextTo(b[len(IDPrefix):]) // fails only on a wrong-sized buffer
	for i := len(IDPrefix); i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b[:])
}
