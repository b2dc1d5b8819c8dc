package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file serves Anthropic's own APIs (POST /v1/messages and
// /v1/messages/count_tokens) on anthropic targets: the client's body and
// the upstream's answer, events and errors pass through unchanged, except
// for a mapped model and the credentials.

var _ provider.NativeAdapter = (*adapter)(nil)

// Native returns the passthrough adapter for the Messages and count_tokens
// APIs; nil for the others.
func (a *adapter) Native(api provider.API) provider.Adapter {
	switch api {
	case provider.APIMessages:
		return &native{chat: a, path: "/v1/messages"}
	case provider.APICountTokens:
		return &native{chat: a, path: "/v1/messages/count_tokens", count: true}
	}
	return nil
}

// native is the passthrough for one Anthropic API.
type native struct {
	chat  *adapter
	path  string
	count bool
}

func (n *native) Kind() string { return "anthropic" }

// ChatRequest forwards the client's body to path, with the target's key
// and the client's anthropic-version and anthropic-beta.
func (n *native) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL(ep)+n.path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build anthropic request: %w", err)
	}
	setNativeHeaders(req.Header, ep, r.Header, r.APIKey)
	req.Header.Set("Content-Type", "application/json")
	if r.Stream && !n.count {
		req.Header.Set("Accept", "text/event-stream")
	}
	return req, nil
}

// setNativeHeaders is setHeaders for a client that speaks Anthropic's API
// itself: its anthropic-version (the version its body is written against)
// wins over the target's, and its anthropic-beta is kept. The key is
// always the target's (or r.APIKey): the client's gateway key is not
// forwarded, and one it forwarded anyway is dropped here.
func setNativeHeaders(h http.Header, ep *provider.Endpoint, client http.Header, keyOverride string) {
	version := ""
	for k, v := range client {
		if strings.EqualFold(k, "Anthropic-Version") && len(v) > 0 {
			version = v[0]
		}
	}
	setHeaders(h, ep, client, keyOverride)
	if version != "" {
		h.Set("Anthropic-Version", version)
	}
}

// nativeMessage is what ChatResponse reads of a message or a
// count_tokens answer.
type nativeMessage struct {
	Model       string   `json:"model"`
	StopReason  *string  `json:"stop_reason"`
	Usage       *anUsage `json:"usage"`
	InputTokens *int64   `json:"input_tokens"`
}

// usageOf converts Anthropic usage; provider.Usage's InputTokens include
// the cached tokens, as OpenAI's prompt_tokens do.
func usageOf(u *anUsage) provider.Usage {
	if u == nil {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:         u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:        u.OutputTokens,
		CacheReadTokens:     u.CacheReadInputTokens,
		CacheCreationTokens: u.CacheCreationInputTokens,
	}
}

// ChatResponse keeps the body as it is and reads its model, usage and stop
// reason.
func (n *native) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	var m nativeMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("anthropic answer: %w", err)
	}
	out := &provider.Response{Body: body, Model: m.Model}
	if n.count {
		if m.InputTokens == nil {
			return nil, fmt.Errorf("anthropic count_tokens answer has no input_tokens")
		}
		out.Usage.InputTokens = *m.InputTokens
		out.Model = r.Model
		return out, nil
	}
	out.Usage = usageOf(m.Usage)
	if m.StopReason != nil {
		out.FinishReasons = []string{*m.StopReason}
	}
	return out, nil
}

// NewStream relays the upstream's events one by one.
func (n *native) NewStream(r *provider.Request) provider.Stream {
	return &nativeStream{model: r.Model}
}

// ErrorBody keeps an Anthropic error body (with any key in its message
// masked) and wraps anything else in Anthropic's shape.
func (n *native) ErrorBody(status int, body []byte) []byte {
	var eb anErrorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Message == "" {
		return provider.AnthropicErrorJSON(provider.AnthropicErrorType(status), genericErrorMessage(status))
	}
	typ := eb.Error.Type
	if typ == "" {
		typ = provider.AnthropicErrorType(status)
	}
	if msg := redactKeys(eb.Error.Message); msg != eb.Error.Message || eb.Error.Type == "" || gjson.GetBytes(body, "type").String() != "error" {
		return provider.AnthropicErrorJSON(typ, msg)
	}
	return body
}

// ProbeRequest is the chat adapter's: the target is the same.
func (n *native) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	return n.chat.ProbeRequest(ctx, ep)
}

// nativeStream relays Anthropic events, noting what the router needs.
type nativeStream struct {
	model   string
	usage   anUsage
	reasons []string
	content bool
	done    bool
}

// nativeEvent is what the relay reads of an event.
type nativeEvent struct {
	Type    string `json:"type"`
	Message *struct {
		Model string   `json:"model"`
		Usage *anUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *struct {
		Type string `json:"type"`
	} `json:"content_block"`
	Delta *struct {
		StopReason *string `json:"stop_reason"`
	} `json:"delta"`
	Usage *struct {
		InputTokens              *int64 `json:"input_tokens"`
		OutputTokens             *int64 `json:"output_tokens"`
		CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
		CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	} `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *nativeStream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if len(ev.Data) == 0 {
		// Comments and keep-alives: pass on.
		return append(dst, ev.Raw...), nil
	}
	var e nativeEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return dst, fmt.Errorf("anthropic stream event: %w", provider.ErrMalformedEvent)
	}
	name := string(ev.Name)
	if name == "" {
		name = e.Type
	}
	dst = appendNativeFrame(dst, name, ev.Data)
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			if e.Message.Model != "" {
				s.model = e.Message.Model
			}
			if e.Message.Usage != nil {
				s.usage = *e.Message.Usage
			}
		}
	case "content_block_start":
		if e.ContentBlock != nil && (e.ContentBlock.Type == "tool_use" || e.ContentBlock.Type == "server_tool_use") {
			s.content = true
		}
	case "content_block_delta":
		s.content = true
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != nil {
			s.reasons = append(s.reasons, *e.Delta.StopReason)
		}
		if u := e.Usage; u != nil {
			// message_delta's usage is cumulative: each count it carries
			// replaces message_start's.
			for _, f := range []struct {
				src *int64
				dst *int64
			}{{u.InputTokens, &s.usage.InputTokens}, {u.OutputTokens, &s.usage.OutputTokens}, {u.CacheReadInputTokens, &s.usage.CacheReadInputTokens}, {u.CacheCreationInputTokens, &s.usage.CacheCreationInputTokens}} {
				if f.src != nil {
					*f.dst = *f.src
				}
			}
		}
	case "message_stop":
		s.done = true
	case "error":
		msg := "upstream stream error"
		if e.Error != nil && e.Error.Message != "" {
			msg = redactKeys(e.Error.Message)
		}
		return dst, fmt.Errorf("anthropic stream error: %s", msg)
	}
	return dst, nil
}

// appendNativeFrame writes "event: NAME\ndata: DATA\n\n", one data line per
// line of data, so that an event the upstream split over lines stays one.
func appendNativeFrame(dst []byte, name string, data []byte) []byte {
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

func (s *nativeStream) Finish(dst []byte) ([]byte, error) {
	if s.done {
		return dst, nil
	}
	return dst, fmt.Errorf("anthropic stream ended before message_stop: %w", io.ErrUnexpectedEOF)
}

func (s *nativeStream) Model() string           { return s.model }
func (s *nativeStream) Usage() provider.Usage   { u := s.usage; return usageOf(&u) }
func (s *nativeStream) FinishReasons() []string { return s.reasons }
func (s *nativeStream) Content() bool           { return s.content }
func (s *nativeStream) Done() bool              { return s.done }
