package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keeptrusts/gateway/pkg/jsontext"
	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates between OpenAI Chat Completions and Anthropic Messages
// for whole (non-streaming) requests and answers.
//
// Choices made where the two APIs differ:
//   - system and developer messages, wherever they stand, become the top-level
//     system prompt as text blocks in their original order.
//   - consecutive messages of one role are merged into one Anthropic message,
//     and tool messages become tool_result blocks of a user message, because
//     Anthropic requires alternating roles.
//   - response_format json_object/json_schema has no portable Anthropic
//     counterpart; the best feasible rendering is an extra system instruction
//     asking for JSON only (conforming to the schema when one is given).
//   - a field that would change the answer but cannot be expressed (n > 1,
//     logprobs, audio, penalties, logit_bias, reasoning_effort, ...) is a
//     *provider.RequestError naming it, never silently dropped.
//   - ignored because they do not change what the answer says: seed (OpenAI
//     itself documents it as best effort), service_tier, store, metadata,
//     prediction, prompt_cache_key, stream_options (read by the stream
//     translator), message name fields and image detail. Unknown fields are
//     ignored as OpenAI adds new ones faster than any gateway could list.
//
// Both directions run once per request, so they read their body in one pass
// (decode.go) and write the other side's body directly, in the field order
// and with the escaping encoding/json used to produce: the same bytes for
// the same input, at a fraction of the cost.

// fallbackMaxTokens is used when neither the client nor the endpoint sets a
// limit: Anthropic requires max_tokens, OpenAI does not.
const fallbackMaxTokens = 4096

// Instructions added to the system prompt for response_format.
const (
	jsonObjectInstruction = "Respond with a single valid JSON object only: no text before or after it and no Markdown code fences."
	jsonSchemaInstruction = "Respond with a single valid JSON value only: no text before or after it and no Markdown code fences. It must conform to this JSON Schema"
)

func reqErr(param, format string, args ...any) error {
	return &provider.RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// firstByte is the first non-space byte of raw, 0 when empty.
func firstByte(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// decodeError turns a json decoding failure of the client's body into a
// RequestError naming the field when the decoder knows it.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return reqErr(te.Field, "expected %s, got %s", jsonKind(te.Type), te.Value)
	}
	return reqErr("", "request body is not valid JSON: %v", err)
}

// jsonKind names the JSON type a Go type decodes from, for error messages
// that should not show Go type names.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another type"
}

// Field paths of RequestErrors, built only when one is returned.
func msgPath(i int) string { return "messages[" + strconv.Itoa(i) + "]" }

func partPath(i, j int) string { return msgPath(i) + ".content[" + strconv.Itoa(j) + "]" }

func toolCallPath(i, j int) string { return msgPath(i) + ".tool_calls[" + strconv.Itoa(j) + "]" }

func toolPath(i int) string { return "tools[" + strconv.Itoa(i) + "]" }

