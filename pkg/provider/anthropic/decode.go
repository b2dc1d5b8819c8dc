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

func (in *reqBody) decode() bool {
	r := reader{b: in.src}
	if r.peek() == 'n' {
		return r.literal("null") && r.end()
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok {
			return false
		}
		if !more {
			return r.end()
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "model":
			f, ok = 0, r.stringField(&in.model)
		case "messages":
			f, ok = 1, in.decodeMessages(&r)
		case "max_tokens":
			f, ok = 2, r.intField(&in.maxTokens)
		case "max_completion_tokens":
			f, ok = 3, r.intField(&in.maxCompletionTokens)
		case "temperature":
			f, ok = 4, r.floatField(&in.temperature)
		case "top_p":
			f, ok = 5, r.floatField(&in.topP)
		case "stop":
			f, ok = 6, r.rawField(&in.stop)
		case "tools":
			f, ok = 7, in.decodeTools(&r)
		case "tool_choice":
			f, ok = 8, r.rawField(&in.toolChoice)
		case "parallel_tool_calls":
			f, ok = 9, r.boolField(&in.parallelToolCalls)
		case "response_format":
			f, ok = 10, in.decodeResponseFormat(&r)
		case "user":
			f, ok = 11, r.stringField(&in.user)
		case "safety_identifier":
			f, ok = 12, r.stringField(&in.safetyIdentifier)
		case "n":
			f, ok = 13, r.intField(&in.n)
		case "logprobs":
			f, ok = 14, r.boolField(&in.logprobs)
		case "top_logprobs":
			f, ok = 15, r.intField(&in.topLogprobs)
		case "frequency_penalty":
			f, ok = 16, r.floatField(&in.frequencyPenalty)
		case "presence_penalty":
			f, ok = 17, r.floatField(&in.presencePenalty)
		case "logit_bias":
			f, ok = 18, in.decodeLogitBias(&r)
		case "modalities":
			f, ok = 19, decodeStrings(&r, &in.modalities)
		case "audio":
			f, ok = 20, r.rawField(&in.audio)
		case "functions":
			f, ok = 21, r.rawField(&in.functions)
		case "function_call":
			f, ok = 22, r.rawField(&in.functionCall)
		case "reasoning_effort":
			f, ok = 23, r.stringField(&in.reasoningEffort)
		case "verbosity":
			f, ok = 24, r.stringField(&in.verbosity)
		case "web_search_options":
			f, ok = 25, r.rawField(&in.webSearchOptions)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (in *reqBody) decodeMessages(r *reader) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '[':
	default:
		return false
	}
	r.enter('[')
	if in.messages == nil {
		in.messages = make([]reqMessage, 0, 8)
	}
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok || !more {
			return ok
		}
		in.messages = append(in.messages, reqMessage{})
		m := &in.messages[len(in.messages)-1]
		if !in.decodeMessage(r, m) {
			return false
		}
		m.kind = roleOf(m.role.str(in.src))
	}
}

func (in *reqBody) decodeMessage(r *reader, m *reqMessage) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "role":
			f, ok = 0, r.stringField(&m.role)
		case "content":
			f, ok = 1, r.rawField(&m.content)
		case "refusal":
			f, ok = 2, r.stringField(&m.refusal)
		case "tool_calls":
			m.calls = len(in.calls)
			f, ok = 3, in.decodeToolCalls(r)
			m.callsEnd = len(in.calls)
		case "tool_call_id":
			f, ok = 4, r.stringField(&m.toolCallID)
		case "audio":
			f, ok = 5, r.rawField(&m.audio)
		case "function_call":
			f, ok = 6, r.rawField(&m.functionCall)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

// decodeToolCalls appends a message's tool calls to in.calls.
func (in *reqBody) decodeToolCalls(r *reader) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '[':
	default:
		return false
	}
	r.enter('[')
	if in.calls == nil {
		in.calls = make([]reqToolCall, 0, 4)
	}
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok || !more {
			return ok
		}
		in.calls = append(in.calls, reqToolCall{})
		if !in.calls[len(in.calls)-1].decode(r) {
			return false
		}
	}
}

func (tc *reqToolCall) decode(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "id":
			f, ok = 0, r.stringField(&tc.id)
		case "type":
			f, ok = 1, r.stringField(&tc.typ)
		case "function":
			f, ok = 2, tc.decodeFunction(r)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (tc *reqToolCall) decodeFunction(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "name":
			f, ok = 0, r.stringField(&tc.name)
		case "arguments":
			f, ok = 1, r.stringField(&tc.arguments)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (in *reqBody) decodeTools(r *reader) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '[':
	default:
		return false
	}
	r.enter('[')
	if in.tools == nil {
		in.tools = make([]reqTool, 0, 4)
	}
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok || !more {
			return ok
		}
		in.tools = append(in.tools, reqTool{})
		if !in.tools[len(in.tools)-1].decode(r) {
			return false
		}
	}
}

