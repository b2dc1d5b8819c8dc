package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

var _ provider.NativeAdapter = (*Adapter)(nil)

// Native implements provider.NativeAdapter: OpenAI and OpenAI-compatible
// servers speak the Responses, Embeddings and legacy Completions APIs
// themselves, so those requests pass through like chat does (only a mapped
// model is spliced in) and their answers and streams are relayed.
func (a *Adapter) Native(api provider.API) provider.Adapter {
	switch api {
	case provider.APIResponses:
		return a.responses
	case provider.APIEmbeddings:
		return a.embeddings
	case provider.APICompletions:
		return a.completions
	}
	return nil
}

// native holds what every native adapter shares with the chat adapter: the
// kind, the error mapping (every OpenAI API has the same error shape) and
// the probe. It is a field, not an embedding of *Adapter, so that a native
// adapter does not pretend to implement the chat-only interfaces
// (provider.Prefiller, provider.NativeAdapter).
type native struct{ a *Adapter }

// Kind implements provider.Adapter.
func (n native) Kind() string { return n.a.kind }

// ErrorBody implements provider.Adapter, as for chat.
func (n native) ErrorBody(status int, body []byte) []byte { return n.a.ErrorBody(status, body) }

// ProbeRequest implements provider.Adapter, as for chat.
func (n native) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	return n.a.ProbeRequest(ctx, ep)
}

// passBody returns the client's body with r.Model spliced in when the body
// names another model; otherwise the body itself, untouched.
func passBody(r *provider.Request) ([]byte, error) {
	bodyModel := r.BodyModel
	if bodyModel == "" {
		bodyModel = gjson.GetBytes(r.Body, "model").String()
	}
	if bodyModel == r.Model {
		return r.Body, nil
	}
	body, err := sjson.SetBytes(r.Body, "model", r.Model)
	if err != nil {
		return nil, &provider.RequestError{Param: "model", Message: err.Error()}
	}
	return body, nil
}

// post builds the POST of the client's body to ep.BaseURL+path.
func post(ctx context.Context, ep *provider.Endpoint, r *provider.Request, path string) (*http.Request, error) {
	body, err := passBody(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.BaseURL+path, bytes.NewReader(body))
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

// responsesAdapter passes the Responses API through: POST /responses, and
// GET / DELETE /responses/{id} for a stored response.
type responsesAdapter struct{ native }

// ChatRequest implements provider.Adapter.
func (n *responsesAdapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	switch r.Method {
	case "", http.MethodPost:
		return post(ctx, ep, r, "/responses")
	case http.MethodGet, http.MethodDelete:
	default:
		return nil, &provider.RequestError{Message: "method " + r.Method + " is not supported on /v1/responses"}
	}
	if r.ResourceID == "" {
		return nil, &provider.RequestError{Param: "response_id", Message: "a response id is required"}
	}
	// The id is the client's: escaped, so that it names one resource and
	// cannot reach another path of the upstream.
	req, err := http.NewRequestWithContext(ctx, r.Method, ep.BaseURL+"/responses/"+url.PathEscape(r.ResourceID), nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	setHeaders(req.Header, ep, r.Header, r.APIKey)
	return req, nil
}

// ChatResponse implements provider.Adapter: the body goes to the client as
// is; the model, usage and status are read from it. A DELETE's answer
// (response.deleted) has none of them.
func (n *responsesAdapter) ChatResponse(body []byte, _ *provider.Request) (*provider.Response, error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, fmt.Errorf("upstream answered invalid JSON")
	}
	res := gjson.GetManyBytes(body, "model", "usage", "status")
	out := &provider.Response{Body: body, Model: res[0].String(), Usage: responsesUsage(res[1])}
	if res[2].Type == gjson.String && res[2].Str != "" {
		out.FinishReasons = []string{res[2].Str}
	}
	return out, nil
}

// responsesUsage reads a Responses API usage object.
func responsesUsage(u gjson.Result) provider.Usage {
	if !u.IsObject() {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:     u.Get("input_tokens").Int(),
		OutputTokens:    u.Get("output_tokens").Int(),
		CacheReadTokens: u.Get("input_tokens_details.cached_tokens").Int(),
	}
}

// NewStream implements provider.Adapter.
func (n *responsesAdapter) NewStream(*provider.Request) provider.Stream { return &responsesStream{} }

// responsesStream relays a Responses API event stream event by event,
// noting the model, whether content went out, and the terminal event's
// status and usage.
type responsesStream struct {
	model   string
	usage   provider.Usage
	reasons []string
	done    bool
	content bool
}

func (s *responsesStream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if len(ev.Data) == 0 {
		// Comments and keep-alives: pass on, they keep idle connections open.
		return append(dst, ev.Raw...), nil
	}
	if !gjson.ValidBytes(ev.Data) {
		return dst, fmt.Errorf("responses stream event: %w", provider.ErrMalformedEvent)
	}
	res := gjson.GetManyBytes(ev.Data, "type", "response")
	name := string(ev.Name)
	if name == "" {
		// Some compatible servers send data-only events; the client's SDK
		// dispatches on the event name, which is the data's type.
		name = res[0].String()
	}
	// A line break in the name (a lone CR ends a line for SSE clients)
	// would let the upstream forge fields of the frame.
	name = strings.Map(dropLineBreaks, name)
	dst = appendEvent(dst, name, ev.Data)
	resp := res[1]
	if s.model == "" && resp.IsObject() {
		s.model = resp.Get("model").String()
	}
	switch name {
	case "response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta":
		if !s.content {
			d := gjson.GetBytes(ev.Data, "delta")
			s.content = d.Type == gjson.String && d.Str != ""
		}
	case "response.output_item.added":
		if !s.content {
			s.content = gjson.GetBytes(ev.Data, "item.type").String() == "function_call"
		}
	case "response.completed", "response.incomplete":
		s.done = true
		s.note(resp)
	case "response.failed":
		s.note(resp)
		return dst, fmt.Errorf("upstream response failed: %s", resp.Get("error.message").String())
	case "error":
		msg := gjson.GetBytes(ev.Data, "message").String()
		if msg == "" {
			msg = gjson.GetBytes(ev.Data, "error.message").String()
		}
		return dst, fmt.Errorf("upstream stream error: %s", msg)
	}
	return dst, nil
}

// note records a terminal event's usage and status.
func (s *responsesStream) note(resp gjson.Result) {
	if u := resp.Get("usage"); u.IsObject() {
		s.usage = responsesUsage(u)
	}
	if st := resp.Get("status"); st.Type == gjson.String && st.Str != "" {
		s.reasons = append(s.reasons, st.Str)
	}
}

// dropLineBreaks is a strings.Map function deleting CR and LF.
func dropLineBreaks(r rune) rune {
	if r == '\r' || r == '\n' {
		return -1
	}
	return r
}

// appendEvent frames one event, named unless name is empty. The data's line breaks (JSON
// pretty-printed by a compatible server) each start a new data: line, so
// that the client joins them back to the same data.
func appendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			return append(dst, "\n\n"...)
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		data = data[i+1:]
	}
}

