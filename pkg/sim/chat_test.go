package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/sse"
)

// answer is what a chat response said, whatever its wire format, so that a
// stream can be compared with the non-stream answer to the same request.
type answer struct {
	text         string
	toolID       string
	toolName     string
	toolArgs     string
	finish       string
	stopSequence string
	inTokens     int
	outTokens    int
}

// Test mirrors of the official OpenAI types (openai-python types/chat).

type oaToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaUsage struct {
	PromptTokens            int            `json:"prompt_tokens"`
	CompletionTokens        int            `json:"completion_tokens"`
	TotalTokens             int            `json:"total_tokens"`
	PromptTokensDetails     map[string]int `json:"prompt_tokens_details"`
	CompletionTokensDetails map[string]int `json:"completion_tokens_details"`
}

type oaCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role        string       `json:"role"`
			Content     *string      `json:"content"`
			Refusal     *string      `json:"refusal"`
			ToolCalls   []oaToolCall `json:"tool_calls"`
			Annotations []any        `json:"annotations"`
		} `json:"message"`
		Logprobs     any    `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage             *oaUsage `json:"usage"`
	ServiceTier       string   `json:"service_tier"`
	SystemFingerprint string   `json:"system_fingerprint"`
}

type oaChunk struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	ServiceTier       string `json:"service_tier"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string       `json:"role"`
			Content   *string      `json:"content"`
			Refusal   *string      `json:"refusal"`
			ToolCalls []oaToolCall `json:"tool_calls"`
		} `json:"delta"`
		Logprobs     any     `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

// Test mirrors of the official Anthropic types (anthropic-sdk-python types).

type anBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type anUsage struct {
	InputTokens              int    `json:"input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	ServiceTier              string `json:"service_tier"`
}

