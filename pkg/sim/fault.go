package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FaultKind names one injected failure.
type FaultKind string

// The fault kinds. Each one imitates a failure seen from real providers; the
// doc comment says which requests it applies to. "Chat" means the chat
// endpoint (/v1/chat/completions or /v1/messages), "probe" GET /v1/models.
const (
	// FaultNone answers normally.
	FaultNone FaultKind = "none"
	// FaultDown closes the API listener: new connections are refused and open
	// ones are closed. Needs a Server; the bare Handler treats it as FaultReset.
	FaultDown FaultKind = "down"
	// FaultReset reads the request, then closes the TCP connection with
	// SO_LINGER 0 so the client sees a reset and no response. Chat and probe.
	FaultReset FaultKind = "reset"
	// FaultHang never answers until the client goes away or the server
	// closes. Chat and probe.
	FaultHang FaultKind = "hang"
	// FaultSlowFirstToken waits Delay before the response headers (stream) or
	// the whole answer (non-stream). Chat only.
	FaultSlowFirstToken FaultKind = "slow_first_token"
	// FaultSlowStream sends the headers at once, then waits Delay before every
	// stream frame. Streaming chat only.
	FaultSlowStream FaultKind = "slow_stream"
	// FaultError answers Status (default 500) with the provider's error body
	// for that status. Chat and probe.
	FaultError FaultKind = "error"
	// FaultRateLimit answers 429 with a Retry-After header. Chat only.
	FaultRateLimit FaultKind = "rate_limit"
	// FaultResetMidStream answers 200, sends AfterChunks stream frames (or half
	// of a non-stream body), then resets the connection. Chat only.
	FaultResetMidStream FaultKind = "reset_mid_stream"
	// FaultWrongKey answers 401 as if the key were wrong. Chat and probe, so
	// that health probes fail too.
	FaultWrongKey FaultKind = "wrong_key"
	// FaultStreamError answers 200, sends AfterChunks stream frames, then an
	// in-stream error (Anthropic: "event: error" with overloaded_error; OpenAI:
	// a data frame holding an error object) and ends the body without the
	// closing frames. Streaming chat only.
	FaultStreamError FaultKind = "stream_error"
	// FaultStall answers 200, sends AfterChunks stream frames, then goes
	// silent with the connection open until the client goes away (or the
	// server closes). AfterChunks is capped below the finishing frame, so the
	// answer never completes. Non-stream: the headers and half the body, then
	// silence. Chat only.
	FaultStall FaultKind = "stall"
	// FaultNoDone sends the whole stream but its closing sentinel, then ends
	// the body cleanly: OpenAI gets every chunk, the finish_reason and (when
	// asked for) usage, but no "data: [DONE]", as several OpenAI-compatible
	// servers do; Anthropic gets everything up to message_delta (stop_reason
	// and usage) but no message_stop. Streaming chat only.
	FaultNoDone FaultKind = "no_done"
	// FaultMalformed sends AfterChunks good frames, then one whose JSON is
	// cut in half (still framed as an SSE event), then the rest of the
	// stream; capped so that the broken frame comes before the finishing one.
	// Non-stream: a 200 whose body is the first half of the JSON answer, with
	// a Content-Length that matches it. Chat only.
	FaultMalformed FaultKind = "malformed"
	// FaultCut sends AfterChunks frames, capped below the finishing frame,
	// then closes the connection (FIN, not a reset) without ending the
	// chunked body: no finish_reason, no [DONE] (clients see an unexpected
	// EOF). Non-stream: half the body under the full Content-Length, then the
	// close. reset_mid_stream is the same with a TCP reset. Chat only.
	FaultCut FaultKind = "cut"
	// FaultSlowFirstContent sends the headers and the stream's lifecycle
	// frames at once (OpenAI: the role-only chunk; Anthropic: message_start,
	// content_block_start and ping), then waits Delay before the first
	// content delta and streams the rest normally. Non-stream: waits Delay
	// before the answer, like slow_first_token. Chat only.
	FaultSlowFirstContent FaultKind = "slow_first_content"
	// FaultContextLength answers the provider's 400 for a prompt over the
	// context window: OpenAI code context_length_exceeded, Anthropic
	// invalid_request_error "prompt is too long: N tokens > M maximum". With
	// ContextWindow set, only requests whose estimated prompt tokens exceed it
	// are refused (and use up Count); without it every chat request is, with M
	// the model family's real window. Chat only, after key checks.
	FaultContextLength FaultKind = "context_length"
	// FaultContentPolicy answers a content-policy 400: OpenAI code
	// content_policy_violation (default) or, with Code content_filter, the
	// Azure OpenAI-style content_filter body; Anthropic "Output blocked by
	// content filtering policy". Chat only, after key checks.
	FaultContentPolicy FaultKind = "content_policy"
	// FaultRefusePrefill refuses a request whose last message is an
	// assistant message (prefill) with a 400 "This model does not support
	// assistant message prefill. The conversation must end with a user
	// message." in the provider's error shape; other requests are answered
	// normally and do not use up Count. Chat only, after key checks.
	FaultRefusePrefill FaultKind = "refuse_prefill"
)