// Finish reports a stream that ended before response.completed or
// response.incomplete as cut: there is no end marker to add for it.
func (s *responsesStream) Finish(dst []byte) ([]byte, error) {
	if s.done {
		return dst, nil
	}
	return dst, fmt.Errorf("stream ended before response.completed: %w", io.ErrUnexpectedEOF)
}

func (s *responsesStream) Model() string           { return s.model }
func (s *responsesStream) Usage() provider.Usage   { return s.usage }
func (s *responsesStream) FinishReasons() []string { return s.reasons }
func (s *responsesStream) Content() bool           { return s.content }
func (s *responsesStream) Done() bool              { return s.done }

// embeddingsAdapter passes POST /embeddings through.
type embeddingsAdapter struct{ native }

// ChatRequest implements provider.Adapter.
func (n *embeddingsAdapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	return post(ctx, ep, r, "/embeddings")
}

// ChatResponse implements provider.Adapter: the body as is, with the
// model and the input tokens read from it.
func (n *embeddingsAdapter) ChatResponse(body []byte, _ *provider.Request) (*provider.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("upstream answered invalid JSON")
	}
	res := gjson.GetManyBytes(body, "model", "usage.prompt_tokens", "data")
	if !res[2].IsArray() {
		return nil, fmt.Errorf("upstream answer is not an embedding list")
	}
	return &provider.Response{Body: body, Model: res[0].String(), Usage: provider.Usage{InputTokens: res[1].Int()}}, nil
}

// NewStream implements provider.Adapter. Embeddings are never streamed; a
// stream handed to it anyway is relayed as chunks are (which also reports
// it incomplete when it has no [DONE]).
func (n *embeddingsAdapter) NewStream(*provider.Request) provider.Stream { return &stream{} }

// completionsAdapter passes the legacy POST /completions through; its
// answers and streams have the chat completion's shape but for the text,
// which is choices[].text instead of a message or a delta.
type completionsAdapter struct{ native }

// ChatRequest implements provider.Adapter.
func (n *completionsAdapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	return post(ctx, ep, r, "/completions")
}

// ChatResponse implements provider.Adapter: as for chat (choices with a
// finish_reason, usage in prompt_tokens / completion_tokens).
func (n *completionsAdapter) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	return n.a.ChatResponse(body, r)
}

// NewStream implements provider.Adapter: chat's relay (usage, finish
// reasons, [DONE], errors) with the legacy content rule.
func (n *completionsAdapter) NewStream(*provider.Request) provider.Stream {
	return &stream{hasContent: hasText}
}

// hasText reports whether a legacy completion chunk carries text: a
// non-empty choices[].text.
func hasText(data []byte) bool {
	if !bytes.Contains(data, []byte(`"text"`)) {
		return false
	}
	found := false
	gjson.GetBytes(data, "choices").ForEach(func(_, c gjson.Result) bool {
		t := c.Get("text")
		found = t.Type == gjson.String && t.Str != ""
		return !found
	})
	return found
}