type anMessage struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []anBlock `json:"content"`
	StopReason   *string   `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        anUsage   `json:"usage"`
}

type anEvent struct {
	Type         string          `json:"type"`
	Message      *anMessage      `json:"message"`
	Index        *int            `json:"index"`
	ContentBlock *anBlock        `json:"content_block"`
	Delta        json.RawMessage `json:"delta"`
	Usage        *struct {
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// withFields adds top-level fields to a JSON object body.
func withFields(body, fields string) string {
	return "{" + fields + "," + strings.TrimPrefix(body, "{")
}

func parseOpenAICompletion(t *testing.T, model string, b []byte) answer {
	t.Helper()
	var c oaCompletion
	decodeStrictT(t, b, &c)
	requireKeys(t, b, "id", "object", "created", "model", "choices", "usage", "system_fingerprint")
	if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Model != model || c.Created == 0 {
		t.Errorf("envelope: id %q object %q model %q created %d", c.ID, c.Object, c.Model, c.Created)
	}
	if len(c.Choices) != 1 || c.Usage == nil {
		t.Fatalf("want one choice and usage: %s", b)
	}
	var raw struct {
		Choices []struct {
			Message json.RawMessage `json:"message"`
		} `json:"choices"`
	}
	_ = json.Unmarshal(b, &raw)
	requireKeys(t, raw.Choices[0].Message, "role", "content", "refusal")
	ch := c.Choices[0]
	if ch.Message.Role != "assistant" {
		t.Errorf("role = %q", ch.Message.Role)
	}
	a := answer{finish: ch.FinishReason, inTokens: c.Usage.PromptTokens, outTokens: c.Usage.CompletionTokens}
	if c.Usage.TotalTokens != a.inTokens+a.outTokens || a.inTokens < 1 || a.outTokens < 1 {
		t.Errorf("usage = %+v", *c.Usage)
	}
	if ch.Message.Content != nil {
		a.text = *ch.Message.Content
	}
	switch len(ch.Message.ToolCalls) {
	case 0:
	case 1:
		tc := ch.Message.ToolCalls[0]
		if tc.Type != "function" || ch.Message.Content != nil {
			t.Errorf("tool call type %q, content %v", tc.Type, ch.Message.Content)
		}
		a.toolID, a.toolName, a.toolArgs = tc.ID, tc.Function.Name, tc.Function.Arguments
	default:
		t.Errorf("want at most one tool call: %s", b)
	}
	return a
}

// parseOpenAIStream reads a whole stream, checking every frame's shape and
// the frame order, and rebuilds the answer.
func parseOpenAIStream(t *testing.T, model string, body []byte, wantUsage bool) answer {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(body))
	var a answer
	var id string
	sawDone, sawFinish, sawUsage := false, false, false
	for n := 0; ; n++ {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		if sawDone {
			t.Fatalf("event after [DONE]: %s", ev.Raw)
		}
		if sse.IsDone(ev.Data) {
			sawDone = true
			continue
		}
		var c oaChunk
		decodeStrictT(t, ev.Data, &c)
		if id == "" {
			id = c.ID
		}
		if c.ID != id || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion.chunk" || c.Model != model {
			t.Errorf("chunk envelope: %s", ev.Data)
		}
		if wantUsage {
			requireKeys(t, ev.Data, "usage")
		} else if c.Usage != nil {
			t.Errorf("usage without include_usage: %s", ev.Data)
		}
		if sawUsage {
			t.Fatalf("chunk after the usage chunk: %s", ev.Data)
		}
		if len(c.Choices) == 0 {
			if c.Usage == nil || !sawFinish {
				t.Fatalf("empty choices without usage, or before finish: %s", ev.Data)
			}
			sawUsage = true
			a.inTokens, a.outTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
			continue
		}
		if sawFinish {
			t.Fatalf("choice chunk after finish: %s", ev.Data)
		}
		d := c.Choices[0].Delta
		if (n == 0) != (d.Role == "assistant") {
			t.Errorf("role must come in the first chunk only (chunk %d): %s", n, ev.Data)
		}
		if d.Content != nil {
			a.text += *d.Content
		}
		for _, tc := range d.ToolCalls {
			if tc.Index == nil || *tc.Index != 0 {
				t.Errorf("tool call delta index: %s", ev.Data)
			}
			if tc.ID != "" {
				a.toolID, a.toolName = tc.ID, tc.Function.Name
			}
			a.toolArgs += tc.Function.Arguments
		}
		if fr := c.Choices[0].FinishReason; fr != nil {
			sawFinish, a.finish = true, *fr
		}
	}
	if !sawDone || !sawFinish || sawUsage != wantUsage {
		t.Errorf("done %v finish %v usage %v (want usage %v)", sawDone, sawFinish, sawUsage, wantUsage)
	}
	return a
}

func parseAnthropicMessage(t *testing.T, model string, b []byte) answer {
	t.Helper()
	var m anMessage
	decodeStrictT(t, b, &m)
	requireKeys(t, b, "id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage")
	if !strings.HasPrefix(m.ID, "msg_") || m.Type != "message" || m.Role != "assistant" || m.Model != model {
		t.Errorf("envelope: %s", b)
	}
	a := answer{inTokens: m.Usage.InputTokens, outTokens: m.Usage.OutputTokens}
	if m.StopReason == nil {
		t.Fatalf("stop_reason null: %s", b)
	}
	a.finish = *m.StopReason
	if m.StopSequence != nil {
		a.stopSequence = *m.StopSequence
	}
	for _, blk := range m.Content {
		switch blk.Type {
		case "text":
			a.text += *blk.Text
		case "tool_use":
			a.toolID, a.toolName, a.toolArgs = blk.ID, blk.Name, string(blk.Input)
		default:
			t.Errorf("block type %q", blk.Type)
		}
	}
	return a
}

// parseAnthropicStream checks the event order (message_start, blocks each
// start/delta.../stop, message_delta, message_stop; ping anywhere after the
// start) and rebuilds the answer.
func parseAnthropicStream(t *testing.T, model string, body []byte) answer {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(body))
	var a answer
	var order []string
	open := -1
	next := 0
	var argBuf strings.Builder
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		var e anEvent
		decodeStrictT(t, ev.Data, &e)
		if string(ev.Name) != e.Type {
			t.Errorf("event name %q but data type %q", ev.Name, e.Type)
		}
		order = append(order, e.Type)
		last := ""
		if len(order) > 1 {
			last = order[len(order)-2]
		}
		if len(order) == 1 && e.Type != "message_start" {
			t.Fatalf("first event %q", e.Type)
		}
		if last == "message_stop" {
			t.Fatalf("event after message_stop: %s", e.Type)
		}
		switch e.Type {
		case "message_start":
			if len(order) != 1 || e.Message == nil {
				t.Fatalf("message_start: %s", ev.Data)
			}
			m := e.Message
			if !strings.HasPrefix(m.ID, "msg_") || m.Model != model || len(m.Content) != 0 || m.StopReason != nil {
				t.Errorf("message_start message: %s", ev.Data)
			}
			a.inTokens = m.Usage.InputTokens
		case "ping":
		case "content_block_start":
			if open != -1 || e.Index == nil || *e.Index != next || e.ContentBlock == nil {
				t.Fatalf("content_block_start out of order: %s", ev.Data)
			}
			open = *e.Index
			switch cb := e.ContentBlock; cb.Type {
			case "text":
				if cb.Text == nil || *cb.Text != "" {
					t.Errorf("text block start: %s", ev.Data)
				}
			case "tool_use":
				if string(cb.Input) != "{}" {
					t.Errorf("tool_use start input: %s", ev.Data)
				}
				a.toolID, a.toolName = cb.ID, cb.Name
			}
		case "content_block_delta":
			if e.Index == nil || *e.Index != open {
				t.Fatalf("delta outside its block: %s", ev.Data)
			}
			var d struct {
				Type        string  `json:"type"`
				Text        *string `json:"text"`
				PartialJSON *string `json:"partial_json"`
			}
			decodeStrictT(t, e.Delta, &d)
			switch {
			case d.Type == "text_delta" && d.Text != nil:
				a.text += *d.Text
			case d.Type == "input_json_delta" && d.PartialJSON != nil:
				argBuf.WriteString(*d.PartialJSON)
			default:
				t.Errorf("delta: %s", e.Delta)
			}
		case "content_block_stop":
			if e.Index == nil || *e.Index != open {
				t.Fatalf("stop outside its block: %s", ev.Data)
			}
			open, next = -1, next+1
		case "message_delta":
			if open != -1 || e.Usage == nil {
				t.Fatalf("message_delta with a block open or no usage: %s", ev.Data)
			}
			var d struct {
				StopReason   *string `json:"stop_reason"`
				StopSequence *string `json:"stop_sequence"`
			}
			decodeStrictT(t, e.Delta, &d)
			requireKeys(t, e.Delta, "stop_reason", "stop_sequence")
			if d.StopReason == nil {
				t.Fatalf("message_delta without stop_reason: %s", ev.Data)
			}
			a.finish = *d.StopReason
			if d.StopSequence != nil {
				a.stopSequence = *d.StopSequence
			}
			a.outTokens = e.Usage.OutputTokens
		case "message_stop":
			if last != "message_delta" {
				t.Errorf("message_stop after %q", last)
			}
		default:
			t.Errorf("unexpected event %q", e.Type)
		}
	}
	if len(order) == 0 || order[len(order)-1] != "message_stop" {
		t.Errorf("stream did not end with message_stop: %v", order)
	}
	if !containsStr(order, "ping") {
		t.Errorf("no ping event: %v", order)
	}
	if a.toolID != "" {
		a.toolArgs = argBuf.String()
	}
	return a
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const (
	oaWeatherTool = `{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}`
	oaUnitTool    = `{"type":"function","function":{"name":"get_unit","parameters":{"type":"object","properties":{"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"},"verbose":{"type":"boolean"}},"required":["unit","days"]}}}`
	anWeatherTool = `{"name":"get_weather","description":"Current weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}`
	anUnitTool    = `{"name":"get_unit","input_schema":{"type":"object","properties":{"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["unit","days"]}}`
)

