// Package responses serves stateless OpenAI Responses API requests on
// targets without that API: requests are translated to Chat Completions
// for the target's own adapter, and answers, streams and errors back.
//
// Only stateless requests can be bridged: a response the bridge answers is
// stored nowhere, so previous_response_id, store: true, background,
// conversation, stored prompts and item_reference inputs are refused by
// the bridge's parameter table and the router skips the target (see
// params.go and docs/responses.md).
package responses

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// bridge implements provider.Adapter for the Responses API on top of a
// chat adapter.
type bridge struct {
	inner  provider.Adapter
	params *provider.ParamTable
	// now and newID are time.Now and randomID outside tests, where
	// golden files need fixed values.
	now   func() time.Time
	newID func(prefix string) string
}

// Bridge returns the adapter serving the Responses API through inner, a
// target's chat adapter; nil for a nil inner.
func Bridge(inner provider.Adapter) provider.Adapter {
	if inner == nil {
		return nil
	}
	return newBridge(inner, time.Now, randomID)
}

func newBridge(inner provider.Adapter, now func() time.Time, newID func(string) string) *bridge {
	return &bridge{inner: inner, params: paramTable(inner), now: now, newID: newID}
}

var (
	_ provider.Adapter      = (*bridge)(nil)
	_ provider.ParamAdapter = (*bridge)(nil)
)

// randomID is prefix followed by 48 random hex digits, the shape of
// OpenAI's own ids (resp_..., msg_..., fc_...). The ids are not derived
// from the upstream's: a client must never take a bridged id for one a
// Responses API target could look up.
func randomID(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return prefix + hex.EncodeToString(b[:])
}

// Kind is the wrapped adapter's kind: the provider that answers.
func (b *bridge) Kind() string { return b.inner.Kind() }

// Params returns the bridge's table over the Responses API's fields
// (provider.ParamAdapter).
func (b *bridge) Params() *provider.ParamTable { return b.params }

// ChatRequest translates the Responses request into a chat request, keeps
// it in r.Inner for ChatResponse and NewStream, and has the wrapped
// adapter build the upstream request from it.
func (b *bridge) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	if r.Method != "" && r.Method != http.MethodPost {
		// GET and DELETE /v1/responses/{id} need the stored response: the
		// router pins them to the target that holds it, never a bridge.
		return nil, &provider.RequestError{Message: r.Method + " /v1/responses/{id} needs a target with the Responses API: bridged responses are not stored"}
	}
	body, err := toChat(r.Body, r.Model)
	if err != nil {
		return nil, err
	}
	r.Inner = &provider.Request{
		Body:      body,
		Model:     r.Model,
		BodyModel: r.Model,
		Stream:    r.Stream,
		Header:    r.Header,
		APIKey:    r.APIKey,
	}
	return b.inner.ChatRequest(ctx, ep, r.Inner)
}

// inner returns the chat request ChatRequest built for r, translating
// again if the caller did not go through ChatRequest (tests, fuzzing).
func (b *bridge) innerRequest(r *provider.Request) *provider.Request {
	if r.Inner != nil {
		return r.Inner
	}
	body, err := toChat(r.Body, r.Model)
	if err != nil {
		body = []byte(`{}`)
	}
	r.Inner = &provider.Request{Body: body, Model: r.Model, BodyModel: r.Model, Stream: r.Stream, Header: r.Header, APIKey: r.APIKey}
	return r.Inner
}

// ErrorBody is the wrapped adapter's: already in OpenAI's error shape,
// which the Responses API shares.
func (b *bridge) ErrorBody(status int, body []byte) []byte { return b.inner.ErrorBody(status, body) }

// ProbeRequest is the wrapped adapter's: the bridge adds no upstream.
func (b *bridge) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	return b.inner.ProbeRequest(ctx, ep)
}

// Wrapped is the chat adapter the bridge hands requests to
// (provider.Bridge).
func (b *bridge) Wrapped() provider.Adapter { return b.inner }
