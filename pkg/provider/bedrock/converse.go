package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates OpenAI Chat Completions into Bedrock's Converse API
// and back (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
//
//	system/developer messages     → system[].text
//	user text / image_url (data:) → content[].text / content[].image{format, source.bytes}
//	assistant tool_calls          → content[].toolUse{toolUseId, name, input}
//	tool messages                 → a user message's content[].toolResult{toolUseId, content[].text}
//	tools / tool_choice           → toolConfig.tools[].toolSpec / toolConfig.toolChoice{auto|any|tool}
//	max_tokens, temperature, top_p, stop → inferenceConfig
//
// Converse wants user and assistant turns to alternate, so consecutive
// messages of one role (tool results followed by a user message) are
// merged into one message. The model id travels in the URL, not the body.

// oaRequest is the part of an OpenAI chat request the translation reads.
type oaRequest struct {
	Messages            []oaMessage     `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Tools               []oaTool        `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
}

type oaMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaToolCall    `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// converseRequest is a Converse (and ConverseStream) request body.
type converseRequest struct {
	Messages        []cvMessage      `json:"messages"`
	System          []cvSystem       `json:"system,omitempty"`
	InferenceConfig *inferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *toolConfig      `json:"toolConfig,omitempty"`
}

type cvSystem struct {
	Text string `json:"text"`
}

type inferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type cvMessage struct {
	Role    string    `json:"role"`
	Content []cvBlock `json:"content"`
}

// cvBlock is one content block: exactly one field is set.
type cvBlock struct {
	Text             *string         `json:"text,omitempty"`
	Image            *cvImage        `json:"image,omitempty"`
	ToolUse          *cvToolUse      `json:"toolUse,omitempty"`
	ToolResult       *cvToolResult   `json:"toolResult,omitempty"`
	ReasoningContent json.RawMessage `json:"reasoningContent,omitempty"`
}

type cvImage struct {
	Format string `json:"format"`
	Source struct {
		// Bytes are the image; encoding/json writes them as base64, the
		// REST API's encoding of a blob.
		Bytes []byte `json:"bytes"`
	} `json:"source"`
}

type cvToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type cvToolResult struct {
	ToolUseID string         `json:"toolUseId"`
	Content   []cvResultPart `json:"content"`
}

type cvResultPart struct {
	Text string `json:"text"`
}

type toolConfig struct {
	Tools      []cvTool        `json:"tools"`
	ToolChoice json.RawMessage `json:"toolChoice,omitempty"`
}

type cvTool struct {
	ToolSpec struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		InputSchema struct {
			JSON json.RawMessage `json:"json"`
		} `json:"inputSchema"`
	} `json:"toolSpec"`
}

// emptySchema is the input schema of a tool that declares no parameters.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// translateRequest builds the Converse body from an OpenAI chat body.
// defaultMaxTokens (0 = none) is sent when the request sets no limit.
func translateRequest(body []byte, defaultMaxTokens int) ([]byte, error) {
	var in oaRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &provider.RequestError{Message: "request body is not a valid chat completion request: " + err.Error()}
	}
	out := converseRequest{Messages: []cvMessage{}}
	hasToolBlocks := false
	for i, m := range in.Messages {
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			text, err := textOf(p, m.Content)
			if err != nil {
				return nil, err
			}
			if text != "" {
				out.System = append(out.System, cvSystem{Text: text})
			}
		case "user":
			blocks, err := userBlocks(p, m.Content)
			if err != nil {
				return nil, err
			}
			out.Messages = appendTurn(out.Messages, "user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(p, m)
			if err != nil {
				return nil, err
			}
			hasToolBlocks = hasToolBlocks || len(m.ToolCalls) > 0
			out.Messages = appendTurn(out.Messages, "assistant", blocks)
		case "tool":
			if m.ToolCallID == "" {
				return nil, &provider.RequestError{Param: p + ".tool_call_id", Message: "a tool message needs tool_call_id"}
			}
			text, err := textOf(p, m.Content)
			if err != nil {
				return nil, err
			}
			hasToolBlocks = true
			res := &cvToolResult{ToolUseID: m.ToolCallID, Content: []cvResultPart{{Text: text}}}
			out.Messages = appendTurn(out.Messages, "user", []cvBlock{{ToolResult: res}})
		default:
			return nil, &provider.RequestError{Param: p + ".role", Message: fmt.Sprintf("role %q is not supported", m.Role)}
		}
	}
	if len(out.Messages) == 0 {
		return nil, &provider.RequestError{Param: "messages", Message: "at least one user or assistant message is required"}
	}
	ic := inferenceConfig{Temperature: in.Temperature, TopP: in.TopP}
	switch {
	case in.MaxCompletionTokens != nil:
		ic.MaxTokens = in.MaxCompletionTokens
	case in.MaxTokens != nil:
		ic.MaxTokens = in.MaxTokens
	case defaultMaxTokens > 0:
		ic.MaxTokens = &defaultMaxTokens
	}
	stops, err := stopSequences(in.Stop)
	if err != nil {
		return nil, err
	}
	ic.StopSequences = stops
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		out.InferenceConfig = &ic
	}
	tc, err := tools(in.Tools, in.ToolChoice, hasToolBlocks)
	if err != nil {
		return nil, err
	}
	out.ToolConfig = tc
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode converse request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendTurn adds blocks as a turn of role, merged into the previous
// message when it has the same role (Converse wants turns to alternate).
func appendTurn(msgs []cvMessage, role string, blocks []cvBlock) []cvMessage {
	if len(blocks) == 0 {
		return msgs
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == role {
		msgs[n-1].Content = append(msgs[n-1].Content, blocks...)
		return msgs
	}
	return append(msgs, cvMessage{Role: role, Content: blocks})
}

// textOf reads a content that must be text: a string or text parts.
func textOf(p string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []oaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", &provider.RequestError{Param: p + ".content", Message: "content must be a string or an array of content parts"}
	}
	var b strings.Builder
	for j, part := range parts {
		if part.Type != "text" {
			return "", &provider.RequestError{Param: fmt.Sprintf("%s.content[%d].type", p, j), Message: fmt.Sprintf("content part type %q is not supported here", part.Type)}
		}
		b.WriteString(part.Text)
	}
	return b.String(), nil
}

func text(s string) cvBlock { return cvBlock{Text: &s} }

func userBlocks(p string, raw json.RawMessage) ([]cvBlock, error) {
	if isNull(raw) {
		return nil, &provider.RequestError{Param: p + ".content", Message: "a user message needs content"}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []cvBlock{text(s)}, nil
	}
	var parts []oaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, &provider.RequestError{Param: p + ".content", Message: "content must be a string or an array of content parts"}
	}
	blocks := make([]cvBlock, 0, len(parts))
	for j, part := range parts {
		pp := fmt.Sprintf("%s.content[%d]", p, j)
		switch part.Type {
		case "text":
			if part.Text != "" {
				blocks = append(blocks, text(part.Text))
			}
		case "image_url":
			if part.ImageURL == nil {
				return nil, &provider.RequestError{Param: pp + ".image_url", Message: "image_url is required"}
			}
			img, err := imageBlock(pp+".image_url.url", part.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, cvBlock{Image: img})
		default:
			return nil, &provider.RequestError{Param: pp + ".type", Message: fmt.Sprintf("content part type %q is not supported by bedrock", part.Type)}
		}
	}
	return blocks, nil
}

// imageFormats are the image formats Converse takes, by media type.
var imageFormats = map[string]string{"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}

// imageBlock reads a base64 data URL. Converse takes image bytes (or an S3
// location), never a URL it would fetch.
func imageBlock(p, url string) (*cvImage, error) {
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return nil, &provider.RequestError{Param: p, Message: "bedrock takes images as base64 data URLs only (data:image/png;base64,...)"}
	}
	meta, data, ok := strings.Cut(rest, ",")
	media, isB64 := strings.CutSuffix(meta, ";base64")
	format := imageFormats[strings.ToLower(media)]
	if !ok || !isB64 || format == "" {
		return nil, &provider.RequestError{Param: p, Message: "the data URL must be base64-encoded png, jpeg, gif or webp"}
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, &provider.RequestError{Param: p, Message: "the data URL's base64 does not decode"}
	}
	img := &cvImage{Format: format}
	img.Source.Bytes = b
	return img, nil
}

func assistantBlocks(p string, m oaMessage) ([]cvBlock, error) {
	t, err := textOf(p, m.Content)
	if err != nil {
		return nil, err
	}
	var blocks []cvBlock
	if t != "" {
		blocks = append(blocks, text(t))
	}
	for k, tc := range m.ToolCalls {
		pp := fmt.Sprintf("%s.tool_calls[%d]", p, k)
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, &provider.RequestError{Param: pp, Message: "a tool call needs an id and a function name"}
		}
		input := json.RawMessage(tc.Function.Arguments)
		if strings.TrimSpace(tc.Function.Arguments) == "" {
			input = json.RawMessage(`{}`)
		}
		if !json.Valid(input) || !isObject(input) {
			return nil, &provider.RequestError{Param: pp + ".function.arguments", Message: "arguments must be a JSON object"}
		}
		blocks = append(blocks, cvBlock{ToolUse: &cvToolUse{ToolUseID: tc.ID, Name: tc.Function.Name, Input: compact(input)}})
	}
	return blocks, nil
}

func stopSequences(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &provider.RequestError{Param: "stop", Message: "stop must be a string or an array of strings"}
	}
	return list, nil
}

// tools builds toolConfig. tool_choice "none" has no Converse counterpart:
// the tools are left out, unless the conversation already holds tool
// blocks, which Converse accepts only with a toolConfig (the model is then
// free to call one).
func tools(in []oaTool, choice json.RawMessage, hasToolBlocks bool) (*toolConfig, error) {
	if len(in) == 0 {
		return nil, nil
	}
	var mode string
	named := ""
	if !isNull(choice) {
		if json.Unmarshal(choice, &mode) != nil {
			var c struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := json.Unmarshal(choice, &c); err != nil || c.Function.Name == "" {
				return nil, &provider.RequestError{Param: "tool_choice", Message: `tool_choice must be "auto", "required", "none" or {"type":"function","function":{"name":...}}`}
			}
			mode, named = "function", c.Function.Name
		}
	}
	tc := &toolConfig{}
	switch mode {
	case "", "auto":
	case "required":
		tc.ToolChoice = json.RawMessage(`{"any":{}}`)
	case "none":
		if !hasToolBlocks {
			return nil, nil
		}
	case "function":
		b, _ := json.Marshal(map[string]map[string]string{"tool": {"name": named}})
		tc.ToolChoice = b
	default:
		return nil, &provider.RequestError{Param: "tool_choice", Message: fmt.Sprintf("tool_choice %q is not supported", mode)}
	}
	for i, t := range in {
		if t.Type != "function" || t.Function.Name == "" {
			return nil, &provider.RequestError{Param: fmt.Sprintf("tools[%d]", i), Message: "only function tools with a name are supported"}
		}
		var ct cvTool
		ct.ToolSpec.Name = t.Function.Name
		ct.ToolSpec.Description = t.Function.Description
		ct.ToolSpec.InputSchema.JSON = emptySchema
		if !isNull(t.Function.Parameters) {
			ct.ToolSpec.InputSchema.JSON = compact(t.Function.Parameters)
		}
		tc.Tools = append(tc.Tools, ct)
	}
	return tc, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// converseResponse is a Converse answer.
type converseResponse struct {
	Output *struct {
		Message *cvMessage `json:"message"`
	} `json:"output"`
	StopReason string   `json:"stopReason"`
	Usage      *cvUsage `json:"usage"`
}

type cvUsage struct {
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	TotalTokens           int64 `json:"totalTokens"`
	CacheReadInputTokens  int64 `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
}