// chatCase is one request and the answer it must get, non-stream and stream.
type chatCase struct {
	name string
	body string
	want answer // tool id, token counts are checked for consistency only
}

func TestOpenAIChat(t *testing.T) {
	const model = "gpt-4o-mini"
	user := func(content string) string {
		return `{"model":"gpt-4o-mini","messages":[{"role":"user","content":` + content + `}]}`
	}
	cases := []chatCase{
		{"capital", user(`"What is the capital of France?"`), answer{text: "The capital of France is Paris.", finish: "stop"}},
		{"system and developer", `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"text","text":"Really."}]},{"role":"user","content":"Tell me  a\njoke"}]}`,
			answer{text: "Simulated openai answer to: Tell me a joke", finish: "stop"}},
		{"content parts with image", user(`[{"type":"text","text":"Describe"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"text","text":"this picture"}]`),
			answer{text: "Simulated openai answer to: Describe this picture", finish: "stop"}},
		{"long prompt clipped", user(`"` + strings.Repeat("abcdefghij", 10) + `"`),
			answer{text: "Simulated openai answer to: " + strings.Repeat("abcdefghij", 6), finish: "stop"}},
		{"weather triggers tool", `{"model":"gpt-4o-mini","tools":[` + oaWeatherTool + `],"messages":[{"role":"user","content":"What's the weather in Paris?"}]}`,
			answer{toolName: "get_weather", toolArgs: `{"location":"Paris"}`, finish: "tool_calls"}},
		{"required tool choice", `{"model":"gpt-4o-mini","tools":[` + oaWeatherTool + `],"tool_choice":"required","messages":[{"role":"user","content":"hello"}]}`,
			answer{toolName: "get_weather", toolArgs: `{"location":"Paris"}`, finish: "tool_calls"}},
		{"named tool choice", `{"model":"gpt-4o-mini","tools":[` + oaWeatherTool + `,` + oaUnitTool + `],"tool_choice":{"type":"function","function":{"name":"get_unit"}},"messages":[{"role":"user","content":"hello"}]}`,
			answer{toolName: "get_unit", toolArgs: `{"days":1,"unit":"celsius"}`, finish: "tool_calls"}},
		{"tool choice none", `{"model":"gpt-4o-mini","tools":[` + oaWeatherTool + `],"tool_choice":"none","messages":[{"role":"user","content":"weather?"}]}`,
			answer{text: "Simulated openai answer to: weather?", finish: "stop"}},
		{"after tool result", `{"model":"gpt-4o-mini","tools":[` + oaWeatherTool + `],"messages":[{"role":"user","content":"What's the weather in Paris?"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},` +
			`{"role":"tool","tool_call_id":"call_1","content":"22C and sunny"}]}`,
			answer{text: "Simulated openai answer based on the tool result: 22C and sunny", finish: "stop"}},
		{"max tokens", `{"model":"gpt-4o-mini","max_tokens":2,"messages":[{"role":"user","content":"What is the capital of France?"}]}`,
			answer{text: "The capi", finish: "length"}},
		{"max completion tokens", `{"model":"gpt-4o-mini","max_completion_tokens":2,"messages":[{"role":"user","content":"What is the capital of France?"}]}`,
			answer{text: "The capi", finish: "length"}},
		{"stop sequence", `{"model":"gpt-4o-mini","stop":["xyz","Paris"],"messages":[{"role":"user","content":"What is the capital of France?"}]}`,
			answer{text: "The capital of France is ", finish: "stop"}},
	}
	h := newHarness(t, Options{Kind: KindOpenAI, ExpectKey: testKey})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			status, hdr, body := h.chat(tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" || hdr.Get("x-request-id") == "" {
				t.Errorf("headers: %v", hdr)
			}
			whole := parseOpenAICompletion(t, model, body)
			checkAnswer(t, "non-stream", whole, tc.want)
			if tc.want.toolName != "" && !strings.HasPrefix(whole.toolID, "call_") {
				t.Errorf("tool id %q", whole.toolID)
			}

			status, hdr, body = h.chat(withFields(tc.body, `"stream":true,"stream_options":{"include_usage":true}`))
			if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("stream status %d, content type %q: %s", status, hdr.Get("Content-Type"), body)
			}
			streamed := parseOpenAIStream(t, model, body, true)
			if streamed != whole {
				t.Errorf("stream answer\n%+v\nnon-stream answer\n%+v", streamed, whole)
			}
		})
	}
	t.Run("stream without usage", func(t *testing.T) {
		h := h.in(t)
		status, _, body := h.chat(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}]}`)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		a := parseOpenAIStream(t, "gpt-4o", body, false)
		if a.text != "The capital of France is Paris." || a.finish != "stop" || a.outTokens != 0 {
			t.Errorf("answer %+v", a)
		}
		// Text deltas arrive as several chunks, not one.
		if n := bytes.Count(body, []byte(`"content":"`)); n < 4 {
			t.Errorf("only %d content chunks", n)
		}
	})
	t.Run("tool arguments split", func(t *testing.T) {
		h := h.in(t)
		_, _, body := h.chat(withFields(cases[4].body, `"stream":true`))
		if n := bytes.Count(body, []byte(`"arguments":"`)); n < 3 {
			t.Errorf("arguments in %d deltas, want several: %s", n, body)
		}
	})
}

