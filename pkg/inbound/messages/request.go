package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates an Anthropic Messages request into an OpenAI Chat
// Completions request:
//
//	system (string or text blocks)   → a leading system message
//	user text / image blocks         → a user message (a string for one text block, parts otherwise)
//	user tool_result blocks          → tool messages, before the user's other content
//	assistant text / tool_use blocks → an assistant message with tool_calls
//	thinking / redacted_thinking     → left out (the target cannot read them back)
//	cache_control on any block       → ignored (no portable counterpart; caching is the target's own)
//	tools / tool_choice              → function tools / auto, required, {function}, none
//	stop_sequences, max_tokens, temperature, top_p, stream, metadata.user_id
//	                                 → stop, max_tokens (max_completion_tokens for openai, azure_openai), temperature,
//	                                   top_p, stream + stream_options.include_usage, user
//
// Blocks and tools no Chat Completions target can serve (documents, server
// tools, search results) are refused with a RequestError naming the field.

// anRequest is the part of an Anthropic request the bridge reads; the
// fields left as raw JSON are decoded one by one so that an error names
// the field's path. Fields not listed (top_k, thinking, service_tier, ...)
// are not sent: the bridge's ParamTable tells the router which of them
// change the answer.
type anRequest struct {
	Model         string            `json:"model"`
	System        json.RawMessage   `json:"system"`
	Messages      []json.RawMessage `json:"messages"`
	MaxTokens     *int64            `json:"max_tokens"`
	Temperature   *float64          `json:"temperature"`
	TopP          *float64          `json:"top_p"`
	StopSequences []string          `json:"stop_sequences"`
	Tools         []json.RawMessage `json:"tools"`
	ToolChoice    json.RawMessage   `json:"tool_choice"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    *anSource       `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type anTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// chatRequest is the OpenAI request the bridge writes, in the order
// OpenAI documents its fields.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int64          `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                []string        `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *streamOptions  `json:"stream_options,omitempty"`
	Tools               []chatTool      `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	User                string          `json:"user,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatPart struct {
	Type     string        `json:"type"`
	Text     *string       `json:"text,omitempty"`
	ImageURL *chatImageURL `json:"image_url,omitempty"`
}

