package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file translates ConverseStream events (decoded by eventReader) into
// OpenAI chat.completion.chunk frames, one event at a time:
//
//	messageStart                     → role chunk {"role":"assistant","content":""}
//	contentBlockStart toolUse        → {"tool_calls":[{index,id,type,function{name,arguments:""}}]}
//	contentBlockDelta text           → {"content": ...}
//	contentBlockDelta toolUse.input  → {"tool_calls":[{index,function{arguments: ...}}]}
//	contentBlockDelta reasoning, contentBlockStop → nothing
//	messageStop                      → {} with finish_reason
//	metadata                         → usage chunk (stream_options.include_usage), then [DONE]
//	*Exception                       → OpenAI error frame, and an error
//
// Bedrock sends usage after messageStop, in metadata: [DONE] waits for it,
// and a body that ends after messageStop without it still ends complete.

// streamEvent is the payload of any ConverseStream event.
type streamEvent struct {
	ContentBlockIndex *int `json:"contentBlockIndex"`
	Start             *struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
	Delta *struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"`
		} `json:"toolUse"`
	} `json:"delta"`
	StopReason string   `json:"stopReason"`
	Usage      *cvUsage `json:"usage"`
	Message    string   `json:"message"`
}

// stream implements provider.Stream for one ConverseStream answer.
type stream struct {
	id           string
	created      int64
	model        string
	includeUsage bool

	prefix []byte // `data: {"id":..,"model":..` up to the choices

	started, sentContent, finished, done, failed bool

	tools   map[int]int // content block index → OpenAI tool call index
	usage   provider.Usage
	reasons []string
	ev      streamEvent
}

// NewStream returns a translator for one ConverseStream body.
func (a *adapter) NewStream(r *provider.Request) provider.Stream {
	s := &stream{id: a.newID(), created: a.now().Unix(), model: r.Model}
	if bytes.Contains(r.Body, []byte("include_usage")) {
		var f struct {
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		s.includeUsage = json.Unmarshal(r.Body, &f) == nil && f.StreamOptions != nil && f.StreamOptions.IncludeUsage
	}
	return s
}

// isException reports an event name that is an exception or error
// (throttlingException, modelStreamErrorException, ...).
func isException(name string) bool { return strings.HasSuffix(name, "Exception") }

// Event translates one event. Every error it returns comes with an OpenAI
// error frame appended to dst, except a malformed event's, whose output
// the caller drops.
func (s *stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.done || s.failed {
		return dst, nil
	}
	name := string(ev.Name)
	s.ev = streamEvent{}
	if err := json.Unmarshal(ev.Data, &s.ev); err != nil {
		s.failed = true
		return dst, fmt.Errorf("decode bedrock %s event: %w: %w", name, provider.ErrMalformedEvent, err)
	}
	if isException(name) {
		msg := s.ev.Message
		if msg == "" {
			msg = "bedrock upstream stream failed"
		}
		typ, code := exceptionType(name)
		return s.fail(dst, typ, code, msg, fmt.Errorf("bedrock stream %s: %s", name, msg))
	}
	switch name {
	case "messageStart":
		return s.start(dst), nil
	case "contentBlockStart":
		return s.blockStart(dst), nil
	case "contentBlockDelta":
		return s.blockDelta(dst), nil
	case "messageStop":
		return s.finish(dst, finishReason(s.ev.StopReason)), nil
	case "metadata":
		if s.ev.Usage != nil {
			s.usage = s.ev.Usage.usage()
		}
		return s.end(dst), nil
	}
	return dst, nil // contentBlockStop and events added later
}

// exceptionType maps a stream exception onto an OpenAI error type and code.
func exceptionType(name string) (typ, code string) {
	switch strings.ToLower(name) {
	case "throttlingexception", "servicequotaexceededexception":
		return provider.ErrTypeRateLimit, "rate_limit_exceeded"
	case "validationexception":
		return provider.ErrTypeInvalidRequest, ""
	case "serviceunavailableexception", "modelnotreadyexception":
		return provider.ErrTypeUnavailable, ""
	case "modeltimeoutexception":
		return provider.ErrTypeTimeout, ""
	}
	return provider.ErrTypeServer, ""
}

func (s *stream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	dst = s.open(dst)
	dst = append(dst, `{"role":"assistant","content":""}`...)
	return s.close(dst)
}

func (s *stream) blockStart(dst []byte) []byte {
	st := s.ev.Start
	if st == nil || st.ToolUse == nil || s.ev.ContentBlockIndex == nil {
		return dst
	}
	if s.tools == nil {
		s.tools = make(map[int]int, 2)
	}
	if _, dup := s.tools[*s.ev.ContentBlockIndex]; dup {
		return dst
	}
	idx := len(s.tools)
	s.tools[*s.ev.ContentBlockIndex] = idx
	s.sentContent = true
	dst = s.start(dst)
	dst = s.open(dst)
	dst = append(dst, `{"tool_calls":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(idx), 10)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, st.ToolUse.ToolUseID)
	dst = append(dst, `,"type":"function","function":{"name":`...)
	dst = appendString(dst, st.ToolUse.Name)
	dst = append(dst, `,"arguments":""}}]}`...)
	return s.close(dst)
}

func (s *stream) blockDelta(dst []byte) []byte {
	d := s.ev.Delta
	if d == nil {
		return dst
	}
	switch {
	case d.Text != nil && *d.Text != "":
		s.sentContent = true
		dst = s.start(dst)
		dst = s.open(dst)
		dst = append(dst, `{"content":`...)
		dst = appendString(dst, *d.Text)
		dst = append(dst, '}')
		return s.close(dst)
	case d.ToolUse != nil && d.ToolUse.Input != "" && s.ev.ContentBlockIndex != nil:
		idx, ok := s.tools[*s.ev.ContentBlockIndex]
		if !ok {
			return dst
		}
		dst = s.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(idx), 10)
		dst = append(dst, `,"function":{"arguments":`...)
		dst = appendString(dst, d.ToolUse.Input)
		dst = append(dst, `}}]}`...)
		return s.close(dst)
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
	dst = append(dst, `{},"logprobs":null,"finish_reason":"`...)
	dst = append(dst, reason...)
	return append(dst, "\"}]}\n\n"...)
}

