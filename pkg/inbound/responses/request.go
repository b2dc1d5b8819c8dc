package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates a Responses API request into a Chat Completions
// request.
//
//	instructions                  → first system message
//	input "text"                  → one user message
//	message items                 → messages (developer → system, for
//	                                 servers that do not know the role)
//	  input_text / output_text    → text (one part becomes a string)
//	  input_image                 → image_url part (file_id refused)
//	  input_file                  → file part (file_data only)
//	function_call                 → tool_calls of the assistant message
//	                                 before it (or a new one)
//	function_call_output          → tool message
//	reasoning                     → left out (the chat side cannot take it)
//	tools (function)              → chat function tools
//	tool_choice                   → chat tool_choice
//	text.format                   → response_format
//	max_output_tokens             → max_tokens
//	temperature, top_p, parallel_tool_calls, user, safety_identifier → as is
//	stream                        → stream, with stream_options.include_usage
//
// Everything else is left out; the parameter table (params.go) tells the
// router which of those fields make a target unfit (stateful ones,
// built-in tools) or are dropped on failover.

// rRequest is the part of a Responses request the bridge reads.
type rRequest struct {
	Instructions      json.RawMessage   `json:"instructions"`
	Input             json.RawMessage   `json:"input"`
	Tools             []json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage   `json:"tool_choice"`
	Text              *rText            `json:"text"`
	MaxOutputTokens   *int64            `json:"max_output_tokens"`
	Temperature       *float64          `json:"temperature"`
	TopP              *float64          `json:"top_p"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls"`
	User              string            `json:"user"`
	SafetyIdentifier  string            `json:"safety_identifier"`
	Stream            bool              `json:"stream"`
}

type rText struct {
	Format *rFormat `json:"format"`
}

type rFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

// rItem is one input item; which fields count depends on Type.
type rItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// rPart is one content part of a message item.
type rPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL string `json:"image_url"`
	FileID   string `json:"file_id"`
	Detail   string `json:"detail"`
	FileData string `json:"file_data"`
	FileURL  string `json:"file_url"`
	Filename string `json:"filename"`
}

// rTool is a Responses function tool, in its flat shape.
type rTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// The chat request the bridge writes.
type chatRequest struct {
	Model             string          `json:"model"`
	Messages          []chatMessage   `json:"messages"`
	Tools             []chatTool      `json:"tools,omitempty"`
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat    json.RawMessage `json:"response_format,omitempty"`
	MaxTokens         *int64          `json:"max_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	User              string          `json:"user,omitempty"`
	SafetyIdentifier  string          `json:"safety_identifier,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	StreamOptions     *streamOptions  `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	ToolCalls  []chatToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
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
	Type     string           `json:"type"`
	Function chatToolFunction `json:"function"`
}

type chatToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type chatPart struct {
	Type     string        `json:"type"`
	Text     string        `json:"text,omitempty"`
	ImageURL *chatImageURL `json:"image_url,omitempty"`
	File     *chatFile     `json:"file,omitempty"`
}

type chatImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type chatFile struct {
	FileData string `json:"file_data"`
	Filename string `json:"filename,omitempty"`
}

func reqErr(param, format string, args ...any) error {
	return &provider.RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// toChat translates a Responses request body into a chat request body
// asking model for the answer. A request chat cannot express is a
// *provider.RequestError naming the field.
func toChat(body []byte, model string) ([]byte, error) {
	var in rRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, decodeError(err)
	}
	out := chatRequest{
		Model:             model,
		Messages:          []chatMessage{},
		MaxTokens:         in.MaxOutputTokens,
		Temperature:       in.Temperature,
		TopP:              in.TopP,
		ParallelToolCalls: in.ParallelToolCalls,
		User:              in.User,
		SafetyIdentifier:  in.SafetyIdentifier,
		Stream:            in.Stream,
	}
	if in.Stream {
		// response.completed carries usage, so it is always asked for.
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if !isNull(in.Instructions) {
		var s string
		if err := json.Unmarshal(in.Instructions, &s); err != nil {
			return nil, reqErr("instructions", "expected a string")
		}
		if s != "" {
			out.Messages = append(out.Messages, chatMessage{Role: "system", Content: jsonString(s)})
		}
	}
	msgs, err := messages(in.Input)
	if err != nil {
		return nil, err
	}
	out.Messages = append(out.Messages, msgs...)
	for i, raw := range in.Tools {
		var t rTool
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, reqErr("tools["+strconv.Itoa(i)+"]", "expected a tool object")
		}
		if t.Type != "function" {
			return nil, reqErr("tools["+strconv.Itoa(i)+"].type", "%q tools run only inside the Responses API; a bridged request can use function tools", t.Type)
		}
		if t.Name == "" {
			return nil, reqErr("tools["+strconv.Itoa(i)+"].name", "a function tool needs a name")
		}
		params := t.Parameters
		if isNull(params) {
			params = nil
		}
		out.Tools = append(out.Tools, chatTool{Type: "function", Function: chatToolFunction{Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict}})
	}
	if out.ToolChoice, err = toolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	if in.Text != nil && in.Text.Format != nil {
		if out.ResponseFormat, err = responseFormat(in.Text.Format); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode chat request: %w", err)
	}
	return b, nil
}

