package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// openaiRequest is the Chat Completions request body. Fields the simulator
// does not use are kept as raw JSON only so that strict decoding accepts
// them: an argument OpenAI does not know is a 400, as it is upstream.
type openaiRequest struct {
	Model               *string         `json:"model"`
	Messages            json.RawMessage `json:"messages"`
	Stream              *bool           `json:"stream"`
	StreamOptions       json.RawMessage `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	N                   *int            `json:"n"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`

	Audio            json.RawMessage `json:"audio"`
	FrequencyPenalty json.RawMessage `json:"frequency_penalty"`
	FunctionCall     json.RawMessage `json:"function_call"`
	Functions        json.RawMessage `json:"functions"`
	LogitBias        json.RawMessage `json:"logit_bias"`
	Logprobs         json.RawMessage `json:"logprobs"`
	Metadata         json.RawMessage `json:"metadata"`
	Modalities       json.RawMessage `json:"modalities"`
	ParallelTools    json.RawMessage `json:"parallel_tool_calls"`
	Prediction       json.RawMessage `json:"prediction"`
	PresencePenalty  json.RawMessage `json:"presence_penalty"`
	PromptCacheKey   json.RawMessage `json:"prompt_cache_key"`
	ReasoningEffort  json.RawMessage `json:"reasoning_effort"`
	ResponseFormat   json.RawMessage `json:"response_format"`
	SafetyIdentifier json.RawMessage `json:"safety_identifier"`
	Seed             json.RawMessage `json:"seed"`
	ServiceTier      json.RawMessage `json:"service_tier"`
	Store            json.RawMessage `json:"store"`
	TopLogprobs      json.RawMessage `json:"top_logprobs"`
	User             json.RawMessage `json:"user"`
	Verbosity        json.RawMessage `json:"verbosity"`
	WebSearchOptions json.RawMessage `json:"web_search_options"`
}

// openaiMessage is one input message.
type openaiMessage struct {
	Role       string           `json:"role"`
	Content    json.RawMessage  `json:"content"`
	ToolCalls  []openaiToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
}

// openaiPart is one element of an array content.
type openaiPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	InputAudio *struct {
		Data string `json:"data"`
	} `json:"input_audio"`
	Refusal *string `json:"refusal"`
}

type openaiToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function openaiFunction `json:"function"`
}

type openaiFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type openaiTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// toolNameRE is the function name rule both providers enforce.
var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// badRequest is an OpenAI invalid_request_error.
func badRequest(message, param, code string) *apiError {
	return &apiError{typ: "invalid_request_error", message: message, param: param, code: code}
}

func missingParam(param string) *apiError {
	return badRequest(fmt.Sprintf("Missing required parameter: '%s'.", param), param, "missing_required_parameter")
}

func invalidType(param, want string, got json.RawMessage) *apiError {
	return badRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", param, want, jsonKind(got)), param, "invalid_type")
}

func emptyArray(param string) *apiError {
	return badRequest(fmt.Sprintf("Invalid '%s': empty array. Expected an array with minimum length 1, but got an empty array instead.", param), param, "empty_array")
}

// jsonKind names the JSON type of v the way OpenAI's messages do.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(v, ".eE") {
		return "a decimal"
	}
	return "an integer"
}

// isNull reports an absent or null JSON value.
func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// decodeStrict decodes one JSON object into v, rejecting unknown fields and
// trailing data. It returns the unknown field's name separately, so that each
// kind can word the error as its provider does.
func decodeStrict(body []byte, v any) (unknown string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if n, uerr := strconv.Unquote(name); uerr == nil {
				return n, err
			}
		}
		return "", err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errors.New("trailing data after the JSON object")
	}
	return "", nil
}

const openaiParseError = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using " +
	"your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. " +
	"If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"

// parseOpenAI validates a Chat Completions body as OpenAI does (the common
// cases: types, required fields, ranges, tool-call pairing) and extracts the
// conversation. On a validation error the conversation is still returned
// when the body decoded, so that stream and model are known for counting.
func parseOpenAI(body []byte) (*conversation, *apiError) {
	var req openaiRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return nil, badRequest(fmt.Sprintf("Unrecognized request argument supplied: %s", unknown), "", "")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, badRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", te.Field, goTypeName(te.Type.Kind().String()), jsonValueName(te.Value)), te.Field, "invalid_type")
		}
		return nil, badRequest(openaiParseError, "", "")
	}
	c := &conversation{}
	if req.Model != nil {
		c.model = *req.Model
	}
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	return c, fillOpenAI(c, &req)
}

func fillOpenAI(c *conversation, req *openaiRequest) *apiError {
	if c.model == "" {
		return badRequest("you must provide a model parameter", "", "")
	}
	if isNull(req.Messages) {
		return missingParam("messages")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(req.Messages, &raws); err != nil {
		return invalidType("messages", "an array of objects", req.Messages)
	}
	if len(raws) == 0 {
		return emptyArray("messages")
	}
	if e := openaiMessages(c, raws); e != nil {
		return e
	}
	if !isNull(req.StreamOptions) {
		if !c.stream {
			return badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "")
		}
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if err := json.Unmarshal(req.StreamOptions, &so); err != nil {
			return invalidType("stream_options", "an object", req.StreamOptions)
		}
		c.includeUsage = so.IncludeUsage
	}
	for _, lim := range []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if lim.v == nil {
			continue
		}
		if *lim.v < 1 {
			return badRequest(fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", lim.name, *lim.v), lim.name, "integer_below_min_value")
		}
		if c.maxTokens == 0 || *lim.v < c.maxTokens {
			c.maxTokens = *lim.v
		}
	}
	if e := checkRange("temperature", req.Temperature, 0, 2); e != nil {
		return e
	}
	if e := checkRange("top_p", req.TopP, 0, 1); e != nil {
		return e
	}
	if req.N != nil && *req.N < 1 {
		return badRequest(fmt.Sprintf("Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", *req.N), "n", "integer_below_min_value")
	}
	if e := openaiStop(c, req.Stop); e != nil {
		return e
	}
	return openaiTools(c, req.Tools, req.ToolChoice)
}

func checkRange(name string, v *float64, lo, hi float64) *apiError {
	switch {
	case v == nil:
		return nil
	case *v < lo:
		return badRequest(fmt.Sprintf("Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %g instead.", name, lo, *v), name, "decimal_below_min_value")
	case *v > hi:
		return badRequest(fmt.Sprintf("Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %g instead.", name, hi, *v), name, "decimal_above_max_value")
	}
	return nil
}

func openaiStop(c *conversation, raw json.RawMessage) *apiError {
	if isNull(raw) {
		return nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		c.stops = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return invalidType("stop", "a string or an array of strings", raw)
	}
	if len(many) > 4 {
		return badRequest(fmt.Sprintf("Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length %d instead.", len(many)), "stop", "array_above_max_length")
	}
	c.stops = many
	return nil
}

// openaiMessages checks the messages and collects what the answer needs.
func openaiMessages(c *conversation, raws []json.RawMessage) *apiError {
	// pending holds the tool_call ids of the last assistant message that
	// still await a tool message, as the API requires.
	var pending map[string]bool
	pendingAt := -1
	for i, raw := range raws {
		param := fmt.Sprintf("messages[%d]", i)
		var m openaiMessage
		if err := json.Unmarshal(raw, &m); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return invalidType(param, "an object", raw)
		}
		c.messages++
		c.prefilled, c.prefill = false, ""
		if m.Role != "tool" && len(pending) > 0 {
			return danglingToolCalls(pendingAt, pending)
		}
		text, e := openaiContent(param, m)
		if e != nil {
			return e
		}
		c.promptChars += len(text)
		switch m.Role {
		case "user":
			c.lastUser, c.afterTool, c.toolResult = text, false, ""
		case "assistant":
			c.afterTool = false
			if len(m.ToolCalls) == 0 {
				// Stays set only if this is the last message.
				c.prefilled, c.prefill = true, text
			}
			for j, tc := range m.ToolCalls {
				tp := fmt.Sprintf("%s.tool_calls[%d]", param, j)
				switch {
				case tc.ID == "":
					return missingParam(tp + ".id")
				case tc.Function.Name == "":
					return missingParam(tp + ".function.name")
				}
				if pending == nil {
					pending = map[string]bool{}
				}
				pending[tc.ID] = true
				pendingAt = i
				c.promptChars += len(tc.Function.Name) + len(tc.Function.Arguments)
			}
		case "tool":
			if m.ToolCallID == "" {
				return missingParam(param + ".tool_call_id")
			}
			if !pending[m.ToolCallID] {
				return badRequest("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", param+".role", "")
			}
			delete(pending, m.ToolCallID)
			if !c.afterTool {
				c.afterTool, c.toolResult = true, ""
			}
			c.toolResult = strings.TrimSpace(c.toolResult + " " + text)
		default:
			c.afterTool = false
		}
	}
	if len(pending) > 0 {
		return danglingToolCalls(pendingAt, pending)
	}
	return nil
}

func danglingToolCalls(at int, pending map[string]bool) *apiError {
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return badRequest("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: "+strings.Join(ids, ", "),
		fmt.Sprintf("messages.[%d].role", at), "")
}

// openaiContent checks one message's role and content and returns its text.
func openaiContent(param string, m openaiMessage) (string, *apiError) {
	var allowed []string
	switch m.Role {
	case "system", "developer":
		allowed = []string{"text"}
	case "user":
		allowed = []string{"text", "image_url", "input_audio", "file"}
	case "assistant":
		allowed = []string{"text", "refusal"}
	case "tool", "function":
		allowed = []string{"text"}
	case "":
		return "", missingParam(param + ".role")
	default:
		return "", badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role), param+".role", "invalid_value")
	}
	if isNull(m.Content) {
		if m.Role == "assistant" && len(m.ToolCalls) > 0 {
			return "", nil
		}
		if m.Role == "assistant" {
			return "", badRequest("Invalid value for 'content': expected a string, got null.", param+".content", "")
		}
		return "", missingParam(param + ".content")
	}
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return s, nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", invalidType(param+".content", "one of a string or array of objects", m.Content)
	}
	if len(parts) == 0 {
		return "", emptyArray(param + ".content")
	}
	var texts []string
	for j, raw := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		var p openaiPart
		if err := json.Unmarshal(raw, &p); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return "", invalidType(pp, "an object", raw)
		}
		if p.Type == "" {
			return "", missingParam(pp + ".type")
		}
		if !slices.Contains(allowed, p.Type) {
			return "", badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: '%s'.", p.Type, strings.Join(allowed, "', '")), pp+".type", "invalid_value")
		}
		switch p.Type {
		case "text":
			if p.Text == nil {
				return "", missingParam(pp + ".text")
			}
			texts = append(texts, *p.Text)
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return "", missingParam(pp + ".image_url.url")
			}
		case "input_audio":
			if p.InputAudio == nil || p.InputAudio.Data == "" {
				return "", missingParam(pp + ".input_audio.data")
			}
		case "refusal":
			if p.Refusal == nil {
				return "", missingParam(pp + ".refusal")
			}
		}
	}
	return strings.Join(texts, " "), nil
}

// openaiTools checks tools and tool_choice.
func openaiTools(c *conversation, rawTools, rawChoice json.RawMessage) *apiError {
	if !isNull(rawTools) {
		var tools []json.RawMessage
		if err := json.Unmarshal(rawTools, &tools); err != nil {
			return invalidType("tools", "an array of objects", rawTools)
		}
		if len(tools) == 0 {
			return emptyArray("tools")
		}
		for i, raw := range tools {
			tp := fmt.Sprintf("tools[%d]", i)
			var t openaiTool
			if err := json.Unmarshal(raw, &t); err != nil {
				return invalidType(tp, "an object", raw)
			}
			switch t.Type {
			case "function":
			case "":
				return missingParam(tp + ".type")
			case "custom":
				// Free-form custom tools: valid, but the simulator calls functions only.
				continue
			default:
				return badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function' and 'custom'.", t.Type), tp+".type", "invalid_value")
			}
			if t.Function == nil {
				return missingParam(tp + ".function")
			}
			if t.Function.Name == "" {
				return missingParam(tp + ".function.name")
			}
			if !toolNameRE.MatchString(t.Function.Name) {
				return badRequest(fmt.Sprintf("Invalid '%s.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", tp), tp+".function.name", "invalid_value")
			}
			c.tools = append(c.tools, toolDef{name: t.Function.Name, schema: t.Function.Parameters})
			c.promptChars += len(raw)
		}
	}
	if isNull(rawChoice) {
		return nil
	}
	if isNull(rawTools) {
		return badRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "")
	}
	var mode string
	if err := json.Unmarshal(rawChoice, &mode); err == nil {
		switch mode {
		case "auto":
			c.choice = choiceAuto
		case "none":
			c.choice = choiceNone
		case "required":
			c.choice = choiceAny
		default:
			return badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", mode), "tool_choice", "invalid_value")
		}
		return nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(rawChoice, &named); err != nil {
		return invalidType("tool_choice", "one of a string or an object", rawChoice)
	}
	if named.Type == "allowed_tools" {
		return nil
	}
	if named.Type != "function" || named.Function.Name == "" {
		return missingParam("tool_choice.function.name")
	}
	for _, t := range c.tools {
		if t.name == named.Function.Name {
			c.choice, c.choiceName = choiceNamed, t.name
			return nil
		}
	}
	return badRequest(fmt.Sprintf("Invalid value for 'tool_choice': function '%s' is not in 'tools'.", named.Function.Name), "tool_choice", "invalid_value")
}

// goTypeName and jsonValueName word a decoding type error like OpenAI does.
func goTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "float64":
		return "a decimal"
	case "int", "int64":
		return "an integer"
	case "ptr":
		return "a value of another type"
	}
	return "a value of another type"
}

func jsonValueName(v string) string {
	switch v {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "a boolean"
	case "array":
		return "an array"
	case "object":
		return "an object"
	}
	if strings.HasPrefix(v, "number") {
		return "a decimal"
	}
	return v
}

// OpenAI response shapes (openai-python types/chat).

type openaiCompletionBody struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []openaiChoice `json:"choices"`
	Usage             openaiUsage    `json:"usage"`
	ServiceTier       string         `json:"service_tier"`
	SystemFingerprint string         `json:"system_fingerprint"`
}

type openaiChoice struct {
	Index        int              `json:"index"`
	Message      openaiOutMessage `json:"message"`
	Logprobs     *struct{}        `json:"logprobs"`
	FinishReason string           `json:"finish_reason"`
}

type openaiOutMessage struct {
	Role        string           `json:"role"`
	Content     *string          `json:"content"`
	Refusal     *string          `json:"refusal"`
	ToolCalls   []openaiToolCall `json:"tool_calls,omitempty"`
	Annotations []struct{}       `json:"annotations"`
}

type openaiUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

type openaiChunk struct {
	ID                string              `json:"id"`
	Object            string              `json:"object"`
	Created           int64               `json:"created"`
	Model             string              `json:"model"`
	ServiceTier       string              `json:"service_tier"`
	SystemFingerprint string              `json:"system_fingerprint"`
	Choices           []openaiChunkChoice `json:"choices"`
	// Usage is null on every chunk but the last when include_usage is set,
	// and absent otherwise, as OpenAI sends it.
	Usage json.RawMessage `json:"usage,omitempty"`
}

type openaiChunkChoice struct {
	Index        int         `json:"index"`
	Delta        openaiDelta `json:"delta"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason *string     `json:"finish_reason"`
}

