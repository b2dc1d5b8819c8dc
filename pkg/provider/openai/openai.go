// Package openai is the adapter for OpenAI and OpenAI-compatible upstreams
// (vLLM, Ollama, LM Studio, Azure-style deployments). The client already
// speaks this format, so requests and answers pass through untouched except
// for the model name, and streams are relayed event by event.
package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// Adapter implements provider.Adapter for the OpenAI wire format.
type Adapter struct {
	kind string
	// The adapters for the other APIs the kind serves (Native), made once.
	responses   *responsesAdapter
	embeddings  *embeddingsAdapter
	completions *completionsAdapter
}

// New returns an adapter reporting kind ("openai" or "openai_compatible").
func New(kind string) *Adapter {
	a := &Adapter{kind: kind}
	a.responses = &responsesAdapter{native{a}}
	a.embeddings = &embeddingsAdapter{native{a}}
	a.completions = &completionsAdapter{native{a}}
	return a
}

var _ provider.Adapter = (*Adapter)(nil)

// Kind implements provider.Adapter.
func (a *Adapter) Kind() string { return a.kind }

// ChatRequest implements provider.Adapter. The body is forwarded as is; only a
// mapped model is spliced in, without re-encoding the rest.
func (a *Adapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	body := r.Body
	bodyModel := r.BodyModel
	if bodyModel == "" {
		bodyModel = gjson.GetBytes(body, "model").String()
	}
	if bodyModel != r.Model {
		var err error
		body, err = sjson.SetBytes(body, "model", r.Model)
		if err != nil {
			return nil, &provider.RequestError{Param: "model", Message: err.Error()}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	setHeaders(req.Header, ep, r.Header, r.APIKey)
	req.Header["Content-Type"] = contentTypeJSON
	if r.Stream {
		req.Header["Accept"] = acceptSSE
	}
	return req, nil
}

var (
	contentTypeJSON = []string{"application/json"}
	acceptSSE       = []string{"text/event-stream"}
)

func setHeaders(h http.Header, ep *provider.Endpoint, client http.Header, override string) {
	// The value slices are shared with the endpoint (used by every request)
	// and the client's request: clipped, an Add on this request reallocates
	// instead of writing into their backing arrays.
	for k, v := range ep.Header {
		h[k] = slices.Clip(v)
	}
	for k, v := range client {
		h[k] = slices.Clip(v)
	}
	switch {
	case override != "":
		h["Authorization"] = []string{"Bearer " + override}
	case ep.APIKey != "":
		h["Authorization"] = ep.BearerHeader()
	}
}

// ChatResponse implements provider.Adapter: the body is the answer; the
// model, usage and finish reasons are read without decoding the rest.
func (a *Adapter) ChatResponse(body []byte, _ *provider.Request) (*provider.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("upstream answered invalid JSON")
	}
	// One pass over the top level picks the three members; the rest of the
	// body is skipped, never decoded.
	//
	// The body is read in place, without the copy gjson.ParseBytes makes:
	// every string kept beyond this call is cloned.
	top := topLevel{}
	gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body))).ForEach(top.member)
	// Compatible servers do not all send "object"; every chat completion has
	// a choices array, and a models list or an error body has none.
	if !top.choices.IsArray() {
		return nil, fmt.Errorf("upstream answer is not a chat completion")
	}
	out := &provider.Response{Body: body, Model: strings.Clone(top.model.String()), Usage: usage(top.use)}
	top.choices.ForEach(func(_, c gjson.Result) bool {
		// A null finish_reason is not a reason, as in streams.
		if fr := c.Get("finish_reason"); fr.Type == gjson.String {
			out.FinishReasons = append(out.FinishReasons, finishReason(fr.Str))
		}
		return true
	})
	return out, nil
}

// topLevel collects the members of an answer ChatResponse reads.
type topLevel struct{ model, use, choices gjson.Result }

func (t *topLevel) member(k, v gjson.Result) bool {
	switch k.Str {
	case "model":
		t.model = v
	case "usage":
		t.use = v
	case "choices":
		t.choices = v
	}
	return true
}

// finishReason returns the usual reasons as constants (no copy of the
// body's bytes), any other as a copy.
func finishReason(r string) string {
	switch r {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	}
	return strings.Clone(r)
}

func usage(u gjson.Result) provider.Usage {
	if !u.IsObject() {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:     u.Get("prompt_tokens").Int(),
		OutputTokens:    u.Get("completion_tokens").Int(),
		CacheReadTokens: u.Get("prompt_tokens_details.cached_tokens").Int(),
	}
}

// NewStream implements provider.Adapter.
func (a *Adapter) NewStream(*provider.Request) provider.Stream { return &stream{} }

// stream relays OpenAI chunks untouched while noting the model, usage and
// finish reasons, whether a content delta went out, and whether [DONE]
// arrived.
type stream struct {
	model   string
	usage   provider.Usage
	reasons []string
	done    bool
	content bool
	// hasContent tells a chunk that carries content; nil is chat's rule
	// (a delta with text, a refusal or a tool call).
	hasContent func([]byte) bool
}

// frameDone is the end marker Finish sends for an upstream that ended a
// complete stream without one.
var frameDone = []byte("data: [DONE]\n\n")