// translateRequest turns the client's OpenAI body into an Anthropic Messages
// body for model. body is expected to be valid JSON (the gateway checks it),
// but anything else is answered with a RequestError too.
//
// The Anthropic body is written in the order of its fields while the
// problems of the client's body are reported in the order they are checked:
// request-level fields, then messages, then tools, then response_format.
func translateRequest(body []byte, model string, stream bool, defaultMaxTokens int) ([]byte, error) {
	in, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	if err := checkUnsupported(&in); err != nil {
		return nil, err
	}
	if model == "" && in.model.Str(in.src).Empty() {
		return nil, reqErr("model", "model is required")
	}
	maxTok, err := maxTokens(&in, defaultMaxTokens)
	if err != nil {
		return nil, err
	}
	if in.temperature.Set {
		// OpenAI accepts 0..2, Anthropic 0..1. Halving would change what a
		// client's 0.7 means; clamping would silently change 1.5. Refuse.
		if t := in.temperature.V; t < 0 || t > 1 {
			return nil, reqErr("temperature", "temperature %s is outside Anthropic's range 0..1", strconv.FormatFloat(t, 'g', -1, 64))
		}
	}
	if in.topP.Set {
		if p := in.topP.V; p < 0 || p > 1 {
			return nil, reqErr("top_p", "top_p must be between 0 and 1")
		}
	}
	stop, err := stopSequences(in.src, in.stop)
	if err != nil {
		return nil, err
	}
	if len(in.messages) == 0 {
		return nil, reqErr("messages", "messages must contain at least one message")
	}
	// response_format's instruction is written with the system prompt, before
	// the messages, but a problem with it is reported after theirs.
	var rfText string
	var rfErr error
	if in.responseFormat.set {
		rfText, rfErr = responseFormatInstruction(in.src, &in.responseFormat)
	}

	// The Anthropic body is about as long as the client's.
	w := reqWriter{src: in.src, calls: in.calls, out: make([]byte, 0, len(body)+len(body)/8+len(rfText)+256)}
	w.out = append(w.out, `{"model":`...)
	if model != "" {
		w.out = jsonw.AppendString(w.out, model)
	} else {
		w.out = jsontext.AppendLit(w.out, w.str(in.model))
	}
	w.out = append(w.out, `,"max_tokens":`...)
	w.out = strconv.AppendInt(w.out, maxTok, 10)
	sysAt, sysErr := w.system(in.messages, rfText)
	if err := w.messages(in.messages, sysAt, sysErr); err != nil {
		return nil, err
	}
	// safety_identifier is OpenAI's successor of user; both are an opaque
	// end-user id, which is what Anthropic's metadata.user_id is.
	if uid := w.str(in.user); !uid.Empty() || !w.str(in.safetyIdentifier).Empty() {
		if uid.Empty() {
			uid = w.str(in.safetyIdentifier)
		}
		w.out = append(w.out, `,"metadata":{"user_id":`...)
		w.out = jsontext.AppendLit(w.out, uid)
		w.out = append(w.out, '}')
	}
	if len(stop) > 0 {
		w.out = append(w.out, `,"stop_sequences":[`...)
		for _, s := range stop {
			w.sep()
			w.out = jsontext.AppendLit(w.out, s)
		}
		w.out = append(w.out, ']')
	}
	if stream {
		w.out = append(w.out, `,"stream":true`...)
	}
	if in.temperature.Set {
		w.out = append(w.out, `,"temperature":`...)
		w.out = jsonw.AppendFloat(w.out, in.temperature.V)
	}
	if in.topP.Set {
		w.out = append(w.out, `,"top_p":`...)
		w.out = jsonw.AppendFloat(w.out, in.topP.V)
	}
	if err := w.tools(&in); err != nil {
		return nil, err
	}
	if rfErr != nil {
		return nil, rfErr
	}
	return append(w.out, '}'), nil
}

// marshalNoEscape encodes v without HTML escaping, so that prompts reach the
// upstream byte for byte as the client wrote them.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkUnsupported rejects fields that change the answer but have no
// Anthropic counterpart.
func checkUnsupported(in *reqBody) error {
	switch {
	case in.n.Set && in.n.V != 1:
		return reqErr("n", "Anthropic returns one choice per request; n must be 1")
	case in.logprobs.Set && in.logprobs.V:
		return reqErr("logprobs", "Anthropic does not return log probabilities")
	case in.topLogprobs.Set && in.topLogprobs.V != 0:
		return reqErr("top_logprobs", "Anthropic does not return log probabilities")
	case in.frequencyPenalty.Set && in.frequencyPenalty.V != 0:
		return reqErr("frequency_penalty", "Anthropic has no frequency penalty; omit it or set it to 0")
	case in.presencePenalty.Set && in.presencePenalty.V != 0:
		return reqErr("presence_penalty", "Anthropic has no presence penalty; omit it or set it to 0")
	case in.logitBias:
		return reqErr("logit_bias", "Anthropic does not support logit_bias")
	case !isNull(in.audio.In(in.src)):
		return reqErr("audio", "Anthropic does not produce audio output")
	case !isNull(in.functions.In(in.src)):
		return reqErr("functions", "the deprecated functions field is not supported; use tools")
	case !isNull(in.functionCall.In(in.src)):
		return reqErr("function_call", "the deprecated function_call field is not supported; use tool_choice")
	case !in.reasoningEffort.Str(in.src).Empty():
		return reqErr("reasoning_effort", "reasoning_effort cannot be expressed for Anthropic models")
	case !in.verbosity.Str(in.src).Empty():
		return reqErr("verbosity", "verbosity cannot be expressed for Anthropic models")
	case !isNull(in.webSearchOptions.In(in.src)):
		return reqErr("web_search_options", "web search is not supported for Anthropic targets")
	}
	if in.modalities != (jsontext.Span{}) {
		// decode checked the array: strings and nulls (which stand for "").
		r := jsontext.NewReaderAt(in.src, in.modalities.Start)
		r.Enter('[')
		for first := true; ; first = false {
			if more, _ := r.More(']', first); !more {
				break
			}
			var sp jsontext.Span
			r.StringField(&sp)
			if m := sp.Str(in.src); !m.Is("text") {
				return reqErr("modalities", "Anthropic only produces text; modality %q is not supported", m.String())
			}
		}
	}
	return nil
}

