// Package provider defines the adapter every upstream kind implements: it
// builds the upstream chat request from the client's OpenAI Chat Completions
// body, translates the answer (whole or streamed) back into OpenAI's shape,
// maps the provider's error bodies, and builds a health probe that costs no
// tokens. One subpackage per kind (openai, anthropic) implements it.
package provider

import (
	"context"
	"net/http"

	"github.com/keeptrusts/gateway/pkg/sse"
)

// Endpoint is what an adapter needs to reach one target. It is built once per
// target at start-up and shared by all requests.
type Endpoint struct {
	// BaseURL without a trailing slash. openai kinds include the version path
	// (https://api.openai.com/v1); anthropic is the host root.
	BaseURL string
	// APIKey is the target's secret; empty when the target has none.
	APIKey string
	// Header holds static extra headers for every upstream request.
	Header http.Header
	// DefaultMaxTokens is used where the provider requires max_tokens.
	DefaultMaxTokens int
	// Version is a provider API version header value (anthropic-version).
	Version string

	// bearer is []string{"Bearer " + APIKey}, set by Prepare.
	bearer []string
}

// Prepare computes, once, the header values every request to the endpoint
// shares. Call it after setting the fields and before the endpoint is used
// concurrently; an endpoint that was not prepared works, at an allocation
// more per request.
func (e *Endpoint) Prepare() {
	if e.APIKey != "" {
		e.bearer = []string{"Bearer " + e.APIKey}
	}
}

// BearerHeader returns the Authorization value "Bearer <APIKey>": shared by
// every request when the endpoint was prepared (clipped, so an append on one
// request reallocates), else built for this call.
func (e *Endpoint) BearerHeader() []string {
	if e.bearer != nil {
		return e.bearer[:1:1]
	}
	return []string{"Bearer " + e.APIKey}
}

// Request is one client chat completion request as it goes to one target.
type Request struct {
	// Body is the client's OpenAI Chat Completions JSON, a valid JSON object.
	Body []byte
	// Model is the model to ask the upstream for, after model mapping.
	Model string
	// BodyModel is the model Body names, as the gateway parsed it; empty
	// when unknown, and the adapter reads it from Body. An adapter that
	// passes Body on rewrites it only when BodyModel differs from Model.
	BodyModel string
	// Stream is the client's "stream" flag.
	Stream bool
	// Header holds the allow-listed client headers to forward (may be nil).
	Header http.Header
	// APIKey, when set, replaces the endpoint's key (a target that forwards the
	// client's own credentials).
	APIKey string
	// Method is the HTTP method of a request that is not a POST with a body
	// (GET and DELETE /v1/responses/{id}); "" means POST.
	Method string
	// ResourceID names the resource of such a request (a response id).
	ResourceID string
	// Inner is, on a request served by a bridge (pkg/inbound), the chat
	// request the bridge's ChatRequest built and handed to the adapter it
	// wraps; its ChatResponse and NewStream, given this same Request, hand
	// Inner on. The router makes one Request per attempt, so it is the
	// attempt's own.
	Inner *Request
}

// Usage is token usage in provider-neutral form.
type Usage struct {
	InputTokens         int64
	OutputTokens        int64
	CacheReadTokens     int64
	CacheCreationTokens int64
}

// Response is a translated non-streaming answer.
type Response struct {
	// Body is an OpenAI chat.completion JSON object.
	Body []byte
	// Model is the model that answered.
	Model string
	// Usage reports tokens.
	Usage Usage
	// FinishReasons are the OpenAI finish_reason values of the choices.
	FinishReasons []string
}

// Stream translates one upstream event stream into OpenAI
// chat.completion.chunk events. It is used by one goroutine.
type Stream interface {
	// Event handles one upstream SSE event and appends the client-facing bytes
	// (zero or more complete "data: ...\n\n" frames) to dst. An error event
	// from the upstream appends an OpenAI-style error frame and returns an
	// error: the stream failed. An event whose data is not valid JSON
	// returns an error wrapping ErrMalformedEvent, and the caller must not
	// send what was appended for it: the stream broke at that event.
	Event(dst []byte, ev sse.Event) ([]byte, error)
	// Finish is called when the upstream body ended. It appends any closing
	// frames and returns an error if the stream ended before it was complete.
	Finish(dst []byte) ([]byte, error)
	// Model is the model that answered, once known.
	Model() string
	// Usage is the token usage seen so far.
	Usage() Usage
	// FinishReasons seen so far.
	FinishReasons() []string
	// Content reports whether a content delta (text, a tool call, a
	// refusal) has been emitted. The frames before it (an OpenAI role-only
	// chunk, Anthropic's message_start, pings, empty deltas) are lifecycle
	// frames: the router holds them back until the first content delta, so
	// that a target that starts a stream and then says nothing can still be
	// failed over with nothing sent to the client.
	Content() bool
	// Done reports whether the stream's end marker was emitted: the
	// upstream's [DONE] (or what a translator sends for the provider's own
	// end event), or the [DONE] Finish appends to a stream whose body ended
	// cleanly after a finish_reason.
	Done() bool
}

// Adapter is one provider kind's wire format.
type Adapter interface {
	// Kind is the provider kind, also used as gen_ai.provider.name.
	Kind() string
	// ChatRequest builds the upstream request. A request the provider cannot
	// express returns a *RequestError (the client's fault: 400 naming the field).
	ChatRequest(ctx context.Context, ep *Endpoint, r *Request) (*http.Request, error)
	// ChatResponse translates a 2xx non-streaming upstream body.
	ChatResponse(body []byte, r *Request) (*Response, error)
	// NewStream returns a translator for a 2xx streaming body.
	NewStream(r *Request) Stream
	// ErrorBody translates an upstream error body into an OpenAI-style error body.
	ErrorBody(status int, body []byte) []byte
	// ProbeRequest builds a health probe that costs no tokens (listing models),
	// authenticated with the target's key so that a bad key fails it.
	ProbeRequest(ctx context.Context, ep *Endpoint) (*http.Request, error)
}

// RequestError is a client request the provider cannot express or that is
// invalid; the gateway answers 400 with Param naming the field.
type RequestError struct {
	// Param is the offending field path, e.g. "messages[2].content[0].type".
	Param string
	// Message explains the problem.
	Message string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

// TokenLimiter is implemented by chat adapters whose upstream wants the
// answer's token limit as max_completion_tokens rather than max_tokens
// (OpenAI's API and Azure OpenAI: their reasoning models refuse
// max_tokens). A bridge that builds a chat request from another API's
// limit asks it; an adapter without it gets max_tokens, which every
// OpenAI-compatible server knows.
type TokenLimiter interface {
	// WantsMaxCompletionTokens reports whether to send max_completion_tokens.
	WantsMaxCompletionTokens() bool
}

// Prefiller is implemented by adapters whose kind has a default for the
// per-target capabilities.prefill: whether the upstream continues a
// conversation whose last message is a partial assistant message (the
// mid-stream continuation sends one). An adapter without it is taken not
// to accept prefill.
type Prefiller interface {
	// AcceptsPrefill reports the kind's default for model.
	AcceptsPrefill(model string) bool
}
