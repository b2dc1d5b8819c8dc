package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/oklog/ulid/v2"
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/keeptrusts/gateway/pkg/policy"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/router"
)

// forwardedHeaders are the only client headers sent upstream; everything
// else (the client's Authorization above all) stays at the gateway.
var forwardedHeaders = []string{"Anthropic-Beta", "Anthropic-Version", "Openai-Beta"}

// Response headers carrying keeptrusts_metadata's facts (streams cannot
// carry a JSON field).
const (
	hdrRequestID        = "X-Request-Id"
	hdrProvider         = "X-Keeptrusts-Provider"
	hdrModel            = "X-Keeptrusts-Model"
	hdrFailover         = "X-Keeptrusts-Failover"
	hdrOriginalProvider = "X-Keeptrusts-Original-Provider"
	hdrFailoverReason   = "X-Keeptrusts-Failover-Reason"
	hdrAttempts         = "X-Keeptrusts-Attempts"
	hdrPolicy           = "X-Keeptrusts-Policy"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// handleChat serves POST /v1/chat/completions.
func (g *Gateway) handleChat(w http.ResponseWriter, r *http.Request) {
	g.handleAPI(provider.APIChat, w, r)
}

// handleAPI serves a model request to api: every endpoint goes through
// the same steps (keys and limits, policies, the route, the router, the
// event), in the API's own wire format for the body, the answer and the
// errors.
func (g *Gateway) handleAPI(api provider.API, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rt := g.rt.Load()
	rec := &record{start: time.Now(), reqID: requestID(r), api: api}
	w.Header()[hdrRequestID] = []string{rec.reqID}
	defer g.finishRecord(ctx, rec)
	fail := func(status int, msg, typ, param, code string) {
		rec.status = status
		rec.errCode = code
		if code == "" {
			rec.errCode = errorCodeOf(status)
		}
		writeAPIError(w, api, status, msg, typ, param, code)
	}
	if rt.keys != nil && !g.admit(ctx, rt, w, r, rec) {
		return
	}

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			bufPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, rt.maxBody)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, "Request body exceeds the gateway limit of "+strconv.FormatInt(mbe.Limit, 10)+" bytes.", provider.ErrTypeInvalidRequest, "", "request_too_large")
			return
		}
		fail(http.StatusBadRequest, "Could not read the request body.", provider.ErrTypeInvalidRequest, "", "")
		return
	}
	body := buf.Bytes()
	in, perr := parseRequest(api, body)
	if perr != nil {
		fail(http.StatusBadRequest, perr.Message, provider.ErrTypeInvalidRequest, perr.Param, "")
		return
	}
	rec.requestedModel, rec.stream = in.model, in.stream
	if g.events != nil && g.events.includeBodies {
		rec.reqBody = bytes.Clone(body)
	}

	if !rt.policies.Empty() {
		var blocked bool
		var err error
		body, rec.policies, blocked, err = g.evaluatePolicies(ctx, rt.policies, api, body)
		if err != nil {
			if errors.Is(err, policy.ErrMalformedBody) {
				fail(http.StatusBadRequest, "The request could not be checked by the gateway's policies: "+err.Error(), provider.ErrTypeInvalidRequest, textField(api), "")
				return
			}
			g.logger.ErrorContext(ctx, "policy evaluation failed", "request_id", rec.reqID, "error", err)
			fail(http.StatusInternalServerError, "A gateway policy failed to evaluate the request.", provider.ErrTypeServer, "", "policy_error")
			return
		}
		if hdr := policyHeader(rec.policies); hdr != "" {
			w.Header()[hdrPolicy] = []string{hdr}
		}
		if blocked {
			fail(http.StatusBadRequest, "The request was blocked by the gateway's content policy ("+blockedBy(rec.policies)+").", provider.ErrTypeInvalidRequest, textField(api), "content_policy_violation")
			return
		}
	}

	rtr, sticky := rt.router, rt.stickyHeader
	if rt.routes != nil {
		route, ok := rt.routes.Match(in.model)
		if !ok {
			rec.unrouted = true // the name is the client's: no label value
			fail(http.StatusNotFound, "The model `"+in.model+"` does not exist or you do not have access to it.", provider.ErrTypeInvalidRequest, "", "model_not_found")
			return
		}
		rtr, sticky, rec.route = route.Router, route.StickyHeader, route.Model
	}

	req := &router.Request{API: api, Body: body, Model: in.model, Stream: in.stream, Header: forwardHeaders(r.Header)}
	if rt.keys == nil {
		// With auth on, the client's key is the gateway key: never forwarded.
		if key, ok := auth.ClientKey(r.Header); ok {
			req.ClientAuth = key
		}
	}
	if sticky != "" {
		req.StickyKey = r.Header.Get(sticky)
	}
	if in.previousID != "" {
		// A follow-up of a stored response goes where that response is
		// held; one the gateway never saw goes the usual way (only targets
		// with the Responses API take it, and the upstream says if it is
		// unknown).
		req.Pin, _ = g.responseTarget(ctx, in.previousID)
	}
	if api == provider.APICountTokens && !servesAny(rtr, api) {
		g.estimateTokens(w, rec, body)
		return
	}
	rec.prices = rt.prices
	res, err := rtr.Do(ctx, req)
	if err != nil {
		var re *router.Error
		if errors.As(err, &re) {
			rec.failover, rec.attempts = re.Failover, re.Attempts
			if n := len(re.Attempts); n > 0 {
				rec.model = re.Attempts[n-1].Model
			}
			if api == provider.APICountTokens {
				// Counting is advisory: an estimate beats an error.
				g.estimateTokens(w, rec, body)
				return
			}
			rec.status, rec.errCode = re.Status, "all_providers_failed"
			g.logger.WarnContext(ctx, "no provider could serve the request", "request_id", rec.reqID, "error", re.Error())
			meta := metadata{RequestID: rec.reqID, Failover: failoverMeta(re.Failover), Attempts: attemptsMeta(re.Attempts)}
			msg := re.Error() + "."
			if req.Pin != "" {
				msg = pinnedMessage(req.Pin, in.previousID, re)
			}
			writeJSON(w, re.Status, appendMetadata(apiErrorJSON(api, re.Status, msg, provider.ErrTypeUnavailable, unsupportedParam(re.Attempts), "all_providers_failed"), &meta))
			return
		}
		// The client went away: nobody to answer.
		rec.status, rec.errCode = statusClientClosed, "client_canceled"
		return
	}
	rec.provider, rec.model, rec.status = res.Target.ID, res.Model, res.Status
	rec.failover, rec.attempts, rec.usage = res.Failover, res.Attempts, res.Usage
	setMetaHeaders(w.Header(), res)
	if res.Stream != nil {
		g.relay(w, res, rec)
		return
	}
	if res.Status >= 400 {
		rec.errCode = errorCodeOf(res.Status)
		// The router's own refusals (a field no target takes) are in
		// OpenAI's shape; an upstream's error is already the API's.
		res.Body = reshapeError(api, res.Status, res.Body)
	} else if api == provider.APIResponses && storesResponses(res.Target) {
		rec.responseID = gjson.GetBytes(res.Body, "id").String()
	}
	meta := metadata{Provider: res.Target.ID, RequestID: rec.reqID, Failover: failoverMeta(res.Failover), Attempts: attemptsMeta(res.Attempts), Policies: policiesMeta(rec.policies)}
	out := appendMetadata(res.Body, &meta)
	writeJSON(w, res.Status, out)
	if rec.reqBody != nil {
		rec.respBody = out // the event keeps it: not released
	} else {
		res.Release() // out is written: its buffer can serve the next answer
	}
}

