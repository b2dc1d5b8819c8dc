package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/router"
)

// handlers of the model APIs besides chat (handleChat).

func (g *Gateway) handleMessages(w http.ResponseWriter, r *http.Request) {
	g.handleAPI(provider.APIMessages, w, r)
}

func (g *Gateway) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	g.handleAPI(provider.APICountTokens, w, r)
}

func (g *Gateway) handleResponses(w http.ResponseWriter, r *http.Request) {
	g.handleAPI(provider.APIResponses, w, r)
}

func (g *Gateway) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	g.handleAPI(provider.APIEmbeddings, w, r)
}

func (g *Gateway) handleCompletions(w http.ResponseWriter, r *http.Request) {
	g.handleAPI(provider.APICompletions, w, r)
}

// handleResponse serves GET and DELETE /v1/responses/{id}: the request
// goes to the target that answered the response, and nowhere else (no
// other provider holds it).
func (g *Gateway) handleResponse(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rt := g.rt.Load()
	api := provider.APIResponses
	rec := &record{start: time.Now(), reqID: requestID(r), api: api}
	w.Header()[hdrRequestID] = []string{rec.reqID}
	defer g.finishRecord(ctx, rec)
	fail := func(status int, msg, typ, param, code string) {
		rec.status, rec.errCode = status, code
		if code == "" {
			rec.errCode = errorCodeOf(status)
		}
		writeAPIError(w, api, status, msg, typ, param, code)
	}
	if rt.keys != nil && !g.admit(ctx, rt, w, r, rec) {
		return
	}
	id := r.PathValue("id")
	if id == "" || len(id) > 256 || !validModel(id) {
		fail(http.StatusBadRequest, "The response id is not valid.", provider.ErrTypeInvalidRequest, "response_id", "")
		return
	}
	target, ok := g.responseTarget(ctx, id)
	if !ok {
		fail(http.StatusNotFound, "No response found with id '"+id+"': this gateway did not answer it (only responses answered by a provider with the Responses API are held).", provider.ErrTypeInvalidRequest, "response_id", "response_not_found")
		return
	}
	req := &router.Request{API: api, Method: r.Method, ResourceID: id, Pin: target, Header: forwardHeaders(r.Header)}
	if rt.keys == nil {
		if key, ok := auth.ClientKey(r.Header); ok {
			req.ClientAuth = key
		}
	}
	res, err := rt.router.Do(ctx, req)
	if err != nil {
		var re *router.Error
		if errors.As(err, &re) {
			rec.failover, rec.attempts = re.Failover, re.Attempts
			rec.status, rec.errCode = re.Status, "all_providers_failed"
			meta := metadata{RequestID: rec.reqID, Failover: failoverMeta(re.Failover), Attempts: attemptsMeta(re.Attempts)}
			writeJSON(w, re.Status, appendMetadata(apiErrorJSON(api, re.Status, pinnedMessage(target, id, re), provider.ErrTypeUnavailable, "", "all_providers_failed"), &meta))
			return
		}
		rec.status, rec.errCode = statusClientClosed, "client_canceled"
		return
	}
	rec.provider, rec.model, rec.status = res.Target.ID, res.Model, res.Status
	rec.attempts = res.Attempts
	if res.Status >= 400 {
		rec.errCode = errorCodeOf(res.Status)
	}
	setMetaHeaders(w.Header(), res)
	meta := metadata{Provider: res.Target.ID, RequestID: rec.reqID, Failover: failoverMeta(res.Failover), Attempts: attemptsMeta(res.Attempts)}
	writeJSON(w, res.Status, appendMetadata(res.Body, &meta))
	res.Release()
}

// textField is the field holding an API's input text: the param of a
// policy's refusal.
func textField(api provider.API) string {
	switch api {
	case provider.APIResponses, provider.APIEmbeddings:
		return "input"
	case provider.APICompletions:
		return "prompt"
	default:
		return "messages"
	}
}

// writeAPIError answers with an error body in api's shape.
func writeAPIError(w http.ResponseWriter, api provider.API, status int, msg, typ, param, code string) {
	writeJSON(w, status, apiErrorJSON(api, status, msg, typ, param, code))
}

// apiErrorJSON renders an error in api's shape: Anthropic's
// {"type":"error","error":{"type","message"}} for the Messages API (its
// type follows the status, as Anthropic's does; a param is named in the
// message), else OpenAI's.
func apiErrorJSON(api provider.API, status int, msg, typ, param, code string) []byte {
	if api.Anthropic() {
		if param != "" && !bytes.HasPrefix([]byte(msg), []byte(param+":")) {
			msg = param + ": " + msg
		}
		return provider.AnthropicErrorJSON(provider.AnthropicErrorType(status), msg)
	}
	return provider.ErrorJSON(msg, typ, param, code)
}

// reshapeError turns an OpenAI-shaped error body the router made (a field
// no target takes) into api's shape; a body already in it is kept.
func reshapeError(api provider.API, status int, body []byte) []byte {
	if !api.Anthropic() || gjson.GetBytes(body, "type").Str == "error" {
		return body
	}
	msg := gjson.GetBytes(body, "error.message")
	if !msg.Exists() {
		return body
	}
	return apiErrorJSON(api, status, msg.Str, "", gjson.GetBytes(body, "error.param").Str, "")
}

