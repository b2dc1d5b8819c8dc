package messages

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates an OpenAI chat.completion into an Anthropic message.
// Only the first choice is read: a Messages request asks for one.

// chatResponse is the part of a chat.completion the bridge reads.
type chatResponse struct {
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage"`
}

type chatChoice struct {
	Message struct {
		Content   json.RawMessage `json:"content"`
		Refusal   *string         `json:"refusal"`
		ToolCalls []struct {
			ID       string       `json:"id"`
			Function chatFunction `json:"function"`
		} `json:"tool_calls"`
		FunctionCall *chatFunction `json:"function_call"`
	} `json:"message"`
	FinishReason *string `json:"finish_reason"`
}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// anMessageOut is the Anthropic message the bridge writes.
type anMessageOut struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Role         string       `json:"role"`
	Model        string       `json:"model"`
	Content      []anBlockOut `json:"content"`
	StopReason   *string      `json:"stop_reason"`
	StopSequence *string      `json:"stop_sequence"`
	Usage        anUsage      `json:"usage"`
}

type anBlockOut struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

// anUsage is Anthropic's usage. input_tokens counts the prompt tokens not
// read from the cache, as Anthropic's does; OpenAI's prompt_tokens
// include the cached ones.
type anUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

func usageFrom(u provider.Usage) anUsage {
	return anUsage{
		InputTokens:              max(u.InputTokens-u.CacheReadTokens-u.CacheCreationTokens, 0),
		CacheCreationInputTokens: u.CacheCreationTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// stopReason maps an OpenAI finish_reason onto Anthropic's stop_reason.
// OpenAI does not say which stop sequence matched, so "stop" is always
// end_turn, and stop_sequence stays null.
func stopReason(fr string) string {
	switch fr {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	default:
		return "end_turn"
	}
}

// rawArgumentsKey holds, in a tool_use input, the arguments a model wrote
// that are not a JSON object: Anthropic's input must be one, and dropping
// them would hide what the model said.
const rawArgumentsKey = "raw_arguments"

// toolInput turns OpenAI function arguments into an Anthropic input object.
func toolInput(args string) json.RawMessage {
	t := strings.TrimSpace(args)
	if t == "" {
		return json.RawMessage(`{}`)
	}
	if json.Valid([]byte(t)) && t[0] == '{' {
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(t)) == nil {
			return buf.Bytes()
		}
	}
	b, _ := json.Marshal(map[string]string{rawArgumentsKey: args})
	return b
}

// newID returns a random id with prefix, for answers whose upstream gave
// none.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// messageID derives the message id from the upstream's completion id.
func messageID(id string) string {
	if id == "" {
		return newID("msg_")
	}
	return "msg_" + strings.TrimPrefix(id, "chatcmpl-")
}

// toolUseID is the tool_use id for an OpenAI call id.
func toolUseID(id string) string {
	if id == "" {
		return newID("toolu_")
	}
	return id
}

// chatContentText reads a message's content: a string or text parts.
func chatContentText(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// translateResponse builds the Anthropic message for a chat.completion;
// usage is the inner adapter's reading of it, model the model that
// answered.
func translateResponse(body []byte, model string, usage provider.Usage) ([]byte, error) {
	var in chatResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("messages bridge: chat completion: %w", err)
	}
	if len(in.Choices) == 0 {
		return nil, fmt.Errorf("messages bridge: chat completion without choices")
	}
	c := &in.Choices[0]
	out := anMessageOut{ID: messageID(in.ID), Type: "message", Role: "assistant", Model: model, Content: []anBlockOut{}, Usage: usageFrom(usage)}
	if text := chatContentText(c.Message.Content); text != "" {
		out.Content = append(out.Content, anBlockOut{Type: "text", Text: &text})
	}
	if c.Message.Refusal != nil && *c.Message.Refusal != "" {
		out.Content = append(out.Content, anBlockOut{Type: "text", Text: c.Message.Refusal})
	}
	for _, tc := range c.Message.ToolCalls {
		out.Content = append(out.Content, anBlockOut{Type: "tool_use", ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
	}
	if fc := c.Message.FunctionCall; fc != nil {
		out.Content = append(out.Content, anBlockOut{Type: "tool_use", ID: newID("toolu_"), Name: fc.Name, Input: toolInput(fc.Arguments)})
	}
	if c.FinishReason != nil {
		sr := stopReason(*c.FinishReason)
		out.StopReason = &sr
	}
	return marshal(out)
}

// marshal encodes v as encoding/json does, without HTML escaping: the
// text is the model's.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("messages bridge: encode: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