func TestAnthropicMessages(t *testing.T) {
	const model = "claude-sonnet-4-20250514"
	msg := func(extra, content string) string {
		if extra != "" {
			extra += ","
		}
		return `{"model":"claude-sonnet-4-20250514","max_tokens":1024,` + extra + `"messages":[{"role":"user","content":` + content + `}]}`
	}
	cases := []chatCase{
		{"capital", msg("", `"What is the capital of France?"`), answer{text: "The capital of France is Paris.", finish: "end_turn"}},
		{"system blocks and text blocks", msg(`"system":[{"type":"text","text":"Be brief."}]`, `[{"type":"text","text":"Tell me"},{"type":"text","text":"a joke"}]`),
			answer{text: "Simulated anthropic answer to: Tell me a joke", finish: "end_turn"}},
		{"image block", msg(`"system":"Be brief."`, `[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"Describe this"}]`),
			answer{text: "Simulated anthropic answer to: Describe this", finish: "end_turn"}},
		{"weather triggers tool with preamble", msg(`"tools":[`+anWeatherTool+`]`, `"What's the weather in Paris?"`),
			answer{text: "I'll use the get_weather tool.", toolName: "get_weather", toolArgs: `{"location":"Paris"}`, finish: "tool_use"}},
		{"any tool choice", msg(`"tools":[`+anWeatherTool+`],"tool_choice":{"type":"any"}`, `"hello"`),
			answer{toolName: "get_weather", toolArgs: `{"location":"Paris"}`, finish: "tool_use"}},
		{"named tool choice", msg(`"tools":[`+anWeatherTool+`,`+anUnitTool+`],"tool_choice":{"type":"tool","name":"get_unit"}`, `"hello"`),
			answer{toolName: "get_unit", toolArgs: `{"days":1,"unit":"celsius"}`, finish: "tool_use"}},
		{"tool choice none", msg(`"tools":[`+anWeatherTool+`],"tool_choice":{"type":"none"}`, `"weather?"`),
			answer{text: "Simulated anthropic answer to: weather?", finish: "end_turn"}},
		{"after tool result", `{"model":"claude-sonnet-4-20250514","max_tokens":100,"tools":[` + anWeatherTool + `],"messages":[` +
			`{"role":"user","content":"What's the weather in Paris?"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"22C and sunny"}]}]}]}`,
			answer{text: "Simulated anthropic answer based on the tool result: 22C and sunny", finish: "end_turn"}},
		{"max tokens", `{"model":"claude-sonnet-4-20250514","max_tokens":2,"messages":[{"role":"user","content":"What is the capital of France?"}]}`,
			answer{text: "The capi", finish: "max_tokens"}},
		{"stop sequence", msg(`"stop_sequences":["France"]`, `"What is the capital of France?"`),
			answer{text: "The capital of ", finish: "stop_sequence", stopSequence: "France"}},
	}
	h := newHarness(t, Options{Kind: KindAnthropic, ExpectKey: testKey})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			status, hdr, body := h.chat(tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if hdr.Get("request-id") == "" {
				t.Errorf("no request-id header: %v", hdr)
			}
			whole := parseAnthropicMessage(t, model, body)
			checkAnswer(t, "non-stream", whole, tc.want)
			if tc.want.toolName != "" && !strings.HasPrefix(whole.toolID, "toolu_") {
				t.Errorf("tool id %q", whole.toolID)
			}
			status, _, body = h.chat(withFields(tc.body, `"stream":true`))
			if status != http.StatusOK {
				t.Fatalf("stream status %d: %s", status, body)
			}
			streamed := parseAnthropicStream(t, model, body)
			if streamed != whole {
				t.Errorf("stream answer\n%+v\nnon-stream answer\n%+v", streamed, whole)
			}
		})
	}
}