// messages translates input: a string or a list of items.
func messages(input json.RawMessage) ([]chatMessage, error) {
	switch firstByte(input) {
	case 0, 'n':
		return nil, reqErr("input", "input is required")
	case '"':
		var s string
		if err := json.Unmarshal(input, &s); err != nil {
			return nil, reqErr("input", "expected a string or a list of items")
		}
		return []chatMessage{{Role: "user", Content: jsonString(s)}}, nil
	case '[':
	default:
		return nil, reqErr("input", "expected a string or a list of items")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(input, &items); err != nil {
		return nil, reqErr("input", "expected a string or a list of items")
	}
	var out []chatMessage
	for i, raw := range items {
		param := "input[" + strconv.Itoa(i) + "]"
		var it rItem
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, decodeErrorAt(param, err)
		}
		typ := it.Type
		if typ == "" && it.Role != "" {
			typ = "message" // EasyInputMessage: {role, content}
		}
		switch typ {
		case "message":
			m, err := message(param, &it)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, reqErr(param, "a function_call item needs call_id and name")
			}
			tc := chatToolCall{ID: it.CallID, Type: "function", Function: chatFunction{Name: it.Name, Arguments: it.Arguments}}
			// Parallel calls replay as consecutive items; chat wants them
			// on the assistant message that made them.
			if n := len(out); n > 0 && out[n-1].Role == "assistant" {
				out[n-1].ToolCalls = append(out[n-1].ToolCalls, tc)
			} else {
				out = append(out, chatMessage{Role: "assistant", ToolCalls: []chatToolCall{tc}})
			}
		case "function_call_output":
			if it.CallID == "" {
				return nil, reqErr(param+".call_id", "a function_call_output item needs call_id")
			}
			text, err := outputText(param+".output", it.Output)
			if err != nil {
				return nil, err
			}
			out = append(out, chatMessage{Role: "tool", ToolCallID: it.CallID, Content: jsonString(text)})
		case "reasoning":
			// A reasoning model's own notes: no chat model can take them.
		case "item_reference":
			return nil, reqErr(param+".type", "item_reference items are %s", noteStateful)
		default:
			return nil, reqErr(param+".type", "%q items cannot be sent through Chat Completions", typ)
		}
	}
	return out, nil
}