func maxTokens(in *reqBody, defaultMaxTokens int) (int64, error) {
	// max_completion_tokens replaced max_tokens in OpenAI's API; when a client
	// sends both, the newer one wins.
	switch {
	case in.maxCompletionTokens.Set:
		if in.maxCompletionTokens.V < 1 {
			return 0, reqErr("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
		return in.maxCompletionTokens.V, nil
	case in.maxTokens.Set:
		if in.maxTokens.V < 1 {
			return 0, reqErr("max_tokens", "max_tokens must be at least 1")
		}
		return in.maxTokens.V, nil
	case defaultMaxTokens > 0:
		return int64(defaultMaxTokens), nil
	default:
		return fallbackMaxTokens, nil
	}
}

func stopSequences(src []byte, stop jsontext.Span) ([]jsontext.Lit, error) {
	raw := stop.In(src)
	switch firstByte(raw) {
	case 0, 'n': // null: raw is valid JSON
		return nil, nil
	case '"':
		if jsontext.Lit(raw).Empty() {
			return nil, nil
		}
		return []jsontext.Lit{raw}, nil
	case '[':
		var list []jsontext.Lit
		r := jsontext.NewReaderAt(src, stop.Start)
		r.Enter('[')
		for first := true; ; first = false {
			if more, _ := r.More(']', first); !more {
				break
			}
			var sp jsontext.Span
			if !r.StringField(&sp) {
				return nil, reqErr("stop", "stop must be a string or an array of strings")
			}
			s := sp.Str(src)
			// An empty stop string never matches for OpenAI; Anthropic
			// rejects it.
			if !s.Empty() {
				list = append(list, s)
			}
		}
		return list, nil
	}
	return nil, reqErr("stop", "stop must be a string or an array of strings")
}

// reqWriter writes the Anthropic request body. Methods that append much
// work on a local copy of out and store it once: every store of out through
// the pointer costs a write barrier while the garbage collector runs.
type reqWriter struct {
	src   []byte        // what the reqBody's spans are in
	calls []reqToolCall // reqBody.calls
	out   []byte
	// scratch holds a decoded string (tool arguments, a data URL) while it
	// is used.
	scratch []byte
	// parts holds the decoded parts of one array content while it is used.
	parts []reqPart
}

func (w *reqWriter) str(sp jsontext.Span) jsontext.Lit { return sp.Str(w.src) }
func (w *reqWriter) raw(sp jsontext.Span) []byte       { return sp.In(w.src) }

// sep writes the comma before an array element unless it is the first one.
func (w *reqWriter) sep() { w.out = appendSep(w.out) }

func appendSep(out []byte) []byte {
	if n := len(out); n > 0 && out[n-1] != '[' {
		out = append(out, ',')
	}
	return out
}

func (w *reqWriter) text(s jsontext.Lit) {
	out := appendSep(w.out)
	out = append(out, `{"type":"text","text":`...)
	out = jsontext.AppendLit(out, s)
	w.out = append(out, '}')
}

// unquote returns the value of s; it is valid until the next call.
func (w *reqWriter) unquote(s jsontext.Lit) []byte {
	in := s.Inner()
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return in
	}
	w.scratch = jsontext.AppendUnquoted(w.scratch[:0], s)
	return w.scratch
}

// system writes the system prompt: the text of system and developer
// messages in their order, then the response_format instruction, if any.
// A system message that cannot be translated is returned with its index,
// for messages to report when it reaches it: a problem in an earlier
// message comes first.
func (w *reqWriter) system(msgs []reqMessage, instruction string) (int, error) {
	mark := len(w.out)
	w.out = append(w.out, `,"system":[`...)
	for i := range msgs {
		if m := &msgs[i]; m.kind == roleSystem {
			if _, err := w.textBlocks(m.content, i); err != nil {
				return i, err
			}
		}
	}
	if instruction != "" {
		w.sep()
		w.out = append(w.out, `{"type":"text","text":`...)
		w.out = jsonw.AppendString(w.out, instruction)
		w.out = append(w.out, '}')
	}
	if w.out[len(w.out)-1] == '[' {
		w.out = w.out[:mark]
	} else {
		w.out = append(w.out, ']')
	}
	return -1, nil
}

// messages writes the alternating user/assistant messages. sysAt and
// sysErr are system's result.
func (w *reqWriter) messages(msgs []reqMessage, sysAt int, sysErr error) error {
	w.out = append(w.out, `,"messages":[`...)
	open := roleOther // the role of the message being written, if any
	for i := range msgs {
		if i == sysAt {
			return sysErr
		}
		m := &msgs[i]
		to := roleUser
		switch m.kind {
		case roleSystem:
			continue
		case roleAssistant:
			to = roleAssistant
		case roleOther:
			return reqErr(msgPath(i)+".role", "unsupported message role %q", w.str(m.role).String())
		}
		// Consecutive messages of one role are merged: the blocks go into
		// the open message. An empty message is taken back whole, Anthropic
		// rejects empty messages and they carry nothing for the model.
		mark := len(w.out)
		if to != open {
			if open != roleOther {
				w.out = append(w.out, "]}"...)
			}
			w.sep()
			if to == roleUser {
				w.out = append(w.out, `{"role":"user","content":[`...)
			} else {
				w.out = append(w.out, `{"role":"assistant","content":[`...)
			}
		}
		var n int
		var err error
		switch m.kind {
		case roleUser:
			n, err = w.userBlocks(m.content, i)
		case roleAssistant:
			n, err = w.assistantBlocks(m, i)
		default:
			n, err = w.toolResult(m, i)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			w.out = w.out[:mark]
			continue
		}
		open = to
	}
	if open == roleOther {
		return reqErr("messages", "messages must contain at least one non-empty user or assistant message")
	}
	w.out = append(w.out, "]}]"...)
	return nil
}

// decodeParts decodes the array content of message i; the parts' spans
// are in the returned slice.
func (w *reqWriter) decodeParts(content jsontext.Span, i int) ([]reqPart, []byte, error) {
	raw := w.raw(content)
	parts, ok := readParts(w.parts[:0], raw)
	w.parts = parts[:0]
	if ok {
		return parts, raw, nil
	}
	var legacy []oaPart
	if err := json.Unmarshal(raw, &legacy); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, nil, reqErr(msgPath(i)+".content."+te.Field, "expected %s, got %s", jsonKind(te.Type), te.Value)
		}
		return nil, nil, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
	}
	// Accepted by encoding/json in a form readParts leaves to it (say a
	// repeated key): read its canonical encoding.
	if canon, err := marshalNoEscape(legacy); err == nil {
		if parts, ok = readParts(w.parts[:0], canon); ok {
			return parts, canon, nil
		}
	}
	return nil, nil, reqErr(msgPath(i)+".content", "content could not be decoded")
}

