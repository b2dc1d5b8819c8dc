package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// anthropicRequest is the Messages request body. Unused fields are kept as
// raw JSON so that strict decoding accepts them: the real API answers "Extra
// inputs are not permitted" to anything else, which catches a translator
// leaking OpenAI-only fields.
type anthropicRequest struct {
	Model         *string         `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        *bool           `json:"stream"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Tools         json.RawMessage `json:"tools"`
	ToolChoice    json.RawMessage `json:"tool_choice"`

	Metadata          json.RawMessage `json:"metadata"`
	Thinking          json.RawMessage `json:"thinking"`
	ServiceTier       json.RawMessage `json:"service_tier"`
	Container         json.RawMessage `json:"container"`
	ContextManagement json.RawMessage `json:"context_management"`
	MCPServers        json.RawMessage `json:"mcp_servers"`
}

type anthropicInMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// anthropicInBlock is one input content block; only the fields the checks
// read are decoded.
type anthropicInBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	Source    json.RawMessage `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

type anthropicInTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// anthropicToolNameRE is the Messages API rule for custom tool names.
var anthropicToolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

func invalidRequest(format string, args ...any) *apiError {
	return &apiError{typ: "invalid_request_error", message: fmt.Sprintf(format, args...)}
}

// parseAnthropic validates a Messages body as the Anthropic API does (the
// common cases) and extracts the conversation.
func parseAnthropic(body []byte) (*conversation, *apiError) {
	var req anthropicRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return nil, invalidRequest("%s: Extra inputs are not permitted", unknown)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalidRequest("%s: Input should be %s", te.Field, goTypeName(te.Type.Kind().String()))
		}
		return nil, invalidRequest("There was an error parsing the body of your request. Please check that it is valid JSON.")
	}
	c := &conversation{}
	if req.Model != nil {
		c.model = *req.Model
	}
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	return c, fillAnthropic(c, &req)
}

func fillAnthropic(c *conversation, req *anthropicRequest) *apiError {
	switch {
	case req.Model == nil:
		return invalidRequest("model: Field required")
	case c.model == "":
		return invalidRequest("model: String should have at least 1 character")
	case req.MaxTokens == nil:
		return invalidRequest("max_tokens: Field required")
	case *req.MaxTokens < 1:
		return invalidRequest("max_tokens: Input should be greater than or equal to 1")
	case isNull(req.Messages):
		return invalidRequest("messages: Field required")
	}
	c.maxTokens = *req.MaxTokens
	for _, r := range []struct {
		name string
		v    *float64
	}{{"temperature", req.Temperature}, {"top_p", req.TopP}} {
		switch {
		case r.v == nil:
		case *r.v < 0:
			return invalidRequest("%s: Input should be greater than or equal to 0", r.name)
		case *r.v > 1:
			return invalidRequest("%s: Input should be less than or equal to 1", r.name)
		}
	}
	c.stops = req.StopSequences
	if e := anthropicSystem(c, req.System); e != nil {
		return e
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(req.Messages, &raws); err != nil {
		return invalidRequest("messages: Input should be a valid list")
	}
	if len(raws) == 0 {
		return invalidRequest("messages: at least one message is required")
	}
	if e := anthropicMessages(c, raws); e != nil {
		return e
	}
	return anthropicTools(c, req.Tools, req.ToolChoice)
}

func anthropicSystem(c *conversation, raw json.RawMessage) *apiError {
	if isNull(raw) {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		c.promptChars += len(s)
		return nil
	}
	var blocks []anthropicInBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return invalidRequest("system: Input should be a valid list")
	}
	for i, b := range blocks {
		if b.Type != "text" {
			return invalidRequest("system.%d.type: Input should be 'text'", i)
		}
		if b.Text == nil {
			return invalidRequest("system.%d.text: Field required", i)
		}
		if *b.Text == "" {
			return invalidRequest("system: text content blocks must be non-empty")
		}
		c.promptChars += len(*b.Text)
	}
	return nil
}

// anthropicBlockTypes are the input block types the simulator knows.
func anthropicBlockTypes() []string {
	return []string{
		"text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use",
		"tool_result", "server_tool_use", "web_search_tool_result", "container_upload",
	}
}

// anthropicMessages checks roles, alternation, blocks and tool_use /
// tool_result pairing, and collects what the answer needs.
func anthropicMessages(c *conversation, raws []json.RawMessage) *apiError {
	prevRole := ""
	var prevToolUses []string
	last := len(raws) - 1
	for i, raw := range raws {
		var m anthropicInMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return invalidRequest("messages.%d: Input should be a valid dictionary", i)
		}
		switch m.Role {
		case "user", "assistant":
		case "system":
			return invalidRequest(`messages: Unexpected role "system". The Messages API accepts a top-level ` + "`system`" + ` parameter, not "system" as an input message role.`)
		case "":
			return invalidRequest("messages.%d.role: Field required", i)
		default:
			return invalidRequest("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if m.Role == prevRole {
			return invalidRequest(`messages: roles must alternate between "user" and "assistant", but found multiple %q roles in a row`, m.Role)
		}
		if isNull(m.Content) {
			return invalidRequest("messages.%d.content: Field required", i)
		}
		c.messages++
		blocks, e := anthropicBlocks(i, m, i == last)
		if e != nil {
			return e
		}
		var texts, results, uses, answered []string
		for j, b := range blocks {
			switch b.Type {
			case "text":
				texts = append(texts, *b.Text)
				c.promptChars += len(*b.Text)
			case "tool_use":
				uses = append(uses, b.ID)
				c.promptChars += len(b.Name) + len(b.Input)
			case "tool_result":
				if !slices.Contains(prevToolUses, b.ToolUseID) {
					return invalidRequest("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
				}
				answered = append(answered, b.ToolUseID)
				t := resultText(b.Content)
				results = append(results, t)
				c.promptChars += len(t)
			}
		}
		c.prefilled, c.prefill = false, ""
		if m.Role == "assistant" && i == last && len(uses) == 0 {
			c.prefilled, c.prefill = true, strings.Join(texts, "")
			if strings.TrimRightFunc(c.prefill, unicode.IsSpace) != c.prefill {
				// The real API refuses this: the model cannot continue a
				// prefill that ends in white space (a gateway continuing a
				// cut stream must trim it).
				return invalidRequest("messages: final assistant content cannot end with trailing whitespace")
			}
		}
		if m.Role == "user" {
			var missing []string
			for _, id := range prevToolUses {
				if !slices.Contains(answered, id) {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return invalidRequest("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, strings.Join(missing, ", "))
			}
			if len(texts) > 0 {
				c.lastUser = strings.Join(texts, " ")
			}
			c.afterTool = len(answered) > 0
			c.toolResult = strings.Join(results, " ")
		} else {
			c.afterTool = false
		}
		prevRole, prevToolUses = m.Role, uses
	}
	return nil
}

// resultText is the text of a tool_result content (a string or blocks).
func resultText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var blocks []anthropicInBlock
	_ = json.Unmarshal(raw, &blocks)
	var texts []string
	for _, b := range blocks {
		if b.Type == "text" && b.Text != nil {
			texts = append(texts, *b.Text)
		}
	}
	return strings.Join(texts, " ")
}

// anthropicBlocks normalises a message's content to blocks and checks them.
func anthropicBlocks(i int, m anthropicInMessage, last bool) ([]anthropicInBlock, *apiError) {
	nonEmpty := func() *apiError {
		if last && m.Role == "assistant" {
			return nil
		}
		return invalidRequest("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
	}
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		if s == "" {
			return nil, nonEmpty()
		}
		return []anthropicInBlock{{Type: "text", Text: &s}}, nil
	}
	var blocks []anthropicInBlock
	if err := json.Unmarshal(m.Content, &blocks); err != nil {
		return nil, invalidRequest("messages.%d.content: Input should be a valid list", i)
	}
	if len(blocks) == 0 {
		return nil, nonEmpty()
	}
	for j, b := range blocks {
		p := fmt.Sprintf("messages.%d.content.%d", i, j)
		if b.Type == "" {
			return nil, invalidRequest("%s.type: Field required", p)
		}
		if !slices.Contains(anthropicBlockTypes(), b.Type) {
			return nil, invalidRequest("%s: Input tag '%s' found using 'type' does not match any of the expected tags: '%s'", p, b.Type, strings.Join(anthropicBlockTypes(), "', '"))
		}
		if e := checkBlock(p, m.Role, b); e != nil {
			return nil, e
		}
	}
	return blocks, nil
}

func checkBlock(p, role string, b anthropicInBlock) *apiError {
	switch b.Type {
	case "text":
		if b.Text == nil {
			return invalidRequest("%s.text: Field required", p)
		}
		if *b.Text == "" {
			return invalidRequest("messages: text content blocks must be non-empty")
		}
	case "image", "document":
		return checkSource(p+"."+b.Type+".source", b.Type, b.Source)
	case "tool_use":
		switch {
		case role != "assistant":
			return invalidRequest("%s: tool_use blocks are only allowed in assistant messages", p)
		case b.ID == "":
			return invalidRequest("%s.tool_use.id: Field required", p)
		case b.Name == "":
			return invalidRequest("%s.tool_use.name: Field required", p)
		case !isObject(b.Input):
			return invalidRequest("%s.tool_use.input: Input should be a valid dictionary", p)
		}
	case "tool_result":
		if role != "user" {
			return invalidRequest("%s: tool_result blocks are only allowed in user messages", p)
		}
		if b.ToolUseID == "" {
			return invalidRequest("%s.tool_result.tool_use_id: Field required", p)
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// checkSource checks an image or document source, the part translators of
// OpenAI image_url parts most often get wrong.
func checkSource(p, kind string, raw json.RawMessage) *apiError {
	if isNull(raw) {
		return invalidRequest("%s: Field required", p)
	}
	var src struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
		FileID    string `json:"file_id"`
	}
	if err := json.Unmarshal(raw, &src); err != nil {
		return invalidRequest("%s: Input should be a valid dictionary", p)
	}
	switch src.Type {
	case "base64":
		media := []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
		if kind == "document" {
			media = []string{"application/pdf"}
		}
		if !slices.Contains(media, src.MediaType) {
			return invalidRequest("%s.base64.media_type: Input should be '%s'", p, strings.Join(media, "', '"))
		}
		if src.Data == "" {
			return invalidRequest("%s.base64.data: Field required", p)
		}
	case "url":
		if src.URL == "" {
			return invalidRequest("%s.url.url: Field required", p)
		}
	case "file":
		if src.FileID == "" {
			return invalidRequest("%s.file.file_id: Field required", p)
		}
	case "text", "content":
		if kind != "document" {
			return invalidRequest("%s: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'", p, src.Type)
		}
	default:
		return invalidRequest("%s: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'", p, src.Type)
	}
	return nil
}

// isServerTool reports a versioned Anthropic server or client tool type
// ("web_search_20250305", "bash_20250124" ...).
func isServerTool(typ string) bool {
	for _, p := range []string{"bash_", "text_editor_", "web_search_", "web_fetch_", "code_execution_", "computer_", "memory_", "tool_search_tool_"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// anthropicTools checks tools and tool_choice.
func anthropicTools(c *conversation, rawTools, rawChoice json.RawMessage) *apiError {
	names := map[string]bool{}
	if !isNull(rawTools) {
		var tools []json.RawMessage
		if err := json.Unmarshal(rawTools, &tools); err != nil {
			return invalidRequest("tools: Input should be a valid list")
		}
		for i, raw := range tools {
			var t anthropicInTool
			if err := json.Unmarshal(raw, &t); err != nil {
				return invalidRequest("tools.%d: Input should be a valid dictionary", i)
			}
			server := t.Type != "" && t.Type != "custom"
			if server && !isServerTool(t.Type) {
				return invalidRequest("tools.%d: Input tag '%s' found using 'type' does not match any of the expected tags: 'custom', or a versioned server tool such as 'web_search_20250305'", i, t.Type)
			}
			if t.Name == "" {
				return invalidRequest("tools.%d.name: Field required", i)
			}
			names[t.Name] = true
			c.promptChars += len(raw)
			if server {
				// Valid, but the simulated model only calls custom tools.
				continue
			}
			if !anthropicToolNameRE.MatchString(t.Name) {
				return invalidRequest("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
			}
			if isNull(t.InputSchema) {
				return invalidRequest("tools.%d.custom.input_schema: Field required", i)
			}
			var sch struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(t.InputSchema, &sch); err != nil || sch.Type != "object" {
				return invalidRequest("tools.%d.custom.input_schema.type: Input should be 'object'", i)
			}
			c.tools = append(c.tools, toolDef{name: t.Name, schema: t.InputSchema})
		}
	}
	if isNull(rawChoice) {
		return nil
	}
	var tc struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(rawChoice, &tc); err != nil {
		return invalidRequest("tool_choice: Input should be a valid dictionary")
	}
	switch tc.Type {
	case "auto":
		c.choice = choiceAuto
		return nil
	case "none":
		c.choice = choiceNone
		return nil
	case "any", "tool":
	case "":
		return invalidRequest("tool_choice.type: Field required")
	default:
		return invalidRequest("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", tc.Type)
	}
	if len(names) == 0 {
		return invalidRequest("tool_choice.type: `tool_choice.type` may only be specified while providing tools.")
	}
	if tc.Type == "any" {
		c.choice = choiceAny
		return nil
	}
	if tc.Name == "" {
		return invalidRequest("tool_choice.tool.name: Field required")
	}
	if !names[tc.Name] {
		return invalidRequest("tool_choice.tool.name: Tool '%s' not found in provided tools", tc.Name)
	}
	c.choice, c.choiceName = choiceNamed, tc.Name
	return nil
}

// Anthropic response shapes (anthropic-sdk-python types).

type anthropicMessageBody struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []anthropicBlock `json:"content"`
	StopReason   *string          `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        anthropicUsage   `json:"usage"`
}

type anthropicBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anthropicUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier"`
}

// anthropicEvent is any stream event; unused fields are omitted.
type anthropicEvent struct {
	Type         string                `json:"type"`
	Message      *anthropicMessageBody `json:"message,omitempty"`
	Index        *int                  `json:"index,omitempty"`
	ContentBlock *anthropicBlock       `json:"content_block,omitempty"`
	Delta        any                   `json:"delta,omitempty"`
	Usage        *anthropicDeltaUsage  `json:"usage,omitempty"`
}

type anthropicDeltaUsage struct {
	OutputTokens int `json:"output_tokens"`
}

type anthropicTextDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicJSONDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type anthropicStopDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

func (p plan) anthropicStop() (reason string, seq *string) {
	switch p.finish {
	case finishLength:
		return "max_tokens", nil
	case finishTool:
		return "tool_use", nil
	case finishStopSequence:
		s := p.stopSequence
		return "stop_sequence", &s
	}
	return "end_turn", nil
}

// anthropicContent is the answer's content blocks: text (if any), then the
// tool_use block (if any).
func (p plan) anthropicContent() []anthropicBlock {
	blocks := []anthropicBlock{}
	if p.text != "" {
		t := p.text
		blocks = append(blocks, anthropicBlock{Type: "text", Text: &t})
	}
	if p.tool != nil {
		blocks = append(blocks, anthropicBlock{Type: "tool_use", ID: p.tool.id, Name: p.tool.name, Input: json.RawMessage(p.tool.args)})
	}
	return blocks
}