func (s *stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if len(ev.Data) == 0 {
		// Comments and keep-alives: pass on, they keep idle connections open.
		return append(dst, ev.Raw...), nil
	}
	if sse.IsDone(ev.Data) {
		s.done = true
		return append(dst, ev.Raw...), nil
	}
	if !gjson.ValidBytes(ev.Data) {
		// Nothing of it goes out: the stream is broken here.
		return dst, fmt.Errorf("openai stream chunk: %w", provider.ErrMalformedEvent)
	}
	dst = append(dst, ev.Raw...)
	// Only the chunks before the first content delta are looked at: once
	// content went out, the check costs one branch per chunk.
	if !s.content {
		if s.hasContent != nil {
			s.content = s.hasContent(ev.Data)
		} else {
			s.content = hasContent(ev.Data)
		}
	}
	// Most chunks are content deltas with "finish_reason":null and no usage:
	// only chunks that may carry something to note are parsed. Compatible
	// servers may put spaces around the colon.
	if s.model == "" || hasMember(ev.Data, `"usage"`, "{") || hasMember(ev.Data, `"finish_reason"`, `"`) || hasMember(ev.Data, `"error"`, `{"`) {
		res := gjson.GetManyBytes(ev.Data, "model", "usage", "choices.#.finish_reason", "error")
		if e := res[3]; e.Exists() && e.Type != gjson.Null {
			msg := e.Get("message").String()
			if e.Type == gjson.String {
				msg = e.String()
			}
			return dst, fmt.Errorf("upstream stream error: %s", msg)
		}
		if s.model == "" {
			s.model = res[0].String()
		}
		if res[1].IsObject() {
			s.usage = usage(res[1])
		}
		for _, fr := range res[2].Array() {
			// An empty string is no more a reason than null: a body that
			// ends after one was cut, not complete.
			if fr.Type == gjson.String && fr.Str != "" {
				s.reasons = append(s.reasons, fr.String())
			}
		}
	}
	return dst, nil
}

// hasMember reports whether data holds key followed by a colon and a value
// starting with one of the bytes in first, with any whitespace between. Inside
// JSON strings quotes are escaped, so text mentioning the key does not match.
func hasMember(data []byte, key, first string) bool {
	for {
		i := bytes.Index(data, []byte(key))
		if i < 0 {
			return false
		}
		data = data[i+len(key):]
		rest := bytes.TrimLeft(data, " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) > 0 && strings.IndexByte(first, rest[0]) >= 0 {
			return true
		}
	}
}

// Finish accepts a body that ended after a finish_reason as complete and
// sends the [DONE] the upstream left out: several OpenAI-compatible servers
// never send one, and every chunk of the answer has arrived by then.
func (s *stream) Finish(dst []byte) ([]byte, error) {
	switch {
	case s.done:
		return dst, nil
	case len(s.reasons) > 0:
		s.done = true
		return append(dst, frameDone...), nil
	}
	return dst, fmt.Errorf("stream ended before a finish_reason or [DONE]: %w", io.ErrUnexpectedEOF)
}

// hasContent reports whether a chunk carries a content delta: non-empty
// text or refusal, or a tool (or legacy function) call. A role-only chunk,
// an empty content string, a finish_reason or a usage chunk is not one. It
// reads the first choice in place (no copy of the chunk): a stream commits
// on its first choice's first content.
func hasContent(data []byte) bool {
	if !bytes.Contains(data, []byte(`"delta"`)) {
		return false
	}
	d := gjson.Get(unsafe.String(unsafe.SliceData(data), len(data)), "choices.0.delta")
	if !d.IsObject() {
		return false
	}
	found := false
	d.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content", "refusal":
			found = v.Type == gjson.String && len(v.Raw) > 2
		case "tool_calls":
			found = v.IsArray() && v.Raw != "[]" && len(strings.TrimSpace(v.Raw[1:len(v.Raw)-1])) > 0
		case "function_call":
			found = v.IsObject()
		}
		return !found
	})
	return found
}

func (s *stream) Model() string           { return s.model }
func (s *stream) Usage() provider.Usage   { return s.usage }
func (s *stream) FinishReasons() []string { return s.reasons }
func (s *stream) Content() bool           { return s.content }
func (s *stream) Done() bool              { return s.done }

// ErrorBody implements provider.Adapter: an OpenAI-shaped error passes as is;
// anything else is wrapped into one.
func (a *Adapter) ErrorBody(status int, body []byte) []byte {
	msg := fmt.Sprintf("upstream answered HTTP %d", status)
	if gjson.ValidBytes(body) {
		e := gjson.GetBytes(body, "error")
		if e.Get("message").Exists() {
			return body
		}
		// Some compatible servers (Ollama, llama.cpp builds) answer
		// {"error":"..."}: keep their explanation.
		if e.Type == gjson.String && e.String() != "" {
			msg += ": " + e.String()
		}
	}
	return provider.ErrorJSON(msg, provider.ErrorTypeForStatus(status), "", "")
}

// ProbeRequest implements provider.Adapter: listing models costs no tokens
// and fails with a bad key.
func (a *Adapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.BaseURL+"/models", nil)
	if err != nil {
		return nil, fmt.Errorf("build probe: %w", err)
	}
	setHeaders(req.Header, ep, nil, "")
	return req, nil
}

// WantsMaxCompletionTokens implements provider.TokenLimiter: OpenAI's own
// API wants max_completion_tokens; compatible servers know max_tokens.
func (a *Adapter) WantsMaxCompletionTokens() bool { return a.kind == Kind.Name }

// AcceptsPrefill implements provider.Prefiller: OpenAI-compatible servers
// (vLLM, llama.cpp, Ollama) continue a final assistant message; OpenAI's
// own API answers it as a new turn instead, so the continuation would not
// join the text already sent.
func (a *Adapter) AcceptsPrefill(string) bool { return a.kind != "openai" }
