package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file translates streamGenerateContent?alt=sse into OpenAI
// chat.completion.chunk frames. Each Gemini event is a whole
// GenerateContentResponse holding the next piece of each candidate:
//
//	first event of a candidate → role chunk {"role":"assistant","content":""}
//	text part                  → {"content": ...}
//	functionCall part          → {"tool_calls":[{index,id,type,function{name,arguments}}]}, whole
//	thought part               → nothing
//	finishReason               → {} with finish_reason
//	every candidate finished   → usage chunk (stream_options.include_usage), then [DONE]
//	promptFeedback.blockReason → role chunk, finish_reason content_filter, [DONE]
//	{"error":{...}}            → OpenAI error frame, and an error
//
// Gemini sends the finishReason and the final usageMetadata in the last
// event, so [DONE] goes out with it rather than when the body ends.

type chunkDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls []oaOutToolCall `json:"tool_calls,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *oaUsage      `json:"usage,omitempty"`
}

var frameDone = []byte("data: [DONE]\n\n")

// candState is what the stream knows of one candidate.
type candState struct {
	started  bool
	calls    int
	finished bool
}

// stream implements provider.Stream for one Gemini answer.
type stream struct {
	created      int64
	id           string
	model        string
	includeUsage bool
	// want is the number of candidates asked for (n).
	want  int
	idFor func() string

	cands       map[int]*candState
	usage       *gUsage
	reasons     []string
	sentContent bool
	done        bool
	failed      bool
}

// NewStream returns the translator of one streamGenerateContent answer.
func (a *adapter) NewStream(r *provider.Request) provider.Stream {
	s := &stream{created: a.now().Unix(), model: requestedModel(r), want: 1, idFor: a.newID, cands: map[int]*candState{}}
	if r != nil {
		s.includeUsage = gjson.GetBytes(r.Body, "stream_options.include_usage").Bool()
		if n := gjson.GetBytes(r.Body, "n").Int(); n > 1 {
			s.want = int(n)
		}
	}
	return s
}

// Event translates one SSE event.
func (s *stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || s.done || s.failed {
		// Comments and keep-alives; anything after the end is not relayed.
		return dst, nil
	}
	if !json.Valid(data) {
		return dst, fmt.Errorf("gemini stream: %w", provider.ErrMalformedEvent)
	}
	var g gResponse
	if err := json.Unmarshal(data, &g); err != nil {
		return dst, fmt.Errorf("gemini stream: %w: %v", provider.ErrMalformedEvent, err)
	}
	if g.Error != nil {
		s.failed = true
		msg := redactSecrets(g.Error.Message)
		typ, code := errorType(g.Error.Status, g.Error.Code)
		dst = append(dst, "data: "...)
		dst = append(dst, provider.ErrorJSON(msg, typ, "", code)...)
		dst = append(dst, "\n\n"...)
		return dst, fmt.Errorf("gemini stream error: %s", g.Error.Status)
	}
	if s.id == "" {
		s.id = completionID(g.ResponseID)
	}
	if g.ModelVersion != "" {
		s.model = g.ModelVersion
	}
	if g.UsageMetadata != nil {
		s.usage = g.UsageMetadata
	}
	if len(g.Candidates) == 0 && g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
		dst = s.start(dst, 0)
		dst = s.finish(dst, 0, "content_filter")
		return s.end(dst), nil
	}
	for _, c := range g.Candidates {
		dst = s.start(dst, c.Index)
		cs := s.cands[c.Index]
		text, hasText, calls := answerParts(c.Content, s.idFor)
		if hasText && text != "" {
			dst = s.frame(dst, chunkChoice{Index: c.Index, Delta: chunkDelta{Content: &text}})
			s.sentContent = true
		}
		if len(calls) > 0 {
			for i := range calls {
				idx := cs.calls + i
				calls[i].Index = &idx
			}
			cs.calls += len(calls)
			dst = s.frame(dst, chunkChoice{Index: c.Index, Delta: chunkDelta{ToolCalls: calls}})
			s.sentContent = true
		}
		if c.FinishReason != "" && !cs.finished {
			dst = s.finish(dst, c.Index, finishReason(c.FinishReason, cs.calls > 0))
		}
	}
	if s.allFinished() {
		dst = s.end(dst)
	}
	return dst, nil
}

// start sends a candidate's role chunk once.
func (s *stream) start(dst []byte, index int) []byte {
	cs := s.cands[index]
	if cs == nil {
		cs = &candState{}
		s.cands[index] = cs
	}
	if cs.started {
		return dst
	}
	cs.started = true
	empty := ""
	return s.frame(dst, chunkChoice{Index: index, Delta: chunkDelta{Role: "assistant", Content: &empty}})
}

func (s *stream) finish(dst []byte, index int, reason string) []byte {
	s.cands[index].finished = true
	s.reasons = append(s.reasons, reason)
	return s.frame(dst, chunkChoice{Index: index, FinishReason: &reason})
}

func (s *stream) allFinished() bool {
	if len(s.cands) < s.want {
		return false
	}
	for _, c := range s.cands {
		if !c.finished {
			return false
		}
	}
	return true
}

// end sends the usage chunk when asked for, then [DONE].
func (s *stream) end(dst []byte) []byte {
	if s.includeUsage {
		dst = s.write(dst, &chunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: []chunkChoice{}, Usage: oaUsageOf(s.usage)})
	}
	s.done = true
	return append(dst, frameDone...)
}

func (s *stream) frame(dst []byte, c chunkChoice) []byte {
	if s.id == "" {
		s.id = completionID("")
	}
	return s.write(dst, &chunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: []chunkChoice{c}})
}

func (s *stream) write(dst []byte, c *chunk) []byte {
	b, err := marshal(c)
	if err != nil {
		// Strings and numbers always encode.
		return dst
	}
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

// errIncomplete is a body that ended before every candidate finished.
var errIncomplete = errors.New("gemini stream ended before its finishReason")

// Finish reports a stream that ended before every candidate finished.
func (s *stream) Finish(dst []byte) ([]byte, error) {
	switch {
	case s.failed:
		return dst, errors.New("gemini stream failed")
	case s.done:
		return dst, nil
	}
	return dst, fmt.Errorf("%w: %w", errIncomplete, io.ErrUnexpectedEOF)
}

// Model is the model that answered (modelVersion), once known.
func (s *stream) Model() string { return s.model }

// Usage is the latest usageMetadata.
func (s *stream) Usage() provider.Usage { return usageOf(s.usage) }

// FinishReasons seen so far.
func (s *stream) FinishReasons() []string { return s.reasons }

// Content reports whether text or a tool call was sent.
func (s *stream) Content() bool { return s.sentContent }

// Done reports whether [DONE] was sent.
func (s *stream) Done() bool { return s.done }