// anthropicMessage renders a non-streaming Message.
func anthropicMessage(c *conversation, p plan, id string) []byte {
	reason, seq := p.anthropicStop()
	b, _ := json.Marshal(anthropicMessageBody{
		ID: id, Type: "message", Role: "assistant", Model: c.model,
		Content:    p.anthropicContent(),
		StopReason: &reason, StopSequence: seq,
		Usage: anthropicUsage{InputTokens: p.inputTokens, OutputTokens: p.outputTokens, ServiceTier: "standard"},
	})
	return b
}

// anthropicFrames renders the event stream: message_start, per block
// content_block_start / deltas / content_block_stop (a ping after the first
// start), message_delta and message_stop.
func anthropicFrames(c *conversation, p plan, id string) [][]byte {
	ev := func(e anthropicEvent) []byte {
		b, _ := json.Marshal(e)
		return sseEvent(e.Type, b)
	}
	ping := sseEvent("ping", []byte(`{"type": "ping"}`))
	frames := [][]byte{ev(anthropicEvent{Type: "message_start", Message: &anthropicMessageBody{
		ID: id, Type: "message", Role: "assistant", Model: c.model, Content: []anthropicBlock{},
		Usage: anthropicUsage{InputTokens: p.inputTokens, OutputTokens: 1, ServiceTier: "standard"},
	}})}
	blocks := p.anthropicContent()
	if len(blocks) == 0 {
		frames = append(frames, ping)
	}
	for i, blk := range blocks {
		start := blk
		var deltas []any
		if blk.Type == "text" {
			empty := ""
			start.Text = &empty
			for _, w := range words(*blk.Text) {
				deltas = append(deltas, anthropicTextDelta{Type: "text_delta", Text: w})
			}
		} else {
			start.Input = json.RawMessage("{}")
			deltas = append(deltas, anthropicJSONDelta{Type: "input_json_delta", PartialJSON: ""})
			for _, piece := range splitN(p.tool.args, 3) {
				deltas = append(deltas, anthropicJSONDelta{Type: "input_json_delta", PartialJSON: piece})
			}
		}
		frames = append(frames, ev(anthropicEvent{Type: "content_block_start", Index: &i, ContentBlock: &start}))
		if i == 0 {
			frames = append(frames, ping)
		}
		for _, d := range deltas {
			frames = append(frames, ev(anthropicEvent{Type: "content_block_delta", Index: &i, Delta: d}))
		}
		frames = append(frames, ev(anthropicEvent{Type: "content_block_stop", Index: &i}))
	}
	reason, seq := p.anthropicStop()
	frames = append(frames,
		ev(anthropicEvent{Type: "message_delta", Delta: anthropicStopDelta{StopReason: &reason, StopSequence: seq}, Usage: &anthropicDeltaUsage{OutputTokens: p.outputTokens}}),
		ev(anthropicEvent{Type: "message_stop"}),
	)
	return frames
}