// Defaults used when a fault leaves the corresponding field zero.
const (
	// DefaultSlowFirstTokenDelay is the wait of slow_first_token.
	DefaultSlowFirstTokenDelay = 5 * time.Second
	// DefaultSlowStreamDelay is the per-frame wait of slow_stream.
	DefaultSlowStreamDelay = time.Second
	// DefaultRetryAfterSeconds is the Retry-After of rate_limit.
	DefaultRetryAfterSeconds = 1
	// DefaultErrorStatus is the status of error.
	DefaultErrorStatus = 500
	// DefaultSlowFirstContentDelay is the wait of slow_first_content.
	DefaultSlowFirstContentDelay = 5 * time.Second
)

// Content-policy codes of FaultContentPolicy (OpenAI kind).
const (
	// CodeContentPolicyViolation is OpenAI's code (the default).
	CodeContentPolicyViolation = "content_policy_violation"
	// CodeContentFilter is Azure OpenAI's code.
	CodeContentFilter = "content_filter"
)

// FaultKinds returns every fault kind, for help texts and validation.
func FaultKinds() []FaultKind {
	return []FaultKind{
		FaultNone, FaultDown, FaultReset, FaultHang, FaultSlowFirstToken, FaultSlowStream,
		FaultError, FaultRateLimit, FaultResetMidStream, FaultWrongKey, FaultStreamError,
		FaultStall, FaultNoDone, FaultMalformed, FaultCut, FaultSlowFirstContent,
		FaultContextLength, FaultContentPolicy, FaultRefusePrefill,
	}
}

// Fault is one injected failure and its parameters.
//
// A Fault with Model set applies only to chat requests for that model and
// takes precedence over the simulator-wide fault (Model ""), so that one
// simulator can serve several behaviours at once; probes (GET /v1/models)
// name no model and see only the simulator-wide fault.
//
// In JSON, Delay is a Go duration string ("2s", "150ms"); every other field
// keeps its tag. Decoding is strict: an unknown field is an error.
type Fault struct {
	// Kind selects the failure; "" means none.
	Kind FaultKind `json:"kind"`
	// Model scopes the fault to chat requests for this model; "" is the
	// simulator-wide fault. down cannot be scoped (it closes the listener).
	Model string `json:"model,omitempty"`
	// Status is the HTTP status of error (default 500; 4xx gives the
	// provider's client-error body) and the error type of stream_error
	// (default 500 for OpenAI, 529 overloaded for Anthropic).
	Status int `json:"status,omitempty"`
	// RetryAfterSeconds is the Retry-After header of rate_limit (default 1)
	// and, when set, of error.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
	// Delay is the wait of slow_first_token, slow_stream and
	// slow_first_content (JSON: "2s").
	Delay time.Duration `json:"delay,omitempty"`
	// AfterChunks is how many stream frames reset_mid_stream, stream_error,
	// stall, malformed and cut send first. It is capped so that the stream
	// never completes.
	AfterChunks int `json:"after_chunks,omitempty"`
	// ContextWindow is the context window, in estimated prompt tokens, of
	// context_length: only larger prompts are refused. 0 refuses every
	// request.
	ContextWindow int `json:"context_window,omitempty"`
	// Code is the OpenAI error code of content_policy:
	// content_policy_violation (default) or content_filter.
	Code string `json:"code,omitempty"`
	// Count limits the fault to the next Count chat requests it acts on,
	// after which it clears itself (a model's fault is removed, so the model
	// follows the simulator-wide fault again); 0 means until changed. Each
	// fault keeps its own count, used up atomically: with Count 1, exactly one
	// of many concurrent requests gets the fault. While it lasts a
	// simulator-wide fault also applies to probes, which do not use it up.
	// Fault() reports the remaining count. It is ignored for down, which sees
	// no requests.
	Count int `json:"count,omitempty"`
}

