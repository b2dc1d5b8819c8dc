// Package messages serves Anthropic's Messages API on targets that do not
// speak it: requests are translated to OpenAI Chat Completions for the
// target's own adapter, and answers, streams and errors back
// (request.go, response.go, stream.go; docs/messages.md lists what is
// translated, dropped and refused).
package messages

import (
	"context"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// bridge implements provider.Adapter for the Messages API over a chat
// adapter.
type bridge struct {
	inner  provider.Adapter
	params *provider.ParamTable
}

// Bridge returns the adapter serving the Messages API through inner, a
// target's chat adapter (nil for a nil inner).
func Bridge(inner provider.Adapter) provider.Adapter {
	if inner == nil {
		return nil
	}
	return &bridge{inner: inner, params: paramTable(inner.Kind())}
}

var (
	_ provider.Adapter      = (*bridge)(nil)
	_ provider.ParamAdapter = (*bridge)(nil)
)

// Kind is the inner adapter's: the target's kind.
func (b *bridge) Kind() string { return b.inner.Kind() }

// Wrapped is the chat adapter the bridge hands requests to
// (provider.Bridge).
func (b *bridge) Wrapped() provider.Adapter { return b.inner }

// Params is the table of the Messages request fields a chat target cannot
// take.
func (b *bridge) Params() *provider.ParamTable { return b.params }

// ChatRequest translates the Messages body into a chat request, keeps it
// in r.Inner for ChatResponse and NewStream, and has the inner adapter
// build the upstream request.
func (b *bridge) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	// OpenAI's own API and Azure's want max_completion_tokens (their
	// reasoning models refuse max_tokens); compatible servers know
	// max_tokens. The chat adapter says which.
	tl, ok := b.inner.(provider.TokenLimiter)
	body, err := translateRequest(r.Body, r.Model, r.Stream, ok && tl.WantsMaxCompletionTokens())
	if err != nil {
		return nil, err
	}
	r.Inner = &provider.Request{Body: body, Model: r.Model, BodyModel: r.Model, Stream: r.Stream, Header: chatHeader(r.Header), APIKey: r.APIKey}
	return b.inner.ChatRequest(ctx, ep, r.Inner)
}

// chatHeader is the client's forwarded headers without Anthropic's own
// (anthropic-version, anthropic-beta): they describe the Messages API, not
// the target's.
func chatHeader(h http.Header) http.Header {
	var out http.Header
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "anthropic-") {
			continue
		}
		if out == nil {
			out = make(http.Header, len(h))
		}
		out[k] = v
	}
	return out
}

// inner is the chat request ChatRequest made, or one rebuilt from r for a
// caller that did not go through it.
func (b *bridge) innerReq(r *provider.Request) *provider.Request {
	if r.Inner != nil {
		return r.Inner
	}
	return &provider.Request{Model: r.Model, BodyModel: r.Model, Stream: r.Stream}
}

// ChatResponse translates the chat completion into an Anthropic message.
func (b *bridge) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	in, err := b.inner.ChatResponse(body, b.innerReq(r))
	if err != nil {
		return nil, err
	}
	model := in.Model
	if model == "" {
		model = r.Model
	}
	out, err := translateResponse(in.Body, model, in.Usage)
	if err != nil {
		return nil, err
	}
	return &provider.Response{Body: out, Model: model, Usage: in.Usage, FinishReasons: in.FinishReasons}, nil
}

// NewStream translates the inner stream's chunks into Anthropic events.
func (b *bridge) NewStream(r *provider.Request) provider.Stream {
	return newStream(b.inner.NewStream(b.innerReq(r)), r.Model)
}

// ErrorBody puts the inner adapter's OpenAI error into Anthropic's shape,
// its type from the status as Anthropic's API would answer it.
func (b *bridge) ErrorBody(status int, body []byte) []byte {
	oa := b.inner.ErrorBody(status, body)
	msg := gjson.GetBytes(oa, "error.message").String()
	if msg == "" {
		msg = http.StatusText(status)
	}
	return provider.AnthropicErrorJSON(provider.AnthropicErrorType(status), msg)
}

// ProbeRequest is the inner adapter's: the target is the same.
func (b *bridge) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	return b.inner.ProbeRequest(ctx, ep)
}
