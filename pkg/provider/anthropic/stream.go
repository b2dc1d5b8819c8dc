package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file translates Anthropic's streaming events into OpenAI
// chat.completion.chunk frames, one upstream event at a time: every text or
// tool-argument delta is written out as soon as it arrives.
//
//	message_start            → role chunk {"role":"assistant","content":""}
//	content_block_start text → nothing (or its initial text)
//	text_delta               → {"content": ...}
//	content_block_start tool → {"tool_calls":[{index,id,type,function{name,arguments:""}}]}
//	input_json_delta         → {"tool_calls":[{index,function{arguments: ...}}]}
//	thinking/signature/citations deltas, content_block_stop, ping → nothing
//	message_delta            → {} with finish_reason
//	message_stop             → usage chunk (stream_options.include_usage), then [DONE]
//	error                    → OpenAI error frame, and an error
//
// An Anthropic tool_use block's index counts all content blocks; an OpenAI
// tool call index counts tool calls only, hence the tools map.

// Constant pieces of the chunk frames.
var (
	chunkRole      = []byte(`{"role":"assistant","content":""}`)
	chunkEmpty     = []byte(`{}`)
	chunkNoFinish  = []byte(`,"logprobs":null,"finish_reason":null}]}` + "\n\n")
	frameDone      = []byte("data: [DONE]\n\n")
	choicesPrefix  = []byte(`,"choices":[{"index":0,"delta":`)
	usageChunkHead = []byte(`,"choices":[],"usage":{"prompt_tokens":`)
)

// stream implements provider.Stream for one Anthropic response.
type stream struct {
	created      int64
	id           string
	model        string
	includeUsage bool

	// prefix is `data: {"id":..,"object":..,"created":..,"model":..` followed
	// by choicesPrefix; head is the length of the part before choicesPrefix.
	// Built once, on the first chunk, since all chunks share id and model.
	prefix []byte
	head   int

	started     bool // the role chunk was sent
	sentContent bool // a text or tool-call delta was sent
	finished    bool // the finish_reason chunk was sent
	done        bool // message_stop was seen
	failed      bool // an error was returned

	tools   map[int]int // Anthropic content block index → OpenAI tool call index
	usage   anUsage
	reasons []string

	ev anEvent // decoding scratch, reused across events
}

// NewStream returns a translator for one streaming answer. It reads only
// stream_options.include_usage from the client's body.
func (a *adapter) NewStream(r *provider.Request) provider.Stream {
	s := &stream{created: a.now().Unix(), model: r.Model}
	// Most bodies do not ask for usage; skip decoding them again.
	if bytes.Contains(r.Body, []byte("include_usage")) {
		s.includeUsage = includeUsage(r.Body)
	}
	return s
}

// includeUsage reads stream_options.include_usage; a body encoding/json
// cannot decode into oaStreamFlags asks for nothing.
func includeUsage(body []byte) bool {
	if v, ok := readIncludeUsage(body); ok {
		return v
	}
	var f oaStreamFlags
	return json.Unmarshal(body, &f) == nil && f.StreamOptions != nil && f.StreamOptions.IncludeUsage
}

// eventKind returns the event name as a constant string, "" if unknown.
func eventKind(name []byte) string {
	switch string(name) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	}
	return ""
}

// Event translates one upstream event. Every error it returns comes with an
// OpenAI error frame appended to dst, so the caller can write dst and stop.
func (s *stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.done || s.failed {
		return dst, nil
	}
	kind := eventKind(ev.Name)
	switch {
	case len(ev.Name) == 0 && len(ev.Data) == 0:
		return dst, nil // a comment or keep-alive
	case len(ev.Name) == 0:
		// No event: line; Anthropic always sends one, but the data's type
		// names the event just as well.
	case kind == "" || kind == "ping" || kind == "content_block_stop":
		return dst, nil
	case kind == "message_stop":
		return s.messageStop(dst), nil
	}

	if kind == "content_block_delta" {
		if raw, ok := fastTextDelta(ev.Data); ok {
			return s.content(dst, raw, "text_delta")
		}
	}
	s.ev = anEvent{}
	if err := json.Unmarshal(ev.Data, &s.ev); err != nil {
		if len(ev.Name) == 0 {
			return dst, nil // not an Anthropic event at all
		}
		return s.fail(dst, provider.ErrTypeServer, "", "malformed "+kind+" event from anthropic upstream",
			fmt.Errorf("decode anthropic %s event: %w: %w", kind, provider.ErrMalformedEvent, err))
	}
	if kind == "" {
		kind = eventKind([]byte(s.ev.Type))
	}
	switch kind {
	case "message_start":
		return s.messageStart(dst), nil
	case "content_block_start":
		return s.blockStart(dst)
	case "content_block_delta":
		return s.blockDelta(dst)
	case "message_delta":
		return s.messageDelta(dst), nil
	case "message_stop":
		return s.messageStop(dst), nil
	case "error":
		return s.upstreamError(dst)
	}
	return dst, nil
}

