package anthropic

import (
	"encoding/json"
	"fmt"
)

// Decoding of the two bodies the translator reads whole: the client's Chat
// Completions request and Anthropic's message. Each is located in one pass
// by the reader of jsontext.go into a view whose strings are literals and
// whose unions are raw values, all spans of the body: nothing is copied or
// unescaped until it is needed, and most strings never are, being written
// out as they came.
//
// The views mirror the encoding/json wire types of types.go (oaRequest,
// anResponse), which remain the definition of each field: a body the reader
// is not sure of goes to encoding/json with those types. Its error is the
// answer; a body it accepts is encoded again in canonical form (exact keys,
// each once) and read by the fast reader, so that the translation itself
// has one implementation.

// reqBody is oaRequest located in src, the client's body (or its canonical
// form, see decodeRequest).
type reqBody struct {
	src                 []byte
	model               span
	messages            []reqMessage
	maxTokens           optInt
	maxCompletionTokens optInt
	temperature         optFloat
	topP                optFloat
	stop                span
	tools               []reqTool
	calls               []reqToolCall // the messages' tool calls, in order
	toolChoice          span
	parallelToolCalls   optBool
	responseFormat      reqFormat
	user                span
	safetyIdentifier    span
	n                   optInt
	logprobs            optBool
	topLogprobs         optInt
	frequencyPenalty    optFloat
	presencePenalty     optFloat
	logitBias           bool // a non-empty object
	modalities          span
	audio               span
	functions           span
	functionCall        span
	reasoningEffort     span
	verbosity           span
	webSearchOptions    span
}

// reqMessage is oaMessage; its tool calls are reqBody.calls[calls:callsEnd].
type reqMessage struct {
	role         span
	kind         role
	content      span
	refusal      span
	calls        int
	callsEnd     int
	toolCallID   span
	audio        span
	functionCall span
}

// role classifies a message's role once for the translator's passes.
type role uint8

const (
	roleOther  role = iota // unsupported: an error when reached
	roleSystem             // system or developer
	roleUser
	roleAssistant
	roleTool
)

func roleOf(s jstr) role {
	switch {
	case s.is("system"), s.is("developer"):
		return roleSystem
	case s.is("user"):
		return roleUser
	case s.is("assistant"):
		return roleAssistant
	case s.is("tool"):
		return roleTool
	}
	return roleOther
}

// reqToolCall is oaToolCall.
type reqToolCall struct {
	id, typ         span
	name, arguments span
}

// reqTool is oaTool; function reports a non-null function object,
// compact parameters without white space to drop.
type reqTool struct {
	typ         span
	function    bool
	name        span
	description span
	parameters  span
	compact     bool
}

// reqFormat is *oaResponseFormat: set reports a non-null object, jsonSchema
// a non-null json_schema.
type reqFormat struct {
	set         bool
	typ         span
	jsonSchema  bool
	name        span
	description span
	schema      span
}

// reqPart is oaPart; imageURL and file report non-null objects.
type reqPart struct {
	typ, text, refusal span
	imageURL           bool
	url                span
	file               bool
	fileData, fileID   span
}

// decodeRequest locates the fields of the client's body.
func decodeRequest(body []byte) (reqBody, error) {
	in := reqBody{src: body}
	if in.decode() {
		return in, nil
	}
	var legacy oaRequest
	if err := json.Unmarshal(body, &legacy); err != nil {
		return reqBody{}, decodeError(err)
	}
	if canon, err := marshalNoEscape(&legacy); err == nil {
		in = reqBody{src: canon}
		if in.decode() {
			return in, nil
		}
	}
	// Not reached: the canonical form is what the fast reader reads.
	return reqBody{}, reqErr("", "request body could not be decoded")
}

// The decoders below hold only their per-key logic (a fieldFunc for
// reader.object) or per-element logic (for reader.array); the reader owns
// null, the brackets, the separators, the keys and the duplicate-key guard.