// checkAnswer compares what the case fixes; tool ids and token counts must
// merely be present.
func checkAnswer(t *testing.T, what string, got, want answer) {
	t.Helper()
	if got.text != want.text || got.toolName != want.toolName || got.toolArgs != want.toolArgs ||
		got.finish != want.finish || got.stopSequence != want.stopSequence {
		t.Errorf("%s answer\n got %+v\nwant %+v", what, got, want)
	}
	if (got.toolID != "") != (want.toolName != "") || got.inTokens < 1 || got.outTokens < 1 {
		t.Errorf("%s answer: tool id %q, tokens %d/%d", what, got.toolID, got.inTokens, got.outTokens)
	}
}

func TestToolIDsAreDeterministic(t *testing.T) {
	for _, k := range []Kind{KindOpenAI, KindAnthropic} {
		t.Run(string(k), func(t *testing.T) {
			c := &conversation{model: "m", lastUser: "weather in Paris?", tools: []toolDef{{name: "get_weather"}}}
			p1, p2 := makePlan(k, c), makePlan(k, c)
			if p1.tool == nil || p1.tool.id != p2.tool.id {
				t.Fatalf("tool ids differ or missing: %+v %+v", p1.tool, p2.tool)
			}
			c.lastUser = "weather in Rome?"
			if p3 := makePlan(k, c); p3.tool.id == p1.tool.id {
				t.Errorf("different prompts gave the same tool id %q", p1.tool.id)
			}
		})
	}
}
