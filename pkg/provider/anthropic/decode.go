package anthropic

import (
	"encoding/json"
	"fmt"

	"github.com/keeptrusts/gateway/pkg/jsontext"
)

// Decoding of the two bodies the translator reads whole: the client's Chat
// Completions request and Anthropic's message. Each is located in one pass
// by pkg/jsontext's reader into a view whose strings are literals and
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
	model               jsontext.Span
	messages            []reqMessage
	maxTokens           jsontext.OptInt
	maxCompletionTokens jsontext.OptInt
	temperature         jsontext.OptFloat
	topP                jsontext.OptFloat
	stop                jsontext.Span
	tools               []reqTool
	calls               []reqToolCall // the messages' tool calls, in order
	toolChoice          jsontext.Span
	parallelToolCalls   jsontext.OptBool
	responseFormat      reqFormat
	user                jsontext.Span
	safetyIdentifier    jsontext.Span
	n                   jsontext.OptInt
	logprobs            jsontext.OptBool
	topLogprobs         jsontext.OptInt
	frequencyPenalty    jsontext.OptFloat
	presencePenalty     jsontext.OptFloat
	logitBias           bool // a non-empty object
	modalities          jsontext.Span
	audio               jsontext.Span
	functions           jsontext.Span
	functionCall        jsontext.Span
	reasoningEffort     jsontext.Span
	verbosity           jsontext.Span
	webSearchOptions    jsontext.Span
}

// reqMessage is oaMessage; its tool calls are reqBody.calls[calls:callsEnd].
type reqMessage struct {
	role         jsontext.Span
	kind         role
	content      jsontext.Span
	refusal      jsontext.Span
	calls        int
	callsEnd     int
	toolCallID   jsontext.Span
	audio        jsontext.Span
	functionCall jsontext.Span
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

func roleOf(s jsontext.Lit) role {
	switch {
	case s.Is("system"), s.Is("developer"):
		return roleSystem
	case s.Is("user"):
		return roleUser
	case s.Is("assistant"):
		return roleAssistant
	case s.Is("tool"):
		return roleTool
	}
	return roleOther
}

// reqToolCall is oaToolCall.
type reqToolCall struct {
	id, typ         jsontext.Span
	name, arguments jsontext.Span
}

// reqTool is oaTool; function reports a non-null function object,
// compact parameters without white space to drop.
type reqTool struct {
	typ         jsontext.Span
	function    bool
	name        jsontext.Span
	description jsontext.Span
	parameters  jsontext.Span
	compact     bool
}

// reqFormat is *oaResponseFormat: set reports a non-null object, jsonSchema
// a non-null json_schema.
type reqFormat struct {
	set         bool
	typ         jsontext.Span
	jsonSchema  bool
	name        jsontext.Span
	description jsontext.Span
	schema      jsontext.Span
}

// reqPart is oaPart; imageURL and file report non-null objects.
type reqPart struct {
	typ, text, refusal jsontext.Span
	imageURL           bool
	url                jsontext.Span
	file               bool
	fileData, fileID   jsontext.Span
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

// The decoders below hold only their per-key logic (a jsontext.FieldFunc for
// reader.object) or per-element logic (for reader.array); the reader owns
// null, the brackets, the separators, the keys and the duplicate-key guard.

func (in *reqBody) decode() bool {
	r := jsontext.NewReader(in.src)
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "model":
			return 0, r.StringField(&in.model)
		case "messages":
			return 1, in.decodeMessages(&r)
		case "max_tokens":
			return 2, r.IntField(&in.maxTokens)
		case "max_completion_tokens":
			return 3, r.IntField(&in.maxCompletionTokens)
		case "temperature":
			return 4, r.FloatField(&in.temperature)
		case "top_p":
			return 5, r.FloatField(&in.topP)
		case "stop":
			return 6, r.RawField(&in.stop)
		case "tools":
			return 7, in.decodeTools(&r)
		case "tool_choice":
			return 8, r.RawField(&in.toolChoice)
		case "parallel_tool_calls":
			return 9, r.BoolField(&in.parallelToolCalls)
		case "response_format":
			return 10, in.decodeResponseFormat(&r)
		case "user":
			return 11, r.StringField(&in.user)
		case "safety_identifier":
			return 12, r.StringField(&in.safetyIdentifier)
		case "n":
			return 13, r.IntField(&in.n)
		case "logprobs":
			return 14, r.BoolField(&in.logprobs)
		case "top_logprobs":
			return 15, r.IntField(&in.topLogprobs)
		case "frequency_penalty":
			return 16, r.FloatField(&in.frequencyPenalty)
		case "presence_penalty":
			return 17, r.FloatField(&in.presencePenalty)
		case "logit_bias":
			return 18, in.decodeLogitBias(&r)
		case "modalities":
			return 19, decodeStrings(&r, &in.modalities)
		case "audio":
			return 20, r.RawField(&in.audio)
		case "functions":
			return 21, r.RawField(&in.functions)
		case "function_call":
			return 22, r.RawField(&in.functionCall)
		case "reasoning_effort":
			return 23, r.StringField(&in.reasoningEffort)
		case "verbosity":
			return 24, r.StringField(&in.verbosity)
		case "web_search_options":
			return 25, r.RawField(&in.webSearchOptions)
		}
		return r.Unknown(key)
	}) && r.End()
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