// faultJSON is Fault's wire form: Delay as a duration string.
type faultJSON struct {
	Kind              FaultKind `json:"kind"`
	Model             string    `json:"model,omitempty"`
	Status            int       `json:"status,omitempty"`
	RetryAfterSeconds int       `json:"retry_after_seconds,omitempty"`
	Delay             string    `json:"delay,omitempty"`
	AfterChunks       int       `json:"after_chunks,omitempty"`
	ContextWindow     int       `json:"context_window,omitempty"`
	Code              string    `json:"code,omitempty"`
	Count             int       `json:"count,omitempty"`
}

// MarshalJSON writes Delay as a duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{
		Kind: f.normKind(), Model: f.Model, Status: f.Status, RetryAfterSeconds: f.RetryAfterSeconds,
		AfterChunks: f.AfterChunks, ContextWindow: f.ContextWindow, Code: f.Code, Count: f.Count,
	}
	if f.Delay != 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Delay as a duration string and rejects unknown fields,
// so that a misspelt parameter is an error instead of a silent default.
func (f *Fault) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j faultJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("decode fault: %w", err)
	}
	var d time.Duration
	if j.Delay != "" {
		var err error
		if d, err = time.ParseDuration(j.Delay); err != nil {
			return fmt.Errorf("decode fault: delay: %w", err)
		}
	}
	*f = Fault{
		Kind: j.Kind, Model: j.Model, Status: j.Status, RetryAfterSeconds: j.RetryAfterSeconds,
		Delay: d, AfterChunks: j.AfterChunks, ContextWindow: j.ContextWindow, Code: j.Code, Count: j.Count,
	}
	if f.Kind == "" {
		f.Kind = FaultNone
	}
	return nil
}

func (f Fault) normKind() FaultKind {
	if f.Kind == "" {
		return FaultNone
	}
	return f.Kind
}

// Validate reports every problem of f at once: an unknown kind, a parameter
// out of range or one the kind does not use, a model name the spec syntax
// cannot carry.
func (f Fault) Validate() error {
	var errs []error
	k := f.normKind()
	if !slices.Contains(FaultKinds(), k) {
		errs = append(errs, fmt.Errorf("kind: unknown fault kind %q", f.Kind))
	}
	uses := func(field string, set bool, kinds ...FaultKind) {
		if set && !slices.Contains(kinds, k) {
			errs = append(errs, fmt.Errorf("%s: not used by fault kind %q", field, k))
		}
	}
	if err := validModel(f.Model); err != nil {
		errs = append(errs, err)
	}
	if f.Model != "" && k == FaultDown {
		errs = append(errs, errors.New(`model: fault kind "down" closes the listener and cannot be scoped to a model`))
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		errs = append(errs, fmt.Errorf("status: %d is not an error status (400-599)", f.Status))
	}
	uses("status", f.Status != 0, FaultError, FaultStreamError)
	if f.RetryAfterSeconds < 0 {
		errs = append(errs, errors.New("retry_after_seconds: must not be negative"))
	}
	uses("retry_after_seconds", f.RetryAfterSeconds != 0, FaultRateLimit, FaultError)
	if f.Delay < 0 {
		errs = append(errs, errors.New("delay: must not be negative"))
	}
	uses("delay", f.Delay != 0, FaultSlowFirstToken, FaultSlowStream, FaultSlowFirstContent)
	if f.AfterChunks < 0 {
		errs = append(errs, errors.New("after_chunks: must not be negative"))
	}
	uses("after_chunks", f.AfterChunks != 0, FaultResetMidStream, FaultStreamError, FaultStall, FaultMalformed, FaultCut)
	if f.ContextWindow < 0 {
		errs = append(errs, errors.New("context_window: must not be negative"))
	}
	uses("context_window", f.ContextWindow != 0, FaultContextLength)
	if f.Code != "" && f.Code != CodeContentPolicyViolation && f.Code != CodeContentFilter {
		errs = append(errs, fmt.Errorf("code: %q is not %s or %s", f.Code, CodeContentPolicyViolation, CodeContentFilter))
	}
	uses("code", f.Code != "", FaultContentPolicy)
	if f.Count < 0 {
		errs = append(errs, errors.New("count: must not be negative"))
	}
	if f.Count != 0 && (k == FaultNone || k == FaultDown) {
		errs = append(errs, fmt.Errorf("count: not supported by fault kind %q", k))
	}
	return errors.Join(errs...)
}

