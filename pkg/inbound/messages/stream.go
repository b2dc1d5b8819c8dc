package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file turns the OpenAI chunk frames the inner adapter's stream
// writes into Anthropic's event sequence:
//
//	first chunk               → message_start (usage.input_tokens 0: OpenAI reports usage last)
//	delta.content / refusal   → content_block_start text (once), content_block_delta text_delta
//	delta.tool_calls[i] new   → content_block_stop of the open block, content_block_start tool_use {id, name, input {}}
//	delta.tool_calls[i] args  → content_block_delta input_json_delta
//	finish_reason, usage      → remembered
//	[DONE] (or a clean end)   → content_block_stop, message_delta {stop_reason, usage}, message_stop
//	an error chunk            → event: error {"type":"error","error":{...}}
//
// Arguments for a tool call whose block was already closed (a server that
// interleaves parallel calls) are sent to that block's index anyway:
// Anthropic's SDKs accumulate deltas by index.

// stream implements provider.Stream for one bridged answer.
type stream struct {
	inner provider.Stream
	model string // the requested model, until a chunk names one

	started   bool // message_start was sent
	open      bool // a content block is open at index cur
	openText  bool // the open block is text
	cur       int  // the open block's index
	next      int  // the next block's index
	tools     map[int]int
	stop      string // Anthropic stop_reason
	done      bool   // message_stop was sent
	failed    bool
	id        string
	scratch   []byte
	chunk     chatChunk
	frameRead *sse.Reader
	frameSrc  bytes.Reader
}

type chatChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string `json:"content"`
			Refusal   *string `json:"refusal"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

func newStream(inner provider.Stream, model string) *stream {
	s := &stream{inner: inner, model: model, tools: map[int]int{}}
	s.frameRead = sse.NewReader(&s.frameSrc)
	return s
}

// Event feeds ev to the inner stream and translates what it wrote.
func (s *stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.done || s.failed {
		return dst, nil
	}
	var err error
	s.scratch, err = s.inner.Event(s.scratch[:0], ev)
	if errors.Is(err, provider.ErrMalformedEvent) {
		// Nothing of it goes out, as the inner stream's contract says.
		return dst, fmt.Errorf("messages bridge: %w", err)
	}
	out, errFrame := s.translate(dst, s.scratch)
	if err != nil {
		s.failed = true
		if !errFrame {
			out = appendError(out, provider.AnErrAPI, err.Error())
		}
		return out, fmt.Errorf("messages bridge: %w", err)
	}
	return out, nil
}

// Finish ends the inner stream and, when it ended cleanly, closes the
// message.
func (s *stream) Finish(dst []byte) ([]byte, error) {
	if s.failed {
		return dst, fmt.Errorf("messages bridge: stream failed")
	}
	var err error
	s.scratch, err = s.inner.Finish(s.scratch[:0])
	dst, _ = s.translate(dst, s.scratch)
	if err != nil {
		return dst, fmt.Errorf("messages bridge: %w", err)
	}
	if !s.done {
		if !s.inner.Done() && len(s.inner.FinishReasons()) == 0 {
			return dst, fmt.Errorf("messages bridge: stream ended before its end: %w", io.ErrUnexpectedEOF)
		}
		dst = s.end(dst)
	}
	return dst, nil
}

// Model reports the model that answered.
func (s *stream) Model() string {
	if m := s.inner.Model(); m != "" {
		return m
	}
	return s.model
}

// Usage is the inner stream's.
func (s *stream) Usage() provider.Usage { return s.inner.Usage() }

// FinishReasons are the inner stream's (OpenAI's vocabulary).
func (s *stream) FinishReasons() []string { return s.inner.FinishReasons() }

// Content is the inner stream's: every content delta it sees becomes one
// here.
func (s *stream) Content() bool { return s.inner.Content() }

// Done reports whether message_stop was sent.
func (s *stream) Done() bool { return s.done }

// translate appends the Anthropic events for the OpenAI frames in frames;
// errFrame reports an error chunk among them.
func (s *stream) translate(dst, frames []byte) (out []byte, errFrame bool) {
	if len(frames) == 0 {
		return dst, false
	}
	s.frameSrc.Reset(frames)
	s.frameRead.Reset(&s.frameSrc)
	for {
		ev, err := s.frameRead.Next()
		if err != nil {
			return dst, errFrame
		}
		switch {
		case s.done:
		case len(ev.Data) == 0:
			if bytes.HasPrefix(ev.Raw, []byte(":")) {
				// A keep-alive comment: any SSE client skips it.
				dst = append(dst, ev.Raw...)
			}
		case sse.IsDone(ev.Data):
			dst = s.end(dst)
		default:
			var isErr bool
			dst, isErr = s.chunkEvent(dst, ev.Data)
			errFrame = errFrame || isErr
		}
	}
}

func (s *stream) chunkEvent(dst, data []byte) ([]byte, bool) {
	s.chunk = chatChunk{}
	if json.Unmarshal(data, &s.chunk) != nil {
		return dst, false
	}
	c := &s.chunk
	if !isNull(c.Error) {
		return appendError(dst, chunkErrorType(c.Error), chunkErrorMessage(c.Error)), true
	}
	if s.model == "" || !s.started && c.Model != "" {
		s.model = c.Model
	}
	dst = s.start(dst, c.ID)
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		for _, t := range []*string{ch.Delta.Content, ch.Delta.Refusal} {
			if t != nil && *t != "" {
				dst = s.text(dst, *t)
			}
		}
		for _, tc := range ch.Delta.ToolCalls {
			idx, ok := s.tools[tc.Index]
			if !ok {
				dst = s.closeBlock(dst)
				idx = s.next
				s.next++
				s.tools[tc.Index] = idx
				s.open, s.openText, s.cur = true, false, idx
				dst = appendEvent(dst, "content_block_start", map[string]any{
					"type": "content_block_start", "index": idx,
					"content_block": map[string]any{"type": "tool_use", "id": toolUseID(tc.ID), "name": tc.Function.Name, "input": map[string]any{}},
				})
			}
			if tc.Function.Arguments != "" {
				dst = appendEvent(dst, "content_block_delta", map[string]any{
					"type": "content_block_delta", "index": idx,
					"delta": map[string]any{"type": "input_json_delta", "partial_json": tc.Function.Arguments},
				})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.stop = stopReason(*ch.FinishReason)
		}
	}
	return dst, false
}

// start sends message_start once.
func (s *stream) start(dst []byte, chunkID string) []byte {
	if s.started {
		return dst
	}
	s.started = true
	s.id = messageID(chunkID)
	u := usageFrom(s.inner.Usage())
	return appendEvent(dst, "message_start", map[string]any{
		"type": "message_start",
		"message": map[string]any{
			"id": s.id, "type": "message", "role": "assistant", "model": s.model,
			"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": u.InputTokens, "output_tokens": 0},
		},
	})
}

// text sends a text delta, opening a text block first if needed.
func (s *stream) text(dst []byte, t string) []byte {
	if !s.open || !s.openText {
		dst = s.closeBlock(dst)
		s.open, s.openText, s.cur = true, true, s.next
		s.next++
		dst = appendEvent(dst, "content_block_start", map[string]any{
			"type": "content_block_start", "index": s.cur,
			"content_block": map[string]any{"type": "text", "text": ""},
		})
	}
	return appendEvent(dst, "content_block_delta", map[string]any{
		"type": "content_block_delta", "index": s.cur,
		"delta": map[string]any{"type": "text_delta", "text": t},
	})
}

func (s *stream) closeBlock(dst []byte) []byte {
	if !s.open {
		return dst
	}
	s.open = false
	return appendEvent(dst, "content_block_stop", map[string]any{"type": "content_block_stop", "index": s.cur})
}

// end closes the message: the open block, message_delta with the stop
// reason and usage, message_stop.
func (s *stream) end(dst []byte) []byte {
	if s.done {
		return dst
	}
	dst = s.start(dst, "")
	dst = s.closeBlock(dst)
	stop := s.stop
	if stop == "" {
		stop = "end_turn"
	}
	u := usageFrom(s.inner.Usage())
	usage := map[string]any{"output_tokens": u.OutputTokens}
	if u.InputTokens > 0 || u.CacheReadInputTokens > 0 {
		// Known only now: OpenAI sends usage in the last chunk.
		usage["input_tokens"] = u.InputTokens
		usage["cache_read_input_tokens"] = u.CacheReadInputTokens
	}
	dst = appendEvent(dst, "message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": usage,
	})
	s.done = true
	return appendEvent(dst, "message_stop", map[string]any{"type": "message_stop"})
}

// appendEvent appends one "event: NAME\ndata: JSON\n\n" frame.
func appendEvent(dst []byte, name string, v any) []byte {
	b, err := marshal(v)
	if err != nil {
		// Maps of strings and numbers always encode.
		b = []byte(`{}`)
	}
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

func appendError(dst []byte, typ, msg string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = append(dst, provider.AnthropicErrorJSON(typ, msg)...)
	return append(dst, "\n\n"...)
}

func chunkErrorType(raw json.RawMessage) string {
	var e struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &e)
	return provider.AnthropicFromOpenAIErrorType(e.Type, 0)
}

func chunkErrorMessage(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		return e.Message
	}
	return "upstream stream error"
}