// textBlocks writes content that may only hold text (system, developer,
// tool) and returns the number of blocks written.
func (w *reqWriter) textBlocks(content jsontext.Span, i int) (int, error) {
	switch firstByte(w.raw(content)) {
	case '"':
		s := w.str(content)
		if s.Empty() {
			return 0, nil
		}
		w.text(s)
		return 1, nil
	case '[':
		parts, in, err := w.decodeParts(content, i)
		if err != nil {
			return 0, err
		}
		n := 0
		for j := range parts {
			p := &parts[j]
			if typ := p.typ.Str(in); !typ.Is("text") {
				return 0, reqErr(partPath(i, j)+".type", "only text parts are allowed here, got %q", typ.String())
			}
			if t := p.text.Str(in); !t.Empty() {
				w.text(t)
				n++
			}
		}
		return n, nil
	case 0, 'n':
		return 0, nil
	}
	return 0, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
}

func (w *reqWriter) userBlocks(content jsontext.Span, i int) (int, error) {
	if firstByte(w.raw(content)) != '[' {
		return w.textBlocks(content, i)
	}
	parts, in, err := w.decodeParts(content, i)
	if err != nil {
		return 0, err
	}
	n := 0
	for j := range parts {
		p := &parts[j]
		switch typ := p.typ.Str(in); {
		case typ.Is("text"):
			t := p.text.Str(in)
			if t.Empty() {
				continue
			}
			w.text(t)
		case typ.Is("image_url"):
			u := p.url.Str(in)
			if !p.imageURL || u.Empty() {
				return 0, reqErr(partPath(i, j)+".image_url.url", "image_url.url is required")
			}
			if err := w.image(u, i, j); err != nil {
				return 0, err
			}
		case typ.Is("file"):
			if err := w.file(p, in, i, j); err != nil {
				return 0, err
			}
		case typ.Is("input_audio"):
			return 0, reqErr(partPath(i, j), "Anthropic does not accept audio input")
		default:
			return 0, reqErr(partPath(i, j)+".type", "unsupported content part type %q", typ.String())
		}
		n++
	}
	return n, nil
}