// apiInput is what routing needs from a request body, read without
// decoding it.
type apiInput struct {
	model  string
	stream bool
	// previousID is a Responses API request's previous_response_id.
	previousID string
}

// parseChat is parseRequest for the chat API.
func parseChat(body []byte) (apiInput, *provider.RequestError) {
	return parseRequest(provider.APIChat, body)
}

// parseRequest checks the body is a request to api (a JSON object with the
// fields the API requires) and extracts what routing needs in one pass
// over its top level, without decoding it. The body is validated as JSON
// once, here.
func parseRequest(api provider.API, body []byte) (apiInput, *provider.RequestError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return apiInput{}, &provider.RequestError{Message: "The request body is empty; expected a JSON object."}
	}
	if !gjson.ValidBytes(trimmed) {
		return apiInput{}, &provider.RequestError{Message: "The request body is not valid JSON."}
	}
	if trimmed[0] != '{' {
		return apiInput{}, &provider.RequestError{Message: "The request body must be a JSON object."}
	}
	var (
		in                        apiInput
		model, strm, prev, maxTok gjson.Result
		haveModel, haveMaxTok     bool
		required                  gjson.Result // the API's required content field
		haveRequired              bool
		requiredName              = requiredField(api)
	)
	// Read in place (no copy of the body); only the model name and the
	// previous response id are kept beyond this call, and they are cloned.
	gjson.Parse(unsafe.String(unsafe.SliceData(trimmed), len(trimmed))).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			model, haveModel = v, true
		case "stream":
			strm = v
		case "previous_response_id":
			prev = v
		case "max_tokens":
			maxTok, haveMaxTok = v, true
		}
		if requiredName != "" && k.Str == requiredName {
			required, haveRequired = v, true
		}
		return true
	})
	if !haveModel || model.Type != gjson.String || model.Str == "" {
		return apiInput{}, &provider.RequestError{Param: "model", Message: "You must provide a model parameter."}
	}
	if !validModel(model.Str) {
		return apiInput{}, &provider.RequestError{Param: "model", Message: "The model name contains characters that are not allowed."}
	}
	switch api {
	case provider.APIChat, provider.APIMessages, provider.APICountTokens:
		if !haveRequired || !required.IsArray() || !nonEmptyArray(required.Raw) {
			return apiInput{}, &provider.RequestError{Param: "messages", Message: "'messages' must be a non-empty array."}
		}
	case provider.APIEmbeddings, provider.APICompletions:
		ok := haveRequired && (required.Type == gjson.String || (required.IsArray() && nonEmptyArray(required.Raw)))
		if !ok {
			return apiInput{}, &provider.RequestError{Param: requiredName, Message: "'" + requiredName + "' must be a string or a non-empty array."}
		}
	}
	if api == provider.APIMessages && (!haveMaxTok || maxTok.Type != gjson.Number || maxTok.Int() < 1) {
		return apiInput{}, &provider.RequestError{Param: "max_tokens", Message: "max_tokens: a positive integer is required."}
	}
	if api == provider.APIResponses {
		switch prev.Type {
		case gjson.String:
			if !validModel(prev.Str) {
				return apiInput{}, &provider.RequestError{Param: "previous_response_id", Message: "previous_response_id contains characters that are not allowed."}
			}
			in.previousID = strings.Clone(prev.Str)
		case gjson.Null:
		default:
			return apiInput{}, &provider.RequestError{Param: "previous_response_id", Message: "'previous_response_id' must be a string."}
		}
	}
	in.model = strings.Clone(model.Str)
	switch strm.Type {
	case gjson.True:
		if api == provider.APIEmbeddings || api == provider.APICountTokens {
			return apiInput{}, &provider.RequestError{Param: "stream", Message: "'stream' is not supported on " + api.Path() + "."}
		}
		in.stream = true
	case gjson.False, gjson.Null:
	default:
		return apiInput{}, &provider.RequestError{Param: "stream", Message: "'stream' must be a boolean."}
	}
	return in, nil
}