func (in *reqBody) decode() bool {
	r := reader{b: in.src}
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "model":
			return 0, r.stringField(&in.model)
		case "messages":
			return 1, in.decodeMessages(&r)
		case "max_tokens":
			return 2, r.intField(&in.maxTokens)
		case "max_completion_tokens":
			return 3, r.intField(&in.maxCompletionTokens)
		case "temperature":
			return 4, r.floatField(&in.temperature)
		case "top_p":
			return 5, r.floatField(&in.topP)
		case "stop":
			return 6, r.rawField(&in.stop)
		case "tools":
			return 7, in.decodeTools(&r)
		case "tool_choice":
			return 8, r.rawField(&in.toolChoice)
		case "parallel_tool_calls":
			return 9, r.boolField(&in.parallelToolCalls)
		case "response_format":
			return 10, in.decodeResponseFormat(&r)
		case "user":
			return 11, r.stringField(&in.user)
		case "safety_identifier":
			return 12, r.stringField(&in.safetyIdentifier)
		case "n":
			return 13, r.intField(&in.n)
		case "logprobs":
			return 14, r.boolField(&in.logprobs)
		case "top_logprobs":
			return 15, r.intField(&in.topLogprobs)
		case "frequency_penalty":
			return 16, r.floatField(&in.frequencyPenalty)
		case "presence_penalty":
			return 17, r.floatField(&in.presencePenalty)
		case "logit_bias":
			return 18, in.decodeLogitBias(&r)
		case "modalities":
			return 19, decodeStrings(&r, &in.modalities)
		case "audio":
			return 20, r.rawField(&in.audio)
		case "functions":
			return 21, r.rawField(&in.functions)
		case "function_call":
			return 22, r.rawField(&in.functionCall)
		case "reasoning_effort":
			return 23, r.stringField(&in.reasoningEffort)
		case "verbosity":
			return 24, r.stringField(&in.verbosity)
		case "web_search_options":
			return 25, r.rawField(&in.webSearchOptions)
		}
		return r.unknown(key)
	}) && r.end()
}

// grow appends a zero element to *s, making room for n at the first, and
// returns it.
func grow[T any](s *[]T, n int) *T {
	if *s == nil {
		*s = make([]T, 0, n)
	}
	var zero T
	*s = append(*s, zero)
	return &(*s)[len(*s)-1]
}

func (in *reqBody) decodeMessages(r *reader) bool {
	return r.array(func() bool {
		m := grow(&in.messages, 8)
		if !in.decodeMessage(r, m) {
			return false
		}
		m.kind = roleOf(m.role.str(in.src))
		return true
	})
}

func (in *reqBody) decodeMessage(r *reader, m *reqMessage) bool {
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "role":
			return 0, r.stringField(&m.role)
		case "content":
			return 1, r.rawField(&m.content)
		case "refusal":
			return 2, r.stringField(&m.refusal)
		case "tool_calls":
			m.calls = len(in.calls)
			ok := in.decodeToolCalls(r)
			m.callsEnd = len(in.calls)
			return 3, ok
		case "tool_call_id":
			return 4, r.stringField(&m.toolCallID)
		case "audio":
			return 5, r.rawField(&m.audio)
		case "function_call":
			return 6, r.rawField(&m.functionCall)
		}
		return r.unknown(key)
	})
}

// decodeToolCalls appends a message's tool calls to in.calls.
func (in *reqBody) decodeToolCalls(r *reader) bool {
	return r.array(func() bool { return grow(&in.calls, 4).decode(r) })
}

func (tc *reqToolCall) decode(r *reader) bool {
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "id":
			return 0, r.stringField(&tc.id)
		case "type":
			return 1, r.stringField(&tc.typ)
		case "function":
			return 2, tc.decodeFunction(r)
		}
		return r.unknown(key)
	})
}