func (s *stream) messageStart(dst []byte) []byte {
	if s.started {
		// A second message_start cannot change id or model: chunks already
		// went out with them.
		return dst
	}
	if m := s.ev.Message; m != nil {
		if m.ID != "" {
			s.id = m.ID
		}
		if m.Model != "" {
			s.model = m.Model
		}
		s.usage = m.Usage
	}
	return s.start(dst)
}

// start sends the role chunk once, before anything else.
func (s *stream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	dst = s.open(dst)
	dst = append(dst, chunkRole...)
	return append(dst, chunkNoFinish...)
}

func (s *stream) blockStart(dst []byte) ([]byte, error) {
	cb := s.ev.ContentBlock
	if cb == nil {
		return dst, nil
	}
	switch cb.Type {
	case "text":
		return s.content(dst, cb.Text, "content_block_start")
	case "tool_use":
		if s.tools == nil {
			s.tools = make(map[int]int, 2)
		}
		if _, dup := s.tools[s.ev.Index]; dup {
			return dst, nil
		}
		idx := len(s.tools)
		s.tools[s.ev.Index] = idx
		s.sentContent = true
		dst = s.start(dst)
		dst = s.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(idx), 10)
		dst = append(dst, `,"id":`...)
		dst = jsonw.AppendString(dst, cb.ID)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = jsonw.AppendString(dst, cb.Name)
		dst = append(dst, `,"arguments":""}}]}`...)
		return append(dst, chunkNoFinish...), nil
	}
	// thinking, redacted_thinking and server tool blocks have no place in
	// Chat Completions.
	return dst, nil
}

func (s *stream) blockDelta(dst []byte) ([]byte, error) {
	d := s.ev.Delta
	if d == nil {
		return dst, nil
	}
	switch d.Type {
	case "text_delta":
		return s.content(dst, d.Text, "text_delta")
	case "input_json_delta":
		idx, ok := s.tools[s.ev.Index]
		if !ok {
			return dst, nil // a server tool's input: not the client's tool call
		}
		if !isJSONString(d.PartialJSON) {
			return s.malformed(dst, "input_json_delta")
		}
		if len(d.PartialJSON) == 2 {
			return dst, nil // "" adds nothing
		}
		dst = s.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(idx), 10)
		dst = append(dst, `,"function":{"arguments":`...)
		dst = appendRawString(dst, d.PartialJSON)
		dst = append(dst, `}}]}`...)
		return append(dst, chunkNoFinish...), nil
	}
	return dst, nil
}

// content emits a content delta; raw is a JSON string as Anthropic sent it.
func (s *stream) content(dst []byte, raw json.RawMessage, what string) ([]byte, error) {
	if isNull(raw) {
		return dst, nil
	}
	if !isJSONString(raw) {
		return s.malformed(dst, what)
	}
	if len(raw) == 2 {
		return dst, nil
	}
	s.sentContent = true
	dst = s.start(dst)
	dst = s.open(dst)
	dst = append(dst, `{"content":`...)
	dst = appendRawString(dst, raw)
	dst = append(dst, '}')
	return append(dst, chunkNoFinish...), nil
}

func (s *stream) messageDelta(dst []byte) []byte {
	if u := s.ev.Usage; u != nil {
		// message_delta usage is cumulative; input figures appear there only
		// in newer API versions, so zero means "not sent".
		if u.OutputTokens > 0 {
			s.usage.OutputTokens = u.OutputTokens
		}
		if u.InputTokens > 0 {
			s.usage.InputTokens = u.InputTokens
		}
		if u.CacheReadInputTokens > 0 {
			s.usage.CacheReadInputTokens = u.CacheReadInputTokens
		}
		if u.CacheCreationInputTokens > 0 {
			s.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
		}
	}
	if d := s.ev.Delta; d != nil && d.StopReason != "" {
		return s.finish(dst, finishReason(d.StopReason))
	}
	return dst
}

func (s *stream) finish(dst []byte, reason string) []byte {
	if s.finished {
		return dst
	}
	s.finished = true
	s.reasons = append(s.reasons, reason)
	dst = s.start(dst)
	dst = s.open(dst)
	dst = append(dst, chunkEmpty...)
	dst = append(dst, `,"logprobs":null,"finish_reason":"`...)
	dst = append(dst, reason...)
	return append(dst, "\"}]}\n\n"...)
}

func (s *stream) messageStop(dst []byte) []byte {
	// Clients wait for a finish_reason; a stream that never sent
	// message_delta still ended normally.
	dst = s.finish(dst, "stop")
	if s.includeUsage {
		u := openAIUsage(usage(s.usage))
		s.buildPrefix()
		dst = append(dst, s.prefix[:s.head]...)
		dst = append(dst, usageChunkHead...)
		dst = strconv.AppendInt(dst, u.PromptTokens, 10)
		dst = append(dst, `,"completion_tokens":`...)
		dst = strconv.AppendInt(dst, u.CompletionTokens, 10)
		dst = append(dst, `,"total_tokens":`...)
		dst = strconv.AppendInt(dst, u.TotalTokens, 10)
		dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
		dst = strconv.AppendInt(dst, u.PromptTokensDetails.CachedTokens, 10)
		dst = append(dst, "}}}\n\n"...)
	}
	s.done = true
	return append(dst, frameDone...)
}