// requiredField is the field holding an API's input, which its requests
// must have; "" when none is required (the Responses API's input may be
// empty on a follow-up).
func requiredField(api provider.API) string {
	switch api {
	case provider.APIEmbeddings:
		return "input"
	case provider.APICompletions:
		return "prompt"
	case provider.APIResponses:
		return ""
	default:
		return "messages"
	}
}

// nonEmptyArray reports whether a raw JSON array has an element.
func nonEmptyArray(raw string) bool {
	for i := 1; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
		case ']':
			return false
		default:
			return true
		}
	}
	return false
}

// validModel rejects model names that could smuggle anything into headers,
// logs or URLs: printable ASCII without spaces, at most 256 bytes.
func validModel(m string) bool {
	if len(m) > 256 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func forwardHeaders(h http.Header) http.Header {
	var out http.Header
	for _, k := range forwardedHeaders {
		if v, ok := h[k]; ok {
			if out == nil {
				out = make(http.Header, 2)
			}
			out[k] = v
		}
	}
	return out
}

// requestID keeps a sane client-supplied X-Request-Id, else makes one.
func requestID(r *http.Request) string {
	if v := r.Header.Get(hdrRequestID); v != "" && len(v) <= 128 && validModel(v) {
		return v
	}
	// A ULID from the runtime's per-thread random source: sortable by time
	// like event ids, without ulid.Make's process-wide lock.
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(time.Now()))
	var entropy [16]byte
	binary.LittleEndian.PutUint64(entropy[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(entropy[8:], rand.Uint64())
	_ = id.SetEntropy(entropy[:10])
	var b [4 + ulid.EncodedSize]byte
	copy(b[:], "req_")
	_ = id.MarshalTextTo(b[4:])
	return strings.ToLower(string(b[:]))
}

func setMetaHeaders(h http.Header, res *router.Result) {
	// One backing array for every value (each clipped to its own element).
	v := make([]string, 6)
	set := func(i int, k, val string) {
		v[i] = val
		h[k] = v[i : i+1 : i+1]
	}
	set(0, hdrProvider, res.Target.ID)
	set(1, hdrModel, res.Model)
	set(2, hdrAttempts, strconv.Itoa(len(res.Attempts)))
	if res.Failover.Triggered {
		set(3, hdrFailover, "true")
		set(4, hdrOriginalProvider, res.Failover.OriginalProvider)
		set(5, hdrFailoverReason, string(res.Failover.Reason))
	} else {
		set(3, hdrFailover, "false")
	}
}

// relay writes a committed stream to the client event by event, flushing
// whenever no further upstream bytes are already waiting. The event's
// status is what the client got: a stream whose end marker was written is
// a success whatever the client does next; one cut or stalled ends with an
// in-band error naming the interruption, never a silent success.
func (g *Gateway) relay(w http.ResponseWriter, res *router.Result, rec *record) {
	s := res.Stream
	defer func() {
		s.Close()
		// The stream's own attempts now cover the whole stream: the one
		// that committed it, then a continuation's.
		if n := len(rec.attempts); n > 0 {
			rec.attempts = append(rec.attempts[:n-1], s.Attempts()...)
		}
		rec.usage = s.Usage()
		if m := s.Model(); m != "" {
			rec.model = m
		}
		if seam := s.Seam(); seam != nil {
			rec.seam = seam
			if s.Outcome().OK() {
				rec.provider = s.Target()
			}
			rec.failover.Leave(seam.From, seam.Interruption.Reason)
		}
		switch out := s.Outcome(); {
		case out.OK():
		case out.Reason == classify.Canceled:
			rec.errCode = "client_canceled"
		case out.Detail == classify.DetailStall:
			rec.errCode = "stream_stalled"
		default:
			rec.errCode = "stream_interrupted"
		}
	}()
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	h["X-Accel-Buffering"] = []string{"no"}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// A Responses API stream names its response in its first event.
	sniff := rec.api == provider.APIResponses && storesResponses(res.Target)
	for {
		b, err := s.Next()
		if len(b) > 0 {
			if rec.ttft == 0 {
				rec.ttft = time.Since(rec.start)
			}
			if sniff {
				if id := responseIDIn(b); id != "" {
					rec.responseID, sniff = id, false
				}
			}
			if _, werr := w.Write(b); werr != nil {
				return
			}
			if !s.Buffered() {
				if ferr := rc.Flush(); ferr != nil {
					return
				}
			}
		}
		if err == nil {
			continue
		}
		if frame := interruptionFrame(rec.api, s); frame != nil {
			_, _ = w.Write(frame)
			_ = rc.Flush()
		}
		return
	}
}

// interruptionFrame is the in-band error that ends a stream cut or stalled
// after it was committed (as OpenAI does), naming the original
// interruption even when a continuation was refused; nil when the stream
// completed, the client left, or the upstream's own error frame went out.
func interruptionFrame(api provider.API, s *router.Stream) []byte {
	out := s.Outcome()
	var msg, code string
	switch {
	case out.Detail == classify.DetailStall:
		msg, code = "The upstream provider "+s.FailedTarget()+" stalled: no data within the stream idle timeout.", "stream_stalled"
	case out.Reason == classify.ConnectionError:
		msg, code = "The upstream provider "+s.FailedTarget()+" closed the stream early.", "stream_interrupted"
	case out.Detail == classify.DetailMalformed:
		msg, code = "The upstream provider "+s.FailedTarget()+" sent a malformed stream event.", "stream_interrupted"
	default:
		return nil
	}
	if seam := s.Seam(); seam != nil && len(s.Attempts()) > 1 {
		msg += " It could not be continued on another provider."
	}
	return streamErrorFrame(api, msg, code)
}

// metadata is keeptrusts_metadata.
type metadata struct {
	Provider  string        `json:"provider,omitempty"`
	RequestID string        `json:"request_id"`
	Failover  failoverJSON  `json:"failover"`
	Attempts  []attemptJSON `json:"attempts"`
	Policies  []policyJSON  `json:"policies,omitempty"`
}

type policyJSON struct {
	Name       string   `json:"name"`
	Outcome    string   `json:"outcome"`
	Categories []string `json:"categories,omitempty"`
}

// policiesMeta lists the policies that hit (pass results stay out of the
// answer; the event has them all).
func policiesMeta(rs []policy.Result) []policyJSON {
	var out []policyJSON
	for _, r := range rs {
		if r.Hit() {
			out = append(out, policyJSON{Name: r.Policy, Outcome: r.Outcome, Categories: r.Categories})
		}
	}
	return out
}

type failoverJSON struct {
	Triggered        bool   `json:"triggered"`
	OriginalProvider string `json:"original_provider,omitempty"`
	Reason           string `json:"reason,omitempty"`
}

type attemptJSON struct {
	Target     string  `json:"target"`
	Model      string  `json:"model"`
	Outcome    string  `json:"outcome"`
	Status     int     `json:"status,omitempty"`
	Skipped    bool    `json:"skipped,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// unsupportedParam is the field every target skipped for unsupported_request
// could not take, the 503's param: "" when none was skipped that way or
// they were skipped for different fields (the message names each).
func unsupportedParam(as []router.Attempt) string {
	param := ""
	for _, a := range as {
		if a.Unsupported == nil {
			continue
		}
		if param != "" && param != a.Unsupported.Param {
			return ""
		}
		param = a.Unsupported.Param
	}
	return param
}

func failoverMeta(f router.Failover) failoverJSON {
	return failoverJSON{Triggered: f.Triggered, OriginalProvider: f.OriginalProvider, Reason: string(f.Reason)}
}

func attemptsMeta(as []router.Attempt) []attemptJSON {
	out := make([]attemptJSON, len(as))
	for i, a := range as {
		out[i] = attemptJSON{
			Target: a.Target, Model: a.Model, Outcome: outcomeName(a), Status: a.Outcome.Status, Skipped: a.Skipped,
			DurationMS: float64(a.Duration.Microseconds()) / 1000,
		}
	}
	return out
}

// appendMetadata splices "keeptrusts_metadata" into a JSON object without
// decoding it: the answer's own bytes are kept as they came, and the
// metadata is appended by hand (it is on every answer). It writes in place
// from the object's closing brace on, into body's spare capacity when there
// is enough (the router reads answers with room to spare): body is consumed.
func appendMetadata(body []byte, m *metadata) []byte {
	end := bytes.LastIndexByte(body, '}')
	if end < 0 {
		return body
	}
	members := bytes.IndexByte(bytes.TrimSpace(body[1:end]), '"') >= 0
	out := body[:end]
	if members {
		out = append(out, ',')
	}
	out = append(out, `"keeptrusts_metadata":{`...)
	if m.Provider != "" {
		out = appendField(out, "provider", m.Provider)
		out = append(out, ',')
	}
	out = appendField(out, "request_id", m.RequestID)
	out = append(out, `,"failover":{"triggered":`...)
	out = strconv.AppendBool(out, m.Failover.Triggered)
	if m.Failover.OriginalProvider != "" {
		out = append(out, ',')
		out = appendField(out, "original_provider", m.Failover.OriginalProvider)
	}
	if m.Failover.Reason != "" {
		out = append(out, ',')
		out = appendField(out, "reason", m.Failover.Reason)
	}
	out = append(out, `},"attempts":[`...)
	for i, a := range m.Attempts {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '{')
		out = appendField(out, "target", a.Target)
		out = append(out, ',')
		out = appendField(out, "model", a.Model)
		out = append(out, ',')
		out = appendField(out, "outcome", a.Outcome)
		if a.Status != 0 {
			out = append(out, `,"status":`...)
			out = strconv.AppendInt(out, int64(a.Status), 10)
		}
		if a.Skipped {
			out = append(out, `,"skipped":true`...)
		}
		out = append(out, `,"duration_ms":`...)
		out = strconv.AppendFloat(out, a.DurationMS, 'f', -1, 64)
		out = append(out, '}')
	}
	out = append(out, ']')
	if len(m.Policies) > 0 {
		out = append(out, `,"policies":[`...)
		for i, p := range m.Policies {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '{')
			out = appendField(out, "name", p.Name)
			out = append(out, ',')
			out = appendField(out, "outcome", p.Outcome)
			if len(p.Categories) > 0 {
				out = append(out, `,"categories":`...)
				out = jsonw.AppendStrings(out, p.Categories)
			}
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	return append(out, "}}"...)
}

func appendField(dst []byte, key, val string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	return jsonw.AppendString(dst, val)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg, typ, param, code string) {
	writeJSON(w, status, provider.ErrorJSON(msg, typ, param, code))
}