// supportedImageType reports whether Anthropic accepts images of media type mt.
func supportedImageType(mt string) bool {
	switch mt {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// parseDataURL splits "data:<media type>[;params];base64,<data>".
func parseDataURL(u []byte) (mediaType string, data []byte, ok bool) {
	rest, found := bytes.CutPrefix(u, []byte("data:"))
	if !found {
		return "", nil, false
	}
	header, data, found := bytes.Cut(rest, []byte(","))
	if !found {
		return "", nil, false
	}
	header, found = bytes.CutSuffix(header, []byte(";base64"))
	if !found {
		return "", nil, false
	}
	mt, _, _ := bytes.Cut(header, []byte(";"))
	return strings.ToLower(strings.TrimSpace(string(mt))), data, true
}

// image writes an image block for the URL of part j of message i.
func (w *reqWriter) image(s jsontext.Lit, i, j int) error {
	u := w.unquote(s)
	switch {
	case bytes.HasPrefix(u, []byte("data:")):
		mt, data, ok := parseDataURL(u)
		if !ok {
			return reqErr(partPath(i, j)+".image_url.url", "an image data URL must be base64: data:<media type>;base64,<data>")
		}
		if !supportedImageType(mt) {
			return reqErr(partPath(i, j)+".image_url.url", "image media type %q is not supported by Anthropic (image/jpeg, image/png, image/gif, image/webp)", mt)
		}
		w.base64Source("image", mt, data)
	case hasPrefixFold(u, "https://"), hasPrefixFold(u, "http://"):
		w.sep()
		w.out = append(w.out, `{"type":"image","source":{"type":"url","url":`...)
		w.out = jsonw.AppendString(w.out, u)
		w.out = append(w.out, "}}"...)
	default:
		return reqErr(partPath(i, j)+".image_url.url", "an image URL must be an http(s) URL or a base64 data URL")
	}
	return nil
}

// base64Source writes an image or document block of inline data.
func (w *reqWriter) base64Source(typ, mediaType string, data []byte) {
	w.sep()
	w.out = append(w.out, `{"type":"`...)
	w.out = append(w.out, typ...)
	w.out = append(w.out, `","source":{"type":"base64","media_type":`...)
	w.out = jsonw.AppendString(w.out, mediaType)
	if len(data) > 0 {
		w.out = append(w.out, `,"data":`...)
		w.out = jsonw.AppendString(w.out, data)
	}
	w.out = append(w.out, "}}"...)
}

func hasPrefixFold(s []byte, prefix string) bool {
	return len(s) >= len(prefix) && bytes.EqualFold(s[:len(prefix)], []byte(prefix))
}

// file turns an inline PDF into a document block; Anthropic cannot read
// OpenAI file ids.
func (w *reqWriter) file(p *reqPart, in []byte, i, j int) error {
	if !p.file {
		return reqErr(partPath(i, j)+".file", "file is required")
	}
	fd := p.fileData.Str(in)
	if fd.Empty() {
		return reqErr(partPath(i, j)+".file.file_id", "OpenAI file ids cannot be read by Anthropic; send file_data")
	}
	mt, data, ok := parseDataURL(w.unquote(fd))
	if !ok || mt != "application/pdf" {
		return reqErr(partPath(i, j)+".file.file_data", "file_data must be a base64 data URL of a PDF (data:application/pdf;base64,...)")
	}
	w.base64Source("document", mt, data)
	return nil
}

func (w *reqWriter) assistantBlocks(m *reqMessage, i int) (int, error) {
	n := 0
	switch firstByte(w.raw(m.content)) {
	case '"':
		if s := w.str(m.content); !s.Empty() {
			w.text(s)
			n++
		}
	case '[':
		parts, in, err := w.decodeParts(m.content, i)
		if err != nil {
			return 0, err
		}
		for j := range parts {
			p := &parts[j]
			switch typ := p.typ.Str(in); {
			case typ.Is("text"):
				if t := p.text.Str(in); !t.Empty() {
					w.text(t)
					n++
				}
			case typ.Is("refusal"):
				if t := p.refusal.Str(in); !t.Empty() {
					w.text(t)
					n++
				}
			default:
				return 0, reqErr(partPath(i, j)+".type", "unsupported assistant content part type %q", typ.String())
			}
		}
	case 0, 'n':
	default:
		return 0, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
	}
	// A refusal the model gave earlier is part of what it said.
	if refusal := w.str(m.refusal); n == 0 && !refusal.Empty() {
		w.text(refusal)
		n++
	}
	if !isNull(w.raw(m.audio)) {
		return 0, reqErr(msgPath(i)+".audio", "Anthropic cannot replay audio answers")
	}
	if !isNull(w.raw(m.functionCall)) {
		return 0, reqErr(msgPath(i)+".function_call", "the deprecated function_call field is not supported; use tool_calls")
	}
	for j, tc := range w.calls[m.calls:m.callsEnd] {
		if typ := w.str(tc.typ); !typ.Empty() && !typ.Is("function") {
			return 0, reqErr(toolCallPath(i, j)+".type", "unsupported tool call type %q", typ.String())
		}
		id, name := w.str(tc.id), w.str(tc.name)
		if id.Empty() {
			return 0, reqErr(toolCallPath(i, j)+".id", "tool call id is required")
		}
		if name.Empty() {
			return 0, reqErr(toolCallPath(i, j)+".function.name", "function name is required")
		}
		out := appendSep(w.out)
		out = append(out, `{"type":"tool_use","id":`...)
		out = jsontext.AppendLit(out, id)
		out = append(out, `,"name":`...)
		out = jsontext.AppendLit(out, name)
		w.out = append(out, `,"input":`...)
		if err := w.toolInput(w.str(tc.arguments)); err != nil {
			return 0, reqErr(toolCallPath(i, j)+".function.arguments", "%v", err)
		}
		w.out = append(w.out, '}')
		n++
	}
	return n, nil
}

// toolInput writes OpenAI's arguments string as Anthropic's input object.
// The arguments are unescaped at the end of the output and compacted where
// they stand: compacting never makes them longer.
func (w *reqWriter) toolInput(args jsontext.Lit) error {
	mark := len(w.out)
	out := jsontext.AppendUnquoted(w.out, args)
	b := bytes.TrimSpace(out[mark:])
	if len(b) == 0 {
		// Some clients send "" for a function without parameters.
		w.out = append(out[:mark], "{}"...)
		return nil
	}
	valid, compact := jsontext.Valid(b)
	switch {
	case !valid:
		return errors.New("arguments must be a JSON object, got invalid JSON")
	case b[0] != '{':
		return errors.New("arguments must be a JSON object")
	case compact:
		w.out = append(out[:mark], b...)
	default:
		w.out = jsontext.AppendCompact(out[:mark], b)
	}
	return nil
}

// toolResult writes a tool message as a tool_result block. It is kept even
// when empty: the tool_use it answers needs it.
func (w *reqWriter) toolResult(m *reqMessage, i int) (int, error) {
	id := w.str(m.toolCallID)
	if id.Empty() {
		return 0, reqErr(msgPath(i)+".tool_call_id", "tool_call_id is required on tool messages")
	}
	out := appendSep(w.out)
	out = append(out, `{"type":"tool_result","tool_use_id":`...)
	w.out = jsontext.AppendLit(out, id)
	switch firstByte(w.raw(m.content)) {
	case '"':
		if s := w.str(m.content); !s.Empty() {
			out := append(w.out, `,"content":`...)
			w.out = jsontext.AppendLit(out, s)
		}
	case '[':
		mark := len(w.out)
		w.out = append(w.out, `,"content":[`...)
		n, err := w.textBlocks(m.content, i)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			w.out = w.out[:mark]
		} else {
			w.out = append(w.out, ']')
		}
	case 0, 'n':
	default:
		return 0, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
	}
	w.out = append(w.out, '}')
	return 1, nil
}

// toolChoice is Anthropic's tool_choice; an empty typ means none is sent.
type toolChoice struct {
	typ, name       string
	disableParallel bool
}

// tools writes the tool declarations and the tool choice.
func (w *reqWriter) tools(in *reqBody) error {
	if len(in.tools) > 0 {
		w.out = append(w.out, `,"tools":[`...)
		for i := range in.tools {
			t := &in.tools[i]
			if typ := w.str(t.typ); !typ.Is("function") {
				return reqErr(toolPath(i)+".type", "unsupported tool type %q; only function tools can be expressed", typ.String())
			}
			name := w.str(t.name)
			if !t.function || name.Empty() {
				return reqErr(toolPath(i)+".function.name", "function name is required")
			}
			schema, compact := w.raw(t.parameters), t.compact
			switch {
			case isNull(schema):
				// Anthropic requires a schema; OpenAI's absent parameters mean
				// "takes no arguments".
				schema, compact = []byte(`{"type":"object"}`), true
			case firstByte(schema) != '{':
				return reqErr(toolPath(i)+".function.parameters", "parameters must be a JSON Schema object")
			}
			out := appendSep(w.out)
			out = append(out, `{"name":`...)
			out = jsontext.AppendLit(out, name)
			if d := w.str(t.description); !d.Empty() {
				out = append(out, `,"description":`...)
				out = jsontext.AppendLit(out, d)
			}
			out = append(out, `,"input_schema":`...)
			// The client's schema is valid JSON already: it is only compacted.
			if compact {
				out = append(out, schema...)
			} else {
				out = jsontext.AppendCompact(out, schema)
			}
			w.out = append(out, '}')
		}
		w.out = append(w.out, ']')
	}

	choice, err := decodeToolChoice(w.raw(in.toolChoice))
	if err != nil {
		return err
	}
	if len(in.tools) == 0 {
		if choice.typ == "any" || choice.typ == "tool" {
			return reqErr("tool_choice", "tool_choice requires tools")
		}
		// Without tools a choice of none/auto means nothing.
		return nil
	}
	if in.parallelToolCalls.Set && !in.parallelToolCalls.V {
		if choice.typ == "" {
			choice.typ = "auto"
		}
		choice.disableParallel = choice.typ != "none"
	}
	if choice.typ == "" {
		return nil
	}
	w.out = append(w.out, `,"tool_choice":{"type":"`...)
	w.out = append(w.out, choice.typ...)
	w.out = append(w.out, '"')
	if choice.name != "" {
		w.out = append(w.out, `,"name":`...)
		w.out = jsonw.AppendString(w.out, choice.name)
	}
	if choice.disableParallel {
		w.out = append(w.out, `,"disable_parallel_tool_use":true`...)
	}
	w.out = append(w.out, '}')
	return nil
}

func decodeToolChoice(raw []byte) (toolChoice, error) {
	switch firstByte(raw) {
	case 0, 'n': // null: raw is valid JSON
		return toolChoice{}, nil
	case '"':
		switch s := jsontext.Lit(raw); {
		case s.Is("none"):
			// Tools stay declared: Anthropic refuses tool_use blocks in the
			// history of a request that declares no tools.
			return toolChoice{typ: "none"}, nil
		case s.Is("auto"):
			return toolChoice{typ: "auto"}, nil
		case s.Is("required"):
			return toolChoice{typ: "any"}, nil
		default:
			return toolChoice{}, reqErr("tool_choice", "unsupported tool_choice %q", s.String())
		}
	case '{':
		// Rare enough for encoding/json.
		var named oaNamedToolChoice
		if err := json.Unmarshal(raw, &named); err != nil {
			return toolChoice{}, reqErr("tool_choice", "tool_choice must be a string or an object")
		}
		if named.Type != "function" {
			return toolChoice{}, reqErr("tool_choice.type", "unsupported tool_choice type %q", named.Type)
		}
		if named.Function == nil || named.Function.Name == "" {
			return toolChoice{}, reqErr("tool_choice.function.name", "function name is required")
		}
		return toolChoice{typ: "tool", name: named.Function.Name}, nil
	}
	return toolChoice{}, reqErr("tool_choice", "tool_choice must be a string or an object")
}

func responseFormatInstruction(src []byte, rf *reqFormat) (string, error) {
	switch typ := rf.typ.Str(src); {
	case typ.Empty(), typ.Is("text"):
		return "", nil
	case typ.Is("json_object"):
		return jsonObjectInstruction, nil
	case typ.Is("json_schema"):
		schema := rf.schema.In(src)
		if !rf.jsonSchema || isNull(schema) {
			return "", reqErr("response_format.json_schema.schema", "a JSON schema is required")
		}
		text := jsonSchemaInstruction
		if name := rf.name.Str(src); !name.Empty() {
			text += " named " + strconv.Quote(name.String())
		}
		if desc := rf.description.Str(src); !desc.Empty() {
			text += " (" + desc.String() + ")"
		}
		return text + ": " + string(jsontext.AppendCompact(nil, schema)), nil
	default:
		return "", reqErr("response_format.type", "unsupported response_format type %q", typ.String())
	}
}

// finishReason maps Anthropic's stop_reason to OpenAI's finish_reason.
// pause_turn (a server tool paused a long turn) has no OpenAI counterpart;
// the turn did end, so it is "stop". An unknown reason is also "stop": the
// answer is complete, whatever Anthropic calls it.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// usage converts Anthropic's usage. Anthropic counts cached prompt tokens
// apart from input_tokens; OpenAI's prompt_tokens (and provider.Usage's
// InputTokens, as the openai adapter fills it) include them.
func usage(u anUsage) provider.Usage {
	return provider.Usage{
		InputTokens:         u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:        u.OutputTokens,
		CacheReadTokens:     u.CacheReadInputTokens,
		CacheCreationTokens: u.CacheCreationInputTokens,
	}
}

func openAIUsage(u provider.Usage) oaUsage {
	return oaUsage{
		PromptTokens:        u.InputTokens,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         u.InputTokens + u.OutputTokens,
		PromptTokensDetails: oaPromptTokDetails{CachedTokens: u.CacheReadTokens},
	}
}

// translateResponse turns an Anthropic message into an OpenAI chat.completion.
// The id is Anthropic's message id as is (msg_...), so that an answer can be
// found in Anthropic's console; OpenAI clients treat the id as opaque.
// Thinking blocks are dropped: Chat Completions has no place for them and
// their signatures are useless to a client that cannot send them back.
// Server tool blocks (web search) are dropped too: the gateway never asks for
// them.
func translateResponse(body []byte, created int64) (*provider.Response, error) {
	in, err := decodeResponse(body)
	if err != nil {
		return nil, err
	}
	src := in.src
	if typ := in.typ.Str(src); !typ.Is("message") {
		return nil, fmt.Errorf("anthropic answer is not a message (type %q)", typ.String())
	}
	hasText, calls := false, 0
	for i := range in.content {
		switch typ := in.content[i].typ.Str(src); {
		case typ.Is("text"):
			hasText = true
		case typ.Is("tool_use"):
			calls++
		}
	}

	out := make([]byte, 0, len(body)+256)
	out = append(out, `{"id":`...)
	out = jsontext.AppendLit(out, in.id.Str(src))
	out = append(out, `,"object":"chat.completion","created":`...)
	out = strconv.AppendInt(out, created, 10)
	out = append(out, `,"model":`...)
	out = jsontext.AppendLit(out, in.model.Str(src))
	out = append(out, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	// OpenAI answers content null when the model only called tools.
	if hasText || calls == 0 {
		// The text blocks' values, concatenated, as one string.
		out = append(out, '"')
		for i := range in.content {
			if b := &in.content[i]; b.typ.Str(src).Is("text") {
				if t := b.text.Str(src); jsontext.Plain(t.Inner()) {
					out = append(out, t.Inner()...)
				} else {
					out = jsontext.AppendReencoded(out, t)
				}
			}
		}
		out = append(out, '"')
	} else {
		out = append(out, "null"...)
	}
	out = append(out, `,"refusal":null`...)
	if calls > 0 {
		out = append(out, `,"tool_calls":[`...)
		var args []byte
		for i := range in.content {
			b := &in.content[i]
			if !b.typ.Str(src).Is("tool_use") {
				continue
			}
			if out[len(out)-1] != '[' {
				out = append(out, ',')
			}
			out = append(out, `{"id":`...)
			out = jsontext.AppendLit(out, b.id.Str(src))
			out = append(out, `,"type":"function","function":{"name":`...)
			out = jsontext.AppendLit(out, b.name.Str(src))
			out = append(out, `,"arguments":`...)
			switch input := b.input.In(src); {
			case isNull(input):
				out = append(out, `"{}"`...)
			case b.compact:
				out = jsonw.AppendString(out, input)
			default:
				args = jsontext.AppendCompact(args[:0], input)
				out = jsonw.AppendString(out, args)
			}
			out = append(out, "}}"...)
		}
		out = append(out, ']')
	}
	stopReason := in.stopReason.Str(src)
	stop := stopReason.Inner()
	if bytes.IndexByte(stop, '\\') >= 0 || !utf8.Valid(stop) {
		stop = jsontext.AppendUnquoted(nil, stopReason)
	}
	fr := finishReason(string(stop))
	out = append(out, `},"logprobs":null,"finish_reason":"`...)
	out = append(out, fr...)
	u := usage(in.usage)
	ou := openAIUsage(u)
	out = append(out, `"}],"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, ou.PromptTokens, 10)
	out = append(out, `,"completion_tokens":`...)
	out = strconv.AppendInt(out, ou.CompletionTokens, 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, ou.TotalTokens, 10)
	out = append(out, `,"prompt_tokens_details":{"cached_tokens":`...)
	out = strconv.AppendInt(out, ou.PromptTokensDetails.CachedTokens, 10)
	out = append(out, "}}}"...)
	return &provider.Response{Body: out, Model: in.model.Str(src).String(), Usage: u, FinishReasons: []string{fr}}, nil
}