func (in *reqBody) decodeMessages(r *jsontext.Reader) bool {
	return r.Array(func() bool {
		m := grow(&in.messages, 8)
		if !in.decodeMessage(r, m) {
			return false
		}
		m.kind = roleOf(m.role.Str(in.src))
		return true
	})
}

func (in *reqBody) decodeMessage(r *jsontext.Reader, m *reqMessage) bool {
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "role":
			return 0, r.StringField(&m.role)
		case "content":
			return 1, r.RawField(&m.content)
		case "refusal":
			return 2, r.StringField(&m.refusal)
		case "tool_calls":
			m.calls = len(in.calls)
			ok := in.decodeToolCalls(r)
			m.callsEnd = len(in.calls)
			return 3, ok
		case "tool_call_id":
			return 4, r.StringField(&m.toolCallID)
		case "audio":
			return 5, r.RawField(&m.audio)
		case "function_call":
			return 6, r.RawField(&m.functionCall)
		}
		return r.Unknown(key)
	})
}

// decodeToolCalls appends a message's tool calls to in.calls.
func (in *reqBody) decodeToolCalls(r *jsontext.Reader) bool {
	return r.Array(func() bool { return grow(&in.calls, 4).decode(r) })
}

func (tc *reqToolCall) decode(r *jsontext.Reader) bool {
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "id":
			return 0, r.StringField(&tc.id)
		case "type":
			return 1, r.StringField(&tc.typ)
		case "function":
			return 2, tc.decodeFunction(r)
		}
		return r.Unknown(key)
	})
}

func (tc *reqToolCall) decodeFunction(r *jsontext.Reader) bool {
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "name":
			return 0, r.StringField(&tc.name)
		case "arguments":
			return 1, r.StringField(&tc.arguments)
		}
		return r.Unknown(key)
	})
}

func (in *reqBody) decodeTools(r *jsontext.Reader) bool {
	return r.Array(func() bool { return grow(&in.tools, 4).decode(r) })
}

func (t *reqTool) decode(r *jsontext.Reader) bool {
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.StringField(&t.typ)
		case "function":
			return 1, t.decodeFunction(r)
		}
		return r.Unknown(key)
	})
}

func (t *reqTool) decodeFunction(r *jsontext.Reader) bool {
	return r.OptObject(&t.function, func(key []byte) (int, bool) {
		switch string(key) {
		case "name":
			return 0, r.StringField(&t.name)
		case "description":
			return 1, r.StringField(&t.description)
		case "parameters":
			return 2, r.CompactField(&t.parameters, &t.compact)
		}
		return r.Unknown(key)
	})
}

func (in *reqBody) decodeResponseFormat(r *jsontext.Reader) bool {
	rf := &in.responseFormat
	return r.OptObject(&rf.set, func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.StringField(&rf.typ)
		case "json_schema":
			return 1, rf.decodeSchema(r)
		}
		return r.Unknown(key)
	})
}

func (rf *reqFormat) decodeSchema(r *jsontext.Reader) bool {
	return r.OptObject(&rf.jsonSchema, func(key []byte) (int, bool) {
		switch string(key) {
		case "name":
			return 0, r.StringField(&rf.name)
		case "description":
			return 1, r.StringField(&rf.description)
		case "schema":
			return 2, r.RawField(&rf.schema)
		}
		return r.Unknown(key)
	})
}

// decodeLogitBias checks a map[string]float64 and keeps whether it has an
// entry: only that matters. Any key is an entry, and none is guarded: a
// map keeps the last value.
func (in *reqBody) decodeLogitBias(r *jsontext.Reader) bool {
	return r.Object(func([]byte) (int, bool) {
		var v jsontext.OptFloat
		if !r.FloatField(&v) {
			return -1, false
		}
		in.logitBias = true
		return -1, true
	})
}

// decodeStrings checks a []string and keeps it raw.
func decodeStrings(r *jsontext.Reader, raw *jsontext.Span) bool {
	isArray := r.Peek() == '['
	start := r.Offset()
	if !r.Array(func() bool {
		var s jsontext.Span
		return r.StringField(&s)
	}) {
		return false
	}
	if isArray {
		*raw = jsontext.Span{Start: start, End: r.Offset()}
	}
	return true
}