func (s *stream) upstreamError(dst []byte) ([]byte, error) {
	d := s.ev.Error
	if d == nil || d.Message == "" {
		return s.fail(dst, provider.ErrTypeServer, "", "anthropic upstream stream failed",
			fmt.Errorf("anthropic stream error event without a message"))
	}
	// An error event arrives with a 200 status: default to a server error.
	typ, code := errorType(d.Type, 500)
	msg := redactKeys(d.Message)
	return s.fail(dst, typ, code, msg, fmt.Errorf("anthropic stream error %s: %s", d.Type, msg))
}

func (s *stream) malformed(dst []byte, what string) ([]byte, error) {
	return s.fail(dst, provider.ErrTypeServer, "", "malformed "+what+" from anthropic upstream",
		fmt.Errorf("anthropic %s: text is not a JSON string", what))
}

func (s *stream) fail(dst []byte, typ, code, msg string, err error) ([]byte, error) {
	s.failed = true
	dst = append(dst, "data: "...)
	dst = append(dst, provider.ErrorJSON(msg, typ, "", code)...)
	return append(dst, "\n\n"...), err
}

// open appends the chunk prefix up to the delta object.
func (s *stream) open(dst []byte) []byte {
	s.buildPrefix()
	return append(dst, s.prefix...)
}

func (s *stream) buildPrefix() {
	if s.prefix != nil {
		return
	}
	p := append([]byte(nil), `data: {"id":`...)
	p = jsonw.AppendString(p, s.id)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, s.created, 10)
	p = append(p, `,"model":`...)
	p = jsonw.AppendString(p, s.model)
	s.head = len(p)
	s.prefix = append(p, choicesPrefix...)
}

// Finish reports a stream that ended before message_stop. It appends nothing:
// what to tell the client about a broken stream is the caller's decision.
func (s *stream) Finish(dst []byte) ([]byte, error) {
	if s.done {
		return dst, nil
	}
	return dst, fmt.Errorf("anthropic stream ended before message_stop: %w", io.ErrUnexpectedEOF)
}

// Model is the model Anthropic named in message_start (the requested model
// until then).
func (s *stream) Model() string { return s.model }

// Usage counts cached prompt tokens into InputTokens, as ChatResponse does.
func (s *stream) Usage() provider.Usage { return usage(s.usage) }

// FinishReasons holds the one choice's finish_reason once it is known.
func (s *stream) FinishReasons() []string { return s.reasons }

// Content reports whether a text delta or a tool call went out.
func (s *stream) Content() bool { return s.sentContent }

// Done reports whether message_stop was translated (its [DONE] sent).
func (s *stream) Done() bool { return s.done }

// Anthropic's text deltas, byte for byte as it sends them, around the text.
var (
	textDeltaHead = []byte(`{"type":"content_block_delta","index":`)
	textDeltaMid  = []byte(`,"delta":{"type":"text_delta","text":`)
	textDeltaTail = []byte(`}}`)
)

// fastTextDelta recognises a text delta in the exact compact shape Anthropic
// sends and returns its text as a raw JSON string token, without
// encoding/json: text deltas are most of a stream's events and decoding them
// costs more than everything else the gateway does per token. Any other shape
// (spacing, field order, extra fields, anything doubtful inside the string)
// returns false and takes the general path.
func fastTextDelta(data []byte) (json.RawMessage, bool) {
	rest, ok := bytes.CutPrefix(data, textDeltaHead)
	if !ok {
		return nil, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	// JSON numbers have no leading zeros: "007" is not an index.
	if i == 0 || i > 9 || i > 1 && rest[0] == '0' {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest[i:], textDeltaMid); !ok {
		return nil, false
	}
	n := jsonStringLen(rest)
	if n == 0 || !bytes.Equal(rest[n:], textDeltaTail) || !utf8.Valid(rest[:n]) {
		return nil, false
	}
	return json.RawMessage(rest[:n]), true
}

// jsonStringLen returns the length of the JSON string token at the start of
// b, or 0 if b does not start with a valid one.
func jsonStringLen(b []byte) int {
	if len(b) == 0 || b[0] != '"' {
		return 0
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return 0
		case c == '\\':
			i++
			if i >= len(b) {
				return 0
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return 0
				}
				i += 4
			default:
				return 0
			}
		}
	}
	return 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isJSONString reports whether raw (already validated JSON) is a string.
func isJSONString(raw json.RawMessage) bool {
	return len(raw) >= 2 && raw[0] == '"'
}

// appendRawString copies a JSON string token as received. Anthropic's
// escaping is valid JSON, so re-encoding would only cost time; a token with
// invalid UTF-8 (never sent by Anthropic) is re-encoded so that clients get
// valid UTF-8.
func appendRawString(dst []byte, raw json.RawMessage) []byte {
	if utf8.Valid(raw) {
		return append(dst, raw...)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return append(dst, `""`...)
	}
	return jsonw.AppendString(dst, s)
}