// validModel checks that a model name survives the spec syntax: a comma
// would end the parameter and surrounding spaces would be trimmed away.
func validModel(m string) error {
	switch {
	case m == "":
		return nil
	case strings.ContainsAny(m, ",\r\n"):
		return fmt.Errorf("model: %q must not contain a comma or a line break", m)
	case strings.TrimSpace(m) != m:
		return fmt.Errorf("model: %q must not start or end with white space", m)
	case !utf8.ValidString(m):
		return errors.New("model: not valid UTF-8")
	}
	return nil
}

// delay is the effective wait of the slow kinds.
func (f Fault) delay() time.Duration {
	if f.Delay > 0 {
		return f.Delay
	}
	switch f.Kind {
	case FaultSlowFirstToken:
		return DefaultSlowFirstTokenDelay
	case FaultSlowStream:
		return DefaultSlowStreamDelay
	case FaultSlowFirstContent:
		return DefaultSlowFirstContentDelay
	}
	return 0
}

// retryAfter is the effective Retry-After in seconds, 0 for none.
func (f Fault) retryAfter() int {
	if f.Kind == FaultRateLimit && f.RetryAfterSeconds == 0 {
		return DefaultRetryAfterSeconds
	}
	return f.RetryAfterSeconds
}

// String renders f in the syntax ParseFault reads, e.g.
// "error:status=503,count=2" or "stall:after_chunks=5,model=gpt-4o".
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(string(f.normKind()))
	sep := byte(':')
	add := func(key, val string) {
		b.WriteByte(sep)
		sep = ','
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(val)
	}
	if f.Status != 0 {
		add("status", strconv.Itoa(f.Status))
	}
	if f.RetryAfterSeconds != 0 {
		add("retry_after", strconv.Itoa(f.RetryAfterSeconds))
	}
	if f.Delay != 0 {
		add("delay", f.Delay.String())
	}
	if f.AfterChunks != 0 {
		add("after_chunks", strconv.Itoa(f.AfterChunks))
	}
	if f.ContextWindow != 0 {
		add("context_window", strconv.Itoa(f.ContextWindow))
	}
	if f.Code != "" {
		add("code", f.Code)
	}
	if f.Count != 0 {
		add("count", strconv.Itoa(f.Count))
	}
	// Last, because a model name may contain ':' and '='.
	if f.Model != "" {
		add("model", f.Model)
	}
	return b.String()
}

// ParseFault reads a fault from a command-line spec:
//
//	[model=NAME:]kind[:param[,key=value...]]
//
// Keys are status, retry_after (or retry_after_seconds), delay (a Go
// duration), after_chunks, context_window, code, count and model. A first
// parameter without "key=" is the kind's main parameter: error:503,
// stream_error:529 (status), rate_limit:5 (retry_after), slow_first_token:2s,
// slow_stream:200ms and slow_first_content:20s (delay), reset_mid_stream:3,
// stall:5, malformed:2 and cut:4 (after_chunks), context_length:8000
// (context_window), content_policy:content_filter (code).
//
// The model a fault is scoped to is either the model parameter
// (stall:5,model=gpt-4o) or a "model=NAME:" prefix (model=gpt-4o:stall:5);
// in the prefix form NAME may itself contain ':' (model=llama3:8b:cut:2),
// since it ends before the first segment that names a fault kind. The
// result is validated.
func ParseFault(spec string) (Fault, error) {
	spec = strings.TrimSpace(spec)
	model, spec, err := cutModelPrefix(spec)
	if err != nil {
		return Fault{}, err
	}
	kind, params, hasParams := strings.Cut(spec, ":")
	f := Fault{Kind: FaultKind(strings.TrimSpace(kind)), Model: model}
	if f.Kind == "" {
		return Fault{}, errors.New("parse fault: empty fault kind")
	}
	if hasParams {
		for i, item := range strings.Split(params, ",") {
			key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				if i > 0 {
					return Fault{}, fmt.Errorf("parse fault: %q: want key=value", item)
				}
				if key = mainParam(f.Kind); key == "" {
					return Fault{}, fmt.Errorf("parse fault: %q: fault kind %q takes no bare parameter", item, f.Kind)
				}
				val = item
			}
			key = strings.TrimSpace(key)
			if key == "model" && model != "" {
				return Fault{}, errors.New("parse fault: model given twice (prefix and parameter)")
			}
			if err := f.set(key, strings.TrimSpace(val)); err != nil {
				return Fault{}, fmt.Errorf("parse fault: %w", err)
			}
		}
	}
	if err := f.Validate(); err != nil {
		return Fault{}, fmt.Errorf("parse fault: %w", err)
	}
	return f, nil
}