// readParts decodes array content (oaPart elements), the value at the
// start of b, into dst.
func readParts(dst []reqPart, b []byte) ([]reqPart, bool) {
	r := jsontext.NewReader(b)
	if r.Peek() != '[' {
		return dst, false
	}
	ok := r.Array(func() bool {
		dst = append(dst, reqPart{})
		return dst[len(dst)-1].decode(&r)
	})
	return dst, ok
}

func (p *reqPart) decode(r *jsontext.Reader) bool {
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.StringField(&p.typ)
		case "text":
			return 1, r.StringField(&p.text)
		case "refusal":
			return 2, r.StringField(&p.refusal)
		case "image_url":
			return 3, p.decodeImageURL(r)
		case "file":
			return 4, p.decodeFile(r)
		}
		return r.Unknown(key)
	})
}

func (p *reqPart) decodeImageURL(r *jsontext.Reader) bool {
	return r.OptObject(&p.imageURL, func(key []byte) (int, bool) {
		var ignored jsontext.Span
		switch string(key) {
		case "url":
			return 0, r.StringField(&p.url)
		case "detail":
			return 1, r.StringField(&ignored)
		}
		return r.Unknown(key)
	})
}

func (p *reqPart) decodeFile(r *jsontext.Reader) bool {
	return r.OptObject(&p.file, func(key []byte) (int, bool) {
		var ignored jsontext.Span
		switch string(key) {
		case "file_data":
			return 0, r.StringField(&p.fileData)
		case "file_id":
			return 1, r.StringField(&p.fileID)
		case "filename":
			return 2, r.StringField(&ignored)
		}
		return r.Unknown(key)
	})
}

// respBody is anResponse located in src, Anthropic's body (or its
// canonical form).
type respBody struct {
	src            []byte
	id, typ, model jsontext.Span
	content        []respBlock
	stopReason     jsontext.Span
	usage          anUsage
}

// respBlock is anRespBlock; compact reports an input without white space
// to drop.
type respBlock struct {
	typ, text, id, name jsontext.Span
	input               jsontext.Span
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
	r := jsontext.NewReader(in.src)
	return r.Object(func(key []byte) (int, bool) {
		var role jsontext.Span
		switch string(key) {
		case "id":
			return 0, r.StringField(&in.id)
		case "type":
			return 1, r.StringField(&in.typ)
		case "role":
			return 2, r.StringField(&role)
		case "model":
			return 3, r.StringField(&in.model)
		case "content":
			return 4, in.decodeContent(&r)
		case "stop_reason":
			return 5, r.StringField(&in.stopReason)
		case "usage":
			return 6, in.decodeUsage(&r)
		}
		return r.Unknown(key)
	}) && r.End()
}

func (in *respBody) decodeContent(r *jsontext.Reader) bool {
	return r.Array(func() bool { return grow(&in.content, 4).decode(r) })
}

func (b *respBlock) decode(r *jsontext.Reader) bool {
	return r.Object(func(key []byte) (int, bool) {
		switch string(key) {
		case "type":
			return 0, r.StringField(&b.typ)
		case "text":
			return 1, r.StringField(&b.text)
		case "id":
			return 2, r.StringField(&b.id)
		case "name":
			return 3, r.StringField(&b.name)
		case "input":
			return 4, r.CompactField(&b.input, &b.compact)
		}
		return r.Unknown(key)
	})
}

func (in *respBody) decodeUsage(r *jsontext.Reader) bool {
	u := &in.usage
	return r.Object(func(key []byte) (int, bool) {
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
			return r.Unknown(key)
		}
		// An int64 field: null leaves it as it was, 0 (it is decoded once).
		var v jsontext.OptInt
		ok := r.IntField(&v)
		*dst = v.V
		return f, ok
	})
}

// readIncludeUsage is includeUsage's fast path: the one field of
// oaStreamFlags, read with the rules of decodeRequest; false ok means
// encoding/json must decide.
func readIncludeUsage(body []byte) (v, ok bool) {
	r := jsontext.NewReader(body)
	ok = r.Object(func(key []byte) (int, bool) {
		if string(key) != "stream_options" {
			return r.Unknown(key)
		}
		var ok bool
		v, ok = readStreamOptions(&r)
		return 0, ok
	}) && r.End()
	return v && ok, ok
}

func readStreamOptions(r *jsontext.Reader) (v, ok bool) {
	ok = r.Object(func(key []byte) (int, bool) {
		if string(key) != "include_usage" {
			return r.Unknown(key)
		}
		var b jsontext.OptBool
		ok := r.BoolField(&b)
		v = b.V
		return 0, ok
	})
	return v && ok, ok
}