func (t *reqTool) decode(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "type":
			f, ok = 0, r.stringField(&t.typ)
		case "function":
			f, ok = 1, t.decodeFunction(r)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (t *reqTool) decodeFunction(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	t.function = true
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "name":
			f, ok = 0, r.stringField(&t.name)
		case "description":
			f, ok = 1, r.stringField(&t.description)
		case "parameters":
			f, ok = 2, r.compactField(&t.parameters, &t.compact)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (in *reqBody) decodeResponseFormat(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	rf := &in.responseFormat
	rf.set = true
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "type":
			f, ok = 0, r.stringField(&rf.typ)
		case "json_schema":
			f, ok = 1, rf.decodeSchema(r)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (rf *reqFormat) decodeSchema(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	rf.jsonSchema = true
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "name":
			f, ok = 0, r.stringField(&rf.name)
		case "description":
			f, ok = 1, r.stringField(&rf.description)
		case "schema":
			f, ok = 2, r.rawField(&rf.schema)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

// decodeLogitBias checks a map[string]float64 and keeps whether it has an
// entry: only that matters.
func (in *reqBody) decodeLogitBias(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		if _, ok := r.rawKey(); !ok {
			return false
		}
		var v optFloat
		if !r.floatField(&v) {
			return false
		}
		in.logitBias = true
	}
}

// decodeStrings checks a []string and keeps it raw.
func decodeStrings(r *reader, raw *span) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '[':
	default:
		return false
	}
	start := r.i
	r.enter('[')
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok {
			return false
		}
		if !more {
			*raw = span{start, r.i}
			return true
		}
		var s span
		if !r.stringField(&s) {
			return false
		}
	}
}

// readParts decodes array content (oaPart elements), the value at the
// start of b, into dst.
func readParts(dst []reqPart, b []byte) ([]reqPart, bool) {
	r := reader{b: b}
	if !r.enter('[') {
		return dst, false
	}
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok {
			return dst, false
		}
		if !more {
			return dst, true
		}
		dst = append(dst, reqPart{})
		if !dst[len(dst)-1].decode(&r) {
			return dst, false
		}
	}
}

func (p *reqPart) decode(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "type":
			f, ok = 0, r.stringField(&p.typ)
		case "text":
			f, ok = 1, r.stringField(&p.text)
		case "refusal":
			f, ok = 2, r.stringField(&p.refusal)
		case "image_url":
			f, ok = 3, p.decodeImageURL(r)
		case "file":
			f, ok = 4, p.decodeFile(r)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (p *reqPart) decodeImageURL(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	p.imageURL = true
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		var ignored span
		switch string(key) {
		case "url":
			f, ok = 0, r.stringField(&p.url)
		case "detail":
			f, ok = 1, r.stringField(&ignored)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (p *reqPart) decodeFile(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	p.file = true
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		var ignored span
		switch string(key) {
		case "file_data":
			f, ok = 0, r.stringField(&p.fileData)
		case "file_id":
			f, ok = 1, r.stringField(&p.fileID)
		case "filename":
			f, ok = 2, r.stringField(&ignored)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
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
	if r.peek() == 'n' {
		return r.literal("null") && r.end()
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok {
			return false
		}
		if !more {
			return r.end()
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		var role span
		switch string(key) {
		case "id":
			f, ok = 0, r.stringField(&in.id)
		case "type":
			f, ok = 1, r.stringField(&in.typ)
		case "role":
			f, ok = 2, r.stringField(&role)
		case "model":
			f, ok = 3, r.stringField(&in.model)
		case "content":
			f, ok = 4, in.decodeContent(&r)
		case "stop_reason":
			f, ok = 5, r.stringField(&in.stopReason)
		case "usage":
			f, ok = 6, in.decodeUsage(&r)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (in *respBody) decodeContent(r *reader) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '[':
	default:
		return false
	}
	r.enter('[')
	if in.content == nil {
		in.content = make([]respBlock, 0, 4)
	}
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok || !more {
			return ok
		}
		in.content = append(in.content, respBlock{})
		if !in.content[len(in.content)-1].decode(r) {
			return false
		}
	}
}

func (b *respBlock) decode(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		switch string(key) {
		case "type":
			f, ok = 0, r.stringField(&b.typ)
		case "text":
			f, ok = 1, r.stringField(&b.text)
		case "id":
			f, ok = 2, r.stringField(&b.id)
		case "name":
			f, ok = 3, r.stringField(&b.name)
		case "input":
			f, ok = 4, r.compactField(&b.input, &b.compact)
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

func (in *respBody) decodeUsage(r *reader) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	u := &in.usage
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f := -1
		var v optInt
		switch string(key) {
		case "input_tokens":
			f, ok = 0, r.intField(&v)
			u.InputTokens = v.v
		case "output_tokens":
			f, ok = 1, r.intField(&v)
			u.OutputTokens = v.v
		case "cache_creation_input_tokens":
			f, ok = 2, r.intField(&v)
			u.CacheCreationInputTokens = v.v
		case "cache_read_input_tokens":
			f, ok = 3, r.intField(&v)
			u.CacheReadInputTokens = v.v
		default:
			ok = r.skipUnknown(key)
		}
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

// readIncludeUsage is includeUsage's fast path: the one field of
// oaStreamFlags, read with the rules of decodeRequest; false ok means
// encoding/json must decide.
func readIncludeUsage(body []byte) (v, ok bool) {
	r := reader{b: body}
	if r.peek() == 'n' {
		return false, r.literal("null") && r.end()
	}
	if !r.enter('{') {
		return false, false
	}
	seen := false
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok {
			return false, false
		}
		if !more {
			return v, r.end()
		}
		key, ok := r.key()
		if !ok {
			return false, false
		}
		if string(key) != "stream_options" {
			if !r.skipUnknown(key) {
				return false, false
			}
			continue
		}
		if seen {
			return false, false
		}
		seen = true
		if v, ok = readStreamOptions(&r); !ok {
			return false, false
		}
	}
}

func readStreamOptions(r *reader) (v, ok bool) {
	if r.peek() == 'n' {
		return false, r.literal("null")
	}
	if !r.enter('{') {
		return false, false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return v, ok
		}
		key, ok := r.key()
		if !ok {
			return false, false
		}
		if string(key) != "include_usage" {
			if !r.skipUnknown(key) {
				return false, false
			}
			continue
		}
		var b optBool
		if !seen.see(0) || !r.boolField(&b) {
			return false, false
		}
		v = b.v
	}
}