// cutModelPrefix splits "model=NAME:rest" into NAME and rest. NAME ends at
// the first ':' whose following segment is a fault kind, so that model names
// with colons (llama3:8b) work.
func cutModelPrefix(spec string) (model, rest string, err error) {
	after, ok := strings.CutPrefix(spec, "model=")
	if !ok {
		return "", spec, nil
	}
	for i := 0; i < len(after); i++ {
		if after[i] != ':' {
			continue
		}
		kind, _, _ := strings.Cut(after[i+1:], ":")
		if slices.Contains(FaultKinds(), FaultKind(strings.TrimSpace(kind))) {
			model = strings.TrimSpace(after[:i])
			if model == "" {
				return "", "", errors.New("parse fault: empty model name")
			}
			return model, after[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("parse fault: %q: want model=NAME:kind[:params]", spec)
}

// mainParam is the key a bare first parameter stands for, "" for none.
func mainParam(k FaultKind) string {
	switch k {
	case FaultError, FaultStreamError:
		return "status"
	case FaultRateLimit:
		return "retry_after"
	case FaultSlowFirstToken, FaultSlowStream, FaultSlowFirstContent:
		return "delay"
	case FaultResetMidStream, FaultStall, FaultMalformed, FaultCut:
		return "after_chunks"
	case FaultContextLength:
		return "context_window"
	case FaultContentPolicy:
		return "code"
	}
	return ""
}

func (f *Fault) set(key, val string) error {
	switch key {
	case "delay":
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("delay: %w", err)
		}
		f.Delay = d
		return nil
	case "code":
		f.Code = val
		return nil
	case "model":
		if val == "" {
			return errors.New("model: empty model name")
		}
		f.Model = val
		return nil
	}
	var dst *int
	switch key {
	case "status":
		dst = &f.Status
	case "retry_after", "retry_after_seconds":
		dst = &f.RetryAfterSeconds
	case "after_chunks":
		dst = &f.AfterChunks
	case "context_window":
		dst = &f.ContextWindow
	case "count":
		dst = &f.Count
	default:
		return fmt.Errorf("unknown parameter %q (want status, retry_after, delay, after_chunks, context_window, code, count or model)", key)
	}
	n, err := strconv.Atoi(val)
	if err != nil {
		return fmt.Errorf("%s: %q is not an integer", key, val)
	}
	*dst = n
	return nil
}

// phase says at which point of a request a fault kind acts.
type phase int

const (
	// phaseFrontDoor faults act before authentication and validation: the
	// whole API is broken.
	phaseFrontDoor phase = iota
	// phaseDelivery faults act while answering a valid request.
	phaseDelivery
)

// appliesTo reports whether kind k acts on a request of this shape in phase p.
func appliesTo(k FaultKind, p phase, probe, stream bool) bool {
	switch k {
	case FaultDown, FaultReset, FaultHang, FaultError, FaultWrongKey:
		return p == phaseFrontDoor
	case FaultRateLimit:
		return p == phaseFrontDoor && !probe
	case FaultSlowFirstToken, FaultResetMidStream, FaultStall, FaultMalformed, FaultCut, FaultSlowFirstContent,
		FaultContextLength, FaultContentPolicy, FaultRefusePrefill:
		return p == phaseDelivery && !probe
	case FaultSlowStream, FaultStreamError, FaultNoDone:
		return p == phaseDelivery && !probe && stream
	}
	return false
}

// actsOn reports whether f, which applies to the request's shape, acts on
// this conversation: the conditional kinds act only on the requests they
// are about, so that those alone use up Count.
func (f Fault) actsOn(k Kind, c *conversation) bool {
	switch f.Kind {
	case FaultRefusePrefill:
		return c != nil && c.prefilled
	case FaultContextLength:
		return f.ContextWindow == 0 || (c != nil && promptTokens(c) > f.ContextWindow)
	}
	return true
}