type openaiDelta struct {
	Role      string            `json:"role,omitempty"`
	Content   json.RawMessage   `json:"content,omitempty"`
	Refusal   json.RawMessage   `json:"refusal,omitempty"`
	ToolCalls []openaiToolDelta `json:"tool_calls,omitempty"`
}

type openaiToolDelta struct {
	Index    int                 `json:"index"`
	ID       string              `json:"id,omitempty"`
	Type     string              `json:"type,omitempty"`
	Function openaiFunctionDelta `json:"function"`
}

type openaiFunctionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

const openaiFingerprint = "fp_sim0000001"

func (p plan) openaiFinish() string {
	switch p.finish {
	case finishLength:
		return "length"
	case finishTool:
		return "tool_calls"
	}
	return "stop"
}

func (p plan) openaiUsage() openaiUsage {
	u := openaiUsage{PromptTokens: p.inputTokens, CompletionTokens: p.outputTokens, TotalTokens: p.inputTokens + p.outputTokens}
	return u
}

// openaiCompletion renders a chat.completion object.
func openaiCompletion(c *conversation, p plan, id string, created int64) []byte {
	msg := openaiOutMessage{Role: "assistant", Annotations: []struct{}{}}
	if p.tool != nil {
		msg.ToolCalls = []openaiToolCall{{ID: p.tool.id, Type: "function", Function: openaiFunction{Name: p.tool.name, Arguments: p.tool.args}}}
	} else {
		text := p.text
		msg.Content = &text
	}
	b, _ := json.Marshal(openaiCompletionBody{
		ID: id, Object: "chat.completion", Created: created, Model: c.model,
		Choices:     []openaiChoice{{Message: msg, FinishReason: p.openaiFinish()}},
		Usage:       p.openaiUsage(),
		ServiceTier: "default", SystemFingerprint: openaiFingerprint,
	})
	return b
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// openaiFrames renders the stream: a role chunk, content (or tool-argument)
// deltas, a finish chunk, an optional usage chunk and [DONE].
func openaiFrames(c *conversation, p plan, id string, created int64) [][]byte {
	var usageNull json.RawMessage
	if c.includeUsage {
		usageNull = json.RawMessage("null")
	}
	chunk := func(d openaiDelta, finish *string) []byte {
		b, _ := json.Marshal(openaiChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: c.model,
			ServiceTier: "default", SystemFingerprint: openaiFingerprint,
			Choices: []openaiChunkChoice{{Delta: d, FinishReason: finish}},
			Usage:   usageNull,
		})
		return sseData(b)
	}
	null := json.RawMessage("null")
	var frames [][]byte
	if p.tool != nil {
		frames = append(frames, chunk(openaiDelta{Role: "assistant", Content: null, Refusal: null, ToolCalls: []openaiToolDelta{{
			ID: p.tool.id, Type: "function", Function: openaiFunctionDelta{Name: p.tool.name},
		}}}, nil))
		for _, piece := range splitN(p.tool.args, 3) {
			frames = append(frames, chunk(openaiDelta{ToolCalls: []openaiToolDelta{{Function: openaiFunctionDelta{Arguments: piece}}}}, nil))
		}
	} else {
		frames = append(frames, chunk(openaiDelta{Role: "assistant", Content: jsonString(""), Refusal: null}, nil))
		for _, w := range words(p.text) {
			frames = append(frames, chunk(openaiDelta{Content: jsonString(w)}, nil))
		}
	}
	reason := p.openaiFinish()
	frames = append(frames, chunk(openaiDelta{}, &reason))
	if c.includeUsage {
		u := p.openaiUsage()
		ub, _ := json.Marshal(u)
		b, _ := json.Marshal(openaiChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: c.model,
			ServiceTier: "default", SystemFingerprint: openaiFingerprint,
			Choices: []openaiChunkChoice{}, Usage: ub,
		})
		frames = append(frames, sseData(b))
	}
	return append(frames, []byte("data: [DONE]\n\n"))
}