func (tc *reqToolCall) decodeFunction(r *reader) bool {
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "name":
			return 0, r.stringField(&tc.name)
		case "arguments":
			return 1, r.stringField(&tc.arguments)
		}
		return r.unknown(key)
	})
}

func (in *reqBody) decodeTools(r *reader) bool {
	return r.array(func() bool { return grow(&in.tools, 4).decode(r) })
}

func (t *reqTool) decode(r *reader) bool {
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.stringField(&t.typ)
		case "function":
			return 1, t.decodeFunction(r)
		}
		return r.unknown(key)
	})
}

func (t *reqTool) decodeFunction(r *reader) bool {
	return r.optObject(&t.function, func(key []byte) (int, bool) {
		switch string(key) {
		case "name":
			return 0, r.stringField(&t.name)
		case "description":
			return 1, r.stringField(&t.description)
		case "parameters":
			return 2, r.compactField(&t.parameters, &t.compact)
		}
		return r.unknown(key)
	})
}

func (in *reqBody) decodeResponseFormat(r *reader) bool {
	rf := &in.responseFormat
	return r.optObject(&rf.set, func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.stringField(&rf.typ)
		case "json_schema":
			return 1, rf.decodeSchema(r)
		}
		return r.unknown(key)
	})
}

func (rf *reqFormat) decodeSchema(r *reader) bool {
	return r.optObject(&rf.jsonSchema, func(key []byte) (int, bool) {
		switch string(key) {
		case "name":
			return 0, r.stringField(&rf.name)
		case "description":
			return 1, r.stringField(&rf.description)
		case "schema":
			return 2, r.rawField(&rf.schema)
		}
		return r.unknown(key)
	})
}

// decodeLogitBias checks a map[string]float64 and keeps whether it has an
// entry: only that matters. Any key is an entry, and none is guarded: a
// map keeps the last value.
func (in *reqBody) decodeLogitBias(r *reader) bool {
	return r.object(func([]byte) (int, bool) {
		var v optFloat
		if !r.floatField(&v) {
			return -1, false
		}
		in.logitBias = true
		return -1, true
	})
}

// decodeStrings checks a []string and keeps it raw.
func decodeStrings(r *reader, raw *span) bool {
	isArray := r.peek() == '['
	start := r.i
	if !r.array(func() bool {
		var s span
		return r.stringField(&s)
	}) {
		return false
	}
	if isArray {
		*raw = span{start, r.i}
	}
	return true
}

// readParts decodes array content (oaPart elements), the value at the
// start of b, into dst.
func readParts(dst []reqPart, b []byte) ([]reqPart, bool) {
	r := reader{b: b}
	if r.peek() != '[' {
		return dst, false
	}
	ok := r.array(func() bool {
		dst = append(dst, reqPart{})
		return dst[len(dst)-1].decode(&r)
	})
	return dst, ok
}

func (p *reqPart) decode(r *reader) bool {
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.stringField(&p.typ)
		case "text":
			return 1, r.stringField(&p.text)
		case "refusal":
			return 2, r.stringField(&p.refusal)
		case "image_url":
			return 3, p.decodeImageURL(r)
		case "file":
			return 4, p.decodeFile(r)
		}
		return r.unknown(key)
	})
}

func (p *reqPart) decodeImageURL(r *reader) bool {
	return r.optObject(&p.imageURL, func(key []byte) (int, bool) {
		var ignored span
		switch string(key) {
		case "url":
			return 0, r.stringField(&p.url)
		case "detail":
			return 1, r.stringField(&ignored)
		}
		return r.unknown(key)
	})
}

func (p *reqPart) decodeFile(r *reader) bool {
	return r.optObject(&p.file, func(key []byte) (int, bool) {
		var ignored span
		switch string(key) {
		case "file_data":
			return 0, r.stringField(&p.fileData)
		case "file_id":
			return 1, r.stringField(&p.fileID)
		case "filename":
			return 2, r.stringField(&ignored)
		}
		return r.unknown(key)
	})
}