// streamErrorFrame is the in-band error that ends a committed stream, in
// api's stream format.
func streamErrorFrame(api provider.API, msg, code string) []byte {
	var frame []byte
	switch {
	case api.Anthropic():
		frame = append([]byte("event: error\ndata: "), provider.AnthropicErrorJSON("api_error", msg)...)
	case api == provider.APIResponses:
		frame = append(frame, "event: error\ndata: {\"type\":\"error\",\"code\":"...)
		frame = jsonw.AppendString(frame, code)
		frame = append(frame, `,"message":`...)
		frame = jsonw.AppendString(frame, msg)
		frame = append(frame, `,"param":null,"sequence_number":0}`...)
	default:
		frame = append([]byte("data: "), provider.ErrorJSON(msg, provider.ErrTypeServer, "", code)...)
	}
	return append(frame, "\n\n"...)
}

// servesAny reports whether a target of rtr serves api.
func servesAny(rtr *router.Router, api provider.API) bool {
	for _, t := range rtr.Targets() {
		if t.For(api) != nil {
			return true
		}
	}
	return false
}

// storesResponses reports whether t answers Responses API requests itself
// (not through the chat bridge): only then does the provider hold the
// response for previous_response_id, GET and DELETE.
func storesResponses(t *router.Target) bool {
	ad := t.For(provider.APIResponses)
	if ad == nil {
		return false
	}
	_, bridged := ad.(provider.Bridge)
	return !bridged
}

// responseIDIn finds the response id in the frames of a Responses API
// stream (response.created carries it).
func responseIDIn(frames []byte) string {
	for len(frames) > 0 {
		line := frames
		if i := bytes.IndexByte(frames, '\n'); i >= 0 {
			line, frames = frames[:i], frames[i+1:]
		} else {
			frames = nil
		}
		if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if id := gjson.GetBytes(data, "response.id").Str; id != "" {
				return id
			}
		}
	}
	return ""
}

// pinnedMessage explains a stateful request that could not be served: its
// response is held by one target, which failed or is unavailable, and no
// other provider can continue it.
func pinnedMessage(target, id string, re *router.Error) string {
	why := "is not among this route's targets"
	if n := len(re.Attempts); n > 0 {
		a := re.Attempts[n-1]
		why = "is unavailable (" + string(a.Outcome.Reason)
		if a.Outcome.Status != 0 {
			why += ", HTTP " + strconv.Itoa(a.Outcome.Status)
		}
		why += ")"
	}
	return "The response " + id + " is held by provider " + target + ", which " + why + ". A request that continues or reads a stored response (previous_response_id, GET or DELETE /v1/responses/{id}) cannot fail over to another provider: only that one holds its state. Retry later, or send the conversation again without previous_response_id."
}

// estimateTokens answers count_tokens without a provider that counts (no
// Anthropic target on the route, or none answered): an estimate of about
// four characters per token over the request's text, marked as such in
// the X-Keeptrusts-Token-Count header and the metadata.
func (g *Gateway) estimateTokens(w http.ResponseWriter, rec *record, body []byte) {
	n := estimateInputTokens(body)
	rec.status = http.StatusOK
	rec.usage = provider.Usage{}
	w.Header()["X-Keeptrusts-Token-Count"] = []string{"estimated"}
	out := []byte(`{"input_tokens":`)
	out = strconv.AppendInt(out, n, 10)
	out = append(out, `,"keeptrusts_metadata":{"request_id":`...)
	out = jsonw.AppendString(out, rec.reqID)
	out = append(out, `,"token_count":"estimated"}}`...)
	writeJSON(w, http.StatusOK, out)
}

// estimateInputTokens estimates the input tokens of a Messages API
// request: the characters of its system prompt, messages (text, tool
// inputs and results) and tool definitions over four, plus a few tokens
// per message for the roles and separators, as tokenizers of English text
// roughly do. Images count a flat 1,600 tokens (Anthropic's figure for a
// large image).
func estimateInputTokens(body []byte) int64 {
	var chars, extra int64
	var walk func(v gjson.Result)
	walk = func(v gjson.Result) {
		switch {
		case v.IsObject():
			if v.Get("type").Str == "image" {
				extra += 1600
				return
			}
			v.ForEach(func(k, c gjson.Result) bool {
				if k.Str != "type" && k.Str != "cache_control" {
					walk(c)
				}
				return true
			})
		case v.IsArray():
			v.ForEach(func(_, c gjson.Result) bool { walk(c); return true })
		case v.Type == gjson.String:
			chars += int64(len([]rune(v.Str)))
		}
	}
	root := gjson.ParseBytes(body)
	walk(root.Get("system"))
	msgs := root.Get("messages")
	walk(msgs)
	extra += 4 * int64(len(msgs.Array()))
	walk(root.Get("tools"))
	return (chars+3)/4 + extra
}