// message translates one message item.
func message(param string, it *rItem) (chatMessage, error) {
	role := it.Role
	switch role {
	case "user", "system", "assistant":
	case "developer":
		role = "system"
	default:
		return chatMessage{}, reqErr(param+".role", "unknown role %q", it.Role)
	}
	switch firstByte(it.Content) {
	case '"':
		return chatMessage{Role: role, Content: it.Content}, nil
	case '[':
	default:
		return chatMessage{}, reqErr(param+".content", "expected a string or a list of parts")
	}
	var parts []rPart
	if err := json.Unmarshal(it.Content, &parts); err != nil {
		return chatMessage{}, decodeErrorAt(param+".content", err)
	}
	var out []chatPart
	textOnly := true
	for j, p := range parts {
		pp := param + ".content[" + strconv.Itoa(j) + "]"
		switch p.Type {
		case "input_text", "output_text", "text":
			out = append(out, chatPart{Type: "text", Text: p.Text})
		case "refusal":
			out = append(out, chatPart{Type: "text", Text: p.Refusal})
		case "input_image":
			if p.FileID != "" || p.ImageURL == "" {
				return chatMessage{}, reqErr(pp+".file_id", "images are sent through the bridge by image_url (a URL or a data: URL); file ids live at OpenAI")
			}
			detail := p.Detail
			if detail == "auto" {
				detail = ""
			}
			out = append(out, chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: p.ImageURL, Detail: detail}})
			textOnly = false
		case "input_file":
			if p.FileData == "" {
				return chatMessage{}, reqErr(pp, "files are sent through the bridge as file_data; file ids and URLs live at OpenAI")
			}
			out = append(out, chatPart{Type: "file", File: &chatFile{FileData: p.FileData, Filename: p.Filename}})
			textOnly = false
		default:
			return chatMessage{}, reqErr(pp+".type", "%q parts cannot be sent through Chat Completions", p.Type)
		}
	}
	if !textOnly && role != "user" {
		return chatMessage{}, reqErr(param+".content", "only user messages may hold images and files")
	}
	if textOnly && (len(out) == 1 || role != "user") {
		// One string is what every chat server takes; system and
		// assistant text is joined as the model would read it anyway.
		var sb strings.Builder
		for _, p := range out {
			sb.WriteString(p.Text)
		}
		return chatMessage{Role: role, Content: jsonString(sb.String())}, nil
	}
	if len(out) == 0 {
		return chatMessage{Role: role, Content: jsonString("")}, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return chatMessage{}, fmt.Errorf("encode content: %w", err)
	}
	return chatMessage{Role: role, Content: b}, nil
}

// outputText is a function_call_output's output: a string, or a list of
// text parts joined (chat tool messages hold text only).
func outputText(param string, raw json.RawMessage) (string, error) {
	switch firstByte(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", reqErr(param, "expected a string")
		}
		return s, nil
	case '[':
		var parts []rPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", decodeErrorAt(param, err)
		}
		var sb strings.Builder
		for j, p := range parts {
			if p.Type != "input_text" && p.Type != "output_text" && p.Type != "text" {
				return "", reqErr(param+"["+strconv.Itoa(j)+"].type", "a chat tool result holds text only, not %q", p.Type)
			}
			sb.WriteString(p.Text)
		}
		return sb.String(), nil
	}
	return "", reqErr(param, "expected a string or a list of parts")
}

// toolChoice translates tool_choice; nil when absent.
func toolChoice(raw json.RawMessage) (json.RawMessage, error) {
	switch firstByte(raw) {
	case 0, 'n':
		return nil, nil
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto", "none", "required":
			return jsonString(s), nil
		}
		return nil, reqErr("tool_choice", "unknown tool_choice %q", s)
	case '{':
		var c struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, decodeErrorAt("tool_choice", err)
		}
		if c.Type != "function" {
			return nil, reqErr("tool_choice.type", "%q cannot be forced through Chat Completions", c.Type)
		}
		if c.Name == "" {
			return nil, reqErr("tool_choice.name", "a function tool_choice needs a name")
		}
		return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": c.Name}})
	}
	return nil, reqErr("tool_choice", "expected a string or an object")
}

// responseFormat translates text.format; nil for plain text.
func responseFormat(f *rFormat) (json.RawMessage, error) {
	switch f.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return json.RawMessage(`{"type":"json_object"}`), nil
	case "json_schema":
		if f.Name == "" {
			return nil, reqErr("text.format.name", "a json_schema format needs a name")
		}
		if isNull(f.Schema) {
			return nil, reqErr("text.format.schema", "a json_schema format needs a schema")
		}
		type schema struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict,omitempty"`
		}
		return json.Marshal(struct {
			Type       string `json:"type"`
			JSONSchema schema `json:"json_schema"`
		}{"json_schema", schema{f.Name, f.Description, f.Schema, f.Strict}})
	}
	return nil, reqErr("text.format.type", "unknown format %q", f.Type)
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // strings always marshal
	return b
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// firstByte is the first non-space byte of raw, 0 when empty.
func firstByte(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// decodeError turns a decoding failure of the client's body into a
// RequestError naming the field when the decoder knows it.
func decodeError(err error) error { return decodeErrorAt("", err) }

func decodeErrorAt(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		param := te.Field
		if prefix != "" {
			param = prefix
			if te.Field != "" {
				param += "." + te.Field
			}
		}
		return reqErr(param, "expected %s, got %s", te.Type.Kind(), te.Value)
	}
	if prefix != "" {
		return reqErr(prefix, "invalid value: %v", err)
	}
	return reqErr("", "request body is not valid JSON: %v", err)
}
