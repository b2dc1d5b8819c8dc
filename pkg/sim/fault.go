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
)

// FaultKinds returns every fault kind, for help texts and validation.
func FaultKinds() []FaultKind {
	return []FaultKind{
		FaultNone, FaultDown, FaultReset, FaultHang, FaultSlowFirstToken, FaultSlowStream,
		FaultError, FaultRateLimit, FaultResetMidStream, FaultWrongKey, FaultStreamError,
	}
}

// Fault is one injected failure and its parameters.
//
// In JSON, Delay is a Go duration string ("2s", "150ms"); every other field
// keeps its tag. Decoding is strict: an unknown field is an error.
type Fault struct {
	// Kind selects the failure; "" means none.
	Kind FaultKind `json:"kind"`
	// Status is the HTTP status of error (default 500; 4xx gives the
	// provider's client-error body) and the error type of stream_error
	// (default 500 for OpenAI, 529 overloaded for Anthropic).
	Status int `json:"status,omitempty"`
	// RetryAfterSeconds is the Retry-After header of rate_limit (default 1)
	// and, when set, of error.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
	// Delay is the wait of slow_first_token and slow_stream (JSON: "2s").
	Delay time.Duration `json:"delay,omitempty"`
	// AfterChunks is how many stream frames reset_mid_stream and stream_error
	// send first. It is capped so that the stream never completes.
	AfterChunks int `json:"after_chunks,omitempty"`
	// Count limits the fault to the next Count chat requests it applies to,
	// after which it clears itself; 0 means until changed. While it lasts it
	// also applies to probes, which do not use it up. Fault() reports the
	// remaining count. It is ignored for down, which sees no requests.
	Count int `json:"count,omitempty"`
}

// faultJSON is Fault's wire form: Delay as a duration string.
type faultJSON struct {
	Kind              FaultKind `json:"kind"`
	Status            int       `json:"status,omitempty"`
	RetryAfterSeconds int       `json:"retry_after_seconds,omitempty"`
	Delay             string    `json:"delay,omitempty"`
	AfterChunks       int       `json:"after_chunks,omitempty"`
	Count             int       `json:"count,omitempty"`
}

// MarshalJSON writes Delay as a duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{
		Kind: f.normKind(), Status: f.Status, RetryAfterSeconds: f.RetryAfterSeconds,
		AfterChunks: f.AfterChunks, Count: f.Count,
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
		Kind: j.Kind, Status: j.Status, RetryAfterSeconds: j.RetryAfterSeconds,
		Delay: d, AfterChunks: j.AfterChunks, Count: j.Count,
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
// out of range or one the kind does not use.
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
	uses("delay", f.Delay != 0, FaultSlowFirstToken, FaultSlowStream)
	if f.AfterChunks < 0 {
		errs = append(errs, errors.New("after_chunks: must not be negative"))
	}
	uses("after_chunks", f.AfterChunks != 0, FaultResetMidStream, FaultStreamError)
	if f.Count < 0 {
		errs = append(errs, errors.New("count: must not be negative"))
	}
	if f.Count != 0 && (k == FaultNone || k == FaultDown) {
		errs = append(errs, fmt.Errorf("count: not supported by fault kind %q", k))
	}
	return errors.Join(errs...)
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
// "error:status=503,count=2".
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
	if f.Count != 0 {
		add("count", strconv.Itoa(f.Count))
	}
	return b.String()
}

// ParseFault reads a fault from a command-line spec:
//
//	kind[:param[,key=value...]]
//
// Keys are status, retry_after (or retry_after_seconds), delay (a Go
// duration), after_chunks and count. A first parameter without "key=" is the
// kind's main parameter: error:503, stream_error:529 (status), rate_limit:5
// (retry_after), slow_first_token:2s and slow_stream:200ms (delay),
// reset_mid_stream:3 (after_chunks). The result is validated.
func ParseFault(spec string) (Fault, error) {
	kind, params, hasParams := strings.Cut(strings.TrimSpace(spec), ":")
	f := Fault{Kind: FaultKind(strings.TrimSpace(kind))}
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
			if err := f.set(strings.TrimSpace(key), strings.TrimSpace(val)); err != nil {
				return Fault{}, fmt.Errorf("parse fault: %w", err)
			}
		}
	}
	if err := f.Validate(); err != nil {
		return Fault{}, fmt.Errorf("parse fault: %w", err)
	}
	return f, nil
}

// mainParam is the key a bare first parameter stands for, "" for none.
func mainParam(k FaultKind) string {
	switch k {
	case FaultError, FaultStreamError:
		return "status"
	case FaultRateLimit:
		return "retry_after"
	case FaultSlowFirstToken, FaultSlowStream:
		return "delay"
	case FaultResetMidStream:
		return "after_chunks"
	}
	return ""
}

func (f *Fault) set(key, val string) error {
	if key == "delay" {
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("delay: %w", err)
		}
		f.Delay = d
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
	case "count":
		dst = &f.Count
	default:
		return fmt.Errorf("unknown parameter %q (want status, retry_after, delay, after_chunks or count)", key)
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
	case FaultSlowFirstToken, FaultResetMidStream:
		return p == phaseDelivery && !probe
	case FaultSlowStream, FaultStreamError:
		return p == phaseDelivery && !probe && stream
	}
	return false
}