type chatImageURL struct {
	URL string `json:"url"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string      `json:"type"`
	Function chatToolDef `json:"function"`
}

type chatToolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// emptySchema stands for a tool without input_schema: OpenAI requires
// parameters to be an object schema.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// toolErrorPrefix marks a tool_result with is_error: Chat Completions has
// no flag for it, so the model reads it in the text.
const toolErrorPrefix = "[tool error] "

func reqErr(param, format string, args ...any) error {
	return &provider.RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// decodeAt decodes raw into v; a mismatch is the client's fault at path.
func decodeAt(raw json.RawMessage, v any, path, what string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return reqErr(path, "invalid %s: %v", what, err)
	}
	return nil
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// translateRequest builds the Chat Completions body for an Anthropic
// Messages body. model is the model to ask for; maxCompletion writes
// max_tokens as max_completion_tokens (OpenAI's own API, whose reasoning
// models refuse max_tokens).
func translateRequest(body []byte, model string, stream, maxCompletion bool) ([]byte, error) {
	var in anRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, reqErr("", "invalid Messages request: %v", err)
	}
	out := chatRequest{Model: model, Temperature: in.Temperature, TopP: in.TopP, Stop: in.StopSequences}
	if maxCompletion {
		out.MaxCompletionTokens = in.MaxTokens
	} else {
		out.MaxTokens = in.MaxTokens
	}
	if stream {
		out.Stream = true
		// Without it an OpenAI stream carries no usage at all.
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if in.Metadata != nil {
		out.User = in.Metadata.UserID
	}
	if err := translateSystem(in.System, &out); err != nil {
		return nil, err
	}
	for i, raw := range in.Messages {
		if err := translateMessage(raw, "messages["+strconv.Itoa(i)+"]", &out); err != nil {
			return nil, err
		}
	}
	if err := translateTools(in.Tools, in.ToolChoice, &out); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The text is the client's: keep <, > and & as they were written.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, reqErr("", "cannot encode the translated request: %v", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func translateSystem(raw json.RawMessage, out *chatRequest) error {
	if isNull(raw) {
		return nil
	}
	var text string
	if raw[0] == '"' {
		if err := decodeAt(raw, &text, "system", "system"); err != nil {
			return err
		}
	} else {
		var blocks []anBlock
		if err := decodeAt(raw, &blocks, "system", "system"); err != nil {
			return err
		}
		texts := make([]string, 0, len(blocks))
		for i, b := range blocks {
			if b.Type != "text" {
				return reqErr("system["+strconv.Itoa(i)+"].type", "system blocks must be text, not %q", b.Type)
			}
			texts = append(texts, b.Text)
		}
		text = strings.Join(texts, "\n\n")
	}
	if text != "" {
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: text})
	}
	return nil
}

// blocks decodes a content value: a string is one text block.
func blocks(raw json.RawMessage, path string) ([]anBlock, error) {
	if isNull(raw) {
		return nil, nil
	}
	if bytes.TrimSpace(raw)[0] == '"' {
		var s string
		if err := decodeAt(raw, &s, path, "content"); err != nil {
			return nil, err
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	}
	var bs []anBlock
	if err := decodeAt(raw, &bs, path, "content"); err != nil {
		return nil, err
	}
	return bs, nil
}

func translateMessage(raw json.RawMessage, path string, out *chatRequest) error {
	var m anMessage
	if err := decodeAt(raw, &m, path, "message"); err != nil {
		return err
	}
	bs, err := blocks(m.Content, path+".content")
	if err != nil {
		return err
	}
	switch m.Role {
	case "user":
		return translateUser(bs, path, out)
	case "assistant":
		return translateAssistant(bs, path, out)
	}
	return reqErr(path+".role", "role must be user or assistant, not %q", m.Role)
}

func blockPath(path string, j int) string { return path + ".content[" + strconv.Itoa(j) + "]" }

// translateUser writes a user turn: its tool results first, as tool
// messages (Chat Completions wants them right after the assistant's
// tool_calls), then its text and images as one user message.
func translateUser(bs []anBlock, path string, out *chatRequest) error {
	var parts []chatPart
	for j := range bs {
		b := &bs[j]
		bp := blockPath(path, j)
		switch b.Type {
		case "text":
			parts = append(parts, textPart(b.Text))
		case "image":
			p, err := imagePart(b.Source, bp)
			if err != nil {
				return err
			}
			parts = append(parts, p)
		case "tool_result":
			text, images, err := toolResult(b, bp)
			if err != nil {
				return err
			}
			out.Messages = append(out.Messages, chatMessage{Role: "tool", Content: text, ToolCallID: b.ToolUseID})
			// Tool messages take text only: a result's images follow in
			// the user message.
			parts = append(parts, images...)
		case "thinking", "redacted_thinking":
		default:
			return unsupportedBlock(b.Type, bp)
		}
	}
	switch {
	case len(parts) == 0:
	case len(parts) == 1 && parts[0].Type == "text":
		out.Messages = append(out.Messages, chatMessage{Role: "user", Content: *parts[0].Text})
	default:
		out.Messages = append(out.Messages, chatMessage{Role: "user", Content: parts})
	}
	return nil
}

func unsupportedBlock(typ, path string) error {
	return reqErr(path+".type", "content block type %q cannot be sent to this target (only text, image, tool_use, tool_result and thinking are translated)", typ)
}

func textPart(s string) chatPart { return chatPart{Type: "text", Text: &s} }

func imagePart(src *anSource, path string) (chatPart, error) {
	if src == nil {
		return chatPart{}, reqErr(path+".source", "an image needs a source")
	}
	switch src.Type {
	case "base64":
		return chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: "data:" + src.MediaType + ";base64," + src.Data}}, nil
	case "url":
		return chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: src.URL}}, nil
	}
	return chatPart{}, reqErr(path+".source.type", "image source type %q cannot be sent to this target (base64 and url are translated)", src.Type)
}

// toolResult returns a tool_result's text and its images.
func toolResult(b *anBlock, path string) (string, []chatPart, error) {
	inner, err := blocks(b.Content, path+".content")
	if err != nil {
		return "", nil, err
	}
	var texts []string
	var images []chatPart
	for k := range inner {
		ib := &inner[k]
		ip := path + ".content[" + strconv.Itoa(k) + "]"
		switch ib.Type {
		case "text":
			texts = append(texts, ib.Text)
		case "image":
			p, err := imagePart(ib.Source, ip)
			if err != nil {
				return "", nil, err
			}
			images = append(images, p)
		default:
			return "", nil, unsupportedBlock(ib.Type, ip)
		}
	}
	text := strings.Join(texts, "\n")
	if b.IsError {
		text = toolErrorPrefix + text
	}
	return text, images, nil
}

func translateAssistant(bs []anBlock, path string, out *chatRequest) error {
	msg := chatMessage{Role: "assistant"}
	var texts []string
	for j := range bs {
		b := &bs[j]
		bp := blockPath(path, j)
		switch b.Type {
		case "text":
			texts = append(texts, b.Text)
		case "tool_use":
			args := "{}"
			if !isNull(b.Input) {
				var buf bytes.Buffer
				if err := json.Compact(&buf, b.Input); err != nil {
					return reqErr(bp+".input", "invalid input: %v", err)
				}
				args = buf.String()
			}
			msg.ToolCalls = append(msg.ToolCalls, chatToolCall{ID: b.ID, Type: "function", Function: chatFunction{Name: b.Name, Arguments: args}})
		case "thinking", "redacted_thinking":
			// The target's model did not write them and cannot check
			// their signatures: left out.
		default:
			return unsupportedBlock(b.Type, bp)
		}
	}
	if len(texts) > 0 {
		msg.Content = strings.Join(texts, "\n")
	}
	if msg.Content == nil && msg.ToolCalls == nil {
		// Only thinking: nothing the target can read.
		return nil
	}
	out.Messages = append(out.Messages, msg)
	return nil
}

func translateTools(tools []json.RawMessage, choice json.RawMessage, out *chatRequest) error {
	for i, raw := range tools {
		path := "tools[" + strconv.Itoa(i) + "]"
		var t anTool
		if err := decodeAt(raw, &t, path, "tool"); err != nil {
			return err
		}
		if t.Type != "" && t.Type != "custom" {
			return reqErr(path+".type", "server tool %q cannot be run by this target (only custom tools are translated)", t.Type)
		}
		if t.Name == "" {
			return reqErr(path+".name", "a tool needs a name")
		}
		params := t.InputSchema
		if isNull(params) {
			params = emptySchema
		}
		out.Tools = append(out.Tools, chatTool{Type: "function", Function: chatToolDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if isNull(choice) {
		return nil
	}
	var tc anToolChoice
	if err := decodeAt(choice, &tc, "tool_choice", "tool_choice"); err != nil {
		return err
	}
	var oc string
	switch tc.Type {
	case "auto":
		oc = `"auto"`
	case "any":
		oc = `"required"`
	case "none":
		oc = `"none"`
	case "tool":
		if tc.Name == "" {
			return reqErr("tool_choice.name", "tool_choice of type tool needs a name")
		}
		name, _ := json.Marshal(tc.Name)
		oc = `{"type":"function","function":{"name":` + string(name) + `}}`
	default:
		return reqErr("tool_choice.type", "tool_choice type must be auto, any, tool or none, not %q", tc.Type)
	}
	// OpenAI refuses tool_choice and parallel_tool_calls without tools.
	if len(out.Tools) == 0 {
		return nil
	}
	out.ToolChoice = json.RawMessage(oc)
	if tc.DisableParallelToolUse {
		f := false
		out.ParallelToolCalls = &f
	}
	return nil
}