// usage counts cached prompt tokens into InputTokens: Bedrock, like
// Anthropic, leaves them out of inputTokens, OpenAI's prompt_tokens has them.
func (u *cvUsage) usage() provider.Usage {
	if u == nil {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:         u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens,
		OutputTokens:        u.OutputTokens,
		CacheReadTokens:     u.CacheReadInputTokens,
		CacheCreationTokens: u.CacheWriteInputTokens,
	}
}

// finishReason maps a Converse stopReason onto OpenAI's finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "guardrail_intervened", "content_filtered":
		return "content_filter"
	default: // end_turn, stop_sequence
		return "stop"
	}
}

type oaCompletion struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   oaUsage    `json:"usage"`
}

type oaChoice struct {
	Index        int       `json:"index"`
	Message      oaOutMsg  `json:"message"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type oaOutMsg struct {
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	Refusal   *string         `json:"refusal"`
	ToolCalls []oaOutToolCall `json:"tool_calls,omitempty"`
}

type oaOutToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func openAIUsage(u provider.Usage) oaUsage {
	o := oaUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens}
	o.PromptTokensDetails.CachedTokens = u.CacheReadTokens
	return o
}

// translateResponse turns a Converse answer into a chat.completion. A
// Converse answer names neither an id nor the model: id is made by the
// adapter and model is the model asked for. Reasoning blocks are dropped:
// Chat Completions has no place for them.
func translateResponse(body []byte, id, model string, created int64) (*provider.Response, error) {
	var in converseResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("decode bedrock converse answer: %w", err)
	}
	if in.Output == nil || in.Output.Message == nil {
		return nil, fmt.Errorf("bedrock converse answer has no output.message")
	}
	msg := oaOutMsg{Role: "assistant"}
	var texts strings.Builder
	hasText := false
	for _, b := range in.Output.Message.Content {
		switch {
		case b.Text != nil:
			texts.WriteString(*b.Text)
			hasText = true
		case b.ToolUse != nil:
			tc := oaOutToolCall{ID: b.ToolUse.ToolUseID, Type: "function"}
			tc.Function.Name = b.ToolUse.Name
			tc.Function.Arguments = "{}"
			if !isNull(b.ToolUse.Input) {
				tc.Function.Arguments = string(compact(b.ToolUse.Input))
			}
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if hasText || len(msg.ToolCalls) == 0 {
		s := texts.String()
		msg.Content = &s
	}
	reason := finishReason(in.StopReason)
	u := in.Usage.usage()
	out := oaCompletion{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []oaChoice{{Message: msg, FinishReason: reason}},
		Usage:   openAIUsage(u),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode chat completion: %w", err)
	}
	return &provider.Response{
		Body:          bytes.TrimSuffix(buf.Bytes(), []byte("\n")),
		Model:         model,
		Usage:         u,
		FinishReasons: []string{reason},
	}, nil
}