// respBody is anResponse located in src, Anthropic's body (or its
// canonical form).
type respBody struct {
	src            []byte
	id, typ, model span
	content        []respBlock
	stopReason     span
	usage          anUsage
}

// respBlock is anRespBlock; compact reports an input without white space
// to drop.
type respBlock struct {
	typ, text, id, name span
	input               span
	compact             bool
}

// decodeResponse locates the fields of Anthropic's answer.
func decodeResponse(body []byte) (respBody, error) {
	in := respBody{src: body}
	if in.decode() {
		return in, nil
	}
	var legacy anResponse
	if err := json.Unmarshal(body, &legacy); err != nil {
		return respBody{}, fmt.Errorf("decode anthropic message: %w", err)
	}
	if canon, err := marshalNoEscape(&legacy); err == nil {
		in = respBody{src: canon}
		if in.decode() {
			return in, nil
		}
	}
	// Not reached: the canonical form is what the fast reader reads.
	return respBody{}, fmt.Errorf("decode anthropic message: unreadable canonical form")
}

func (in *respBody) decode() bool {
	r := reader{b: in.src}
	return r.object(func(key []byte) (int, bool) {
		var role span
		switch string(key) {
		case "id":
			return 0, r.stringField(&in.id)
		case "type":
			return 1, r.stringField(&in.typ)
		case "role":
			return 2, r.stringField(&role)
		case "model":
			return 3, r.stringField(&in.model)
		case "content":
			return 4, in.decodeContent(&r)
		case "stop_reason":
			return 5, r.stringField(&in.stopReason)
		case "usage":
			return 6, in.decodeUsage(&r)
		}
		return r.unknown(key)
	}) && r.end()
}

func (in *respBody) decodeContent(r *reader) bool {
	return r.array(func() bool { return grow(&in.content, 4).decode(r) })
}

func (b *respBlock) decode(r *reader) bool {
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.stringField(&b.typ)
		case "text":
			return 1, r.stringField(&b.text)
		case "id":
			return 2, r.stringField(&b.id)
		case "name":
			return 3, r.stringField(&b.name)
		case "input":
			return 4, r.compactField(&b.input, &b.compact)
		}
		return r.unknown(key)
	})
}

func (in *respBody) decodeUsage(r *reader) bool {
	u := &in.usage
	return r.object(func(key []byte) (int, bool) {
		var f int
		var dst *int64
		switch string(key) {
		case "input_tokens":
			f, dst = 0, &u.InputTokens
		case "output_tokens":
			f, dst = 1, &u.OutputTokens
		case "cache_creation_input_tokens":
			f, dst = 2, &u.CacheCreationInputTokens
		case "cache_read_input_tokens":
			f, dst = 3, &u.CacheReadInputTokens
		default:
			return r.unknown(key)
		}
		// An int64 field: null leaves it as it was, 0 (it is decoded once).
		var v optInt
		ok := r.intField(&v)
		*dst = v.v
		return f, ok
	})
}

// readIncludeUsage is includeUsage's fast path: the one field of
// oaStreamFlags, read with the rules of decodeRequest; false ok means
// encoding/json must decide.
func readIncludeUsage(body []byte) (v, ok bool) {
	r := reader{b: body}
	ok = r.object(func(key []byte) (int, bool) {
		if string(key) != "stream_options" {
			return r.unknown(key)
		}
		var ok bool
		v, ok = readStreamOptions(&r)
		return 0, ok
	}) && r.end()
	return v && ok, ok
}

func readStreamOptions(r *reader) (v, ok bool) {
	ok = r.object(func(key []byte) (int, bool) {
		if string(key) != "include_usage" {
			return r.unknown(key)
		}
		var b optBool
		ok := r.boolField(&b)
		v = b.v
		return 0, ok
	})
	return v && ok, ok
}