// end closes the answer: the finish chunk if messageStop never came, the
// usage chunk when asked for, [DONE].
func (s *stream) end(dst []byte) []byte {
	dst = s.finish(dst, "stop")
	if s.includeUsage {
		u := openAIUsage(s.usage)
		s.buildPrefix()
		dst = append(dst, s.prefix...)
		dst = append(dst, `,"choices":[],"usage":`...)
		b, _ := json.Marshal(u)
		dst = append(dst, b...)
		dst = append(dst, "}\n\n"...)
	}
	s.done = true
	return append(dst, "data: [DONE]\n\n"...)
}

func (s *stream) fail(dst []byte, typ, code, msg string, err error) ([]byte, error) {
	s.failed = true
	dst = append(dst, "data: "...)
	dst = append(dst, provider.ErrorJSON(msg, typ, "", code)...)
	return append(dst, "\n\n"...), err
}

// buildPrefix builds, once, the head every chunk shares: id and model
// never change within a stream.
func (s *stream) buildPrefix() {
	if s.prefix != nil {
		return
	}
	p := append([]byte(nil), `data: {"id":`...)
	p = appendString(p, s.id)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, s.created, 10)
	p = append(p, `,"model":`...)
	s.prefix = appendString(p, s.model)
}

// open appends the chunk's head up to its delta object.
func (s *stream) open(dst []byte) []byte {
	s.buildPrefix()
	dst = append(dst, s.prefix...)
	return append(dst, `,"choices":[{"index":0,"delta":`...)
}

func (s *stream) close(dst []byte) []byte {
	return append(dst, `,"logprobs":null,"finish_reason":null}]}`+"\n\n"...)
}

// Finish completes a stream whose body ended after messageStop (metadata
// missing) and reports one that ended before it.
func (s *stream) Finish(dst []byte) ([]byte, error) {
	switch {
	case s.done:
		return dst, nil
	case s.finished && !s.failed:
		return s.end(dst), nil
	}
	return dst, fmt.Errorf("bedrock stream ended before messageStop: %w", io.ErrUnexpectedEOF)
}

// Model is the model asked for: ConverseStream does not name it.
func (s *stream) Model() string { return s.model }

// Usage is the usage metadata reported, cached prompt tokens included.
func (s *stream) Usage() provider.Usage { return s.usage }

// FinishReasons holds the one choice's finish_reason once known.
func (s *stream) FinishReasons() []string { return s.reasons }

// Content reports whether a text delta or a tool call went out.
func (s *stream) Content() bool { return s.sentContent }

// Done reports whether [DONE] was emitted.
func (s *stream) Done() bool { return s.done }

// appendString appends v as a JSON string.
func appendString(dst []byte, v string) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, `""`...)
	}
	return append(dst, b...)
}