// countTokensRequest is the body of POST /v1/messages/count_tokens: a
// Messages request without max_tokens, stream and the sampling fields.
type countTokensRequest struct {
	Model             *string         `json:"model"`
	Messages          json.RawMessage `json:"messages"`
	System            json.RawMessage `json:"system"`
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	Thinking          json.RawMessage `json:"thinking"`
	MCPServers        json.RawMessage `json:"mcp_servers"`
	ContextManagement json.RawMessage `json:"context_management"`
}

// parseCountTokens validates a count_tokens body as the Messages API does
// a message body, without max_tokens.
func parseCountTokens(body []byte) (*conversation, *apiError) {
	var req countTokensRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return nil, invalidRequest("%s: Extra inputs are not permitted", unknown)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalidRequest("%s: Input should be %s", te.Field, goTypeName(te.Type.Kind().String()))
		}
		return nil, invalidRequest("There was an error parsing the body of your request. Please check that it is valid JSON.")
	}
	c := &conversation{}
	if req.Model != nil {
		c.model = *req.Model
	}
	// The checks are the Messages API's; max_tokens plays no part in a count.
	one := 1
	return c, fillAnthropic(c, &anthropicRequest{
		Model: req.Model, Messages: req.Messages, System: req.System, Tools: req.Tools, ToolChoice: req.ToolChoice,
		Thinking: req.Thinking, MCPServers: req.MCPServers, ContextManagement: req.ContextManagement, MaxTokens: &one,
	})
}

// countTokensBody is count_tokens' answer: the prompt tokens a message
// request with the same content reports in its usage.
func countTokensBody(p plan) []byte {
	return []byte(`{"input_tokens":` + strconv.Itoa(p.inputTokens) + `}`)
}
