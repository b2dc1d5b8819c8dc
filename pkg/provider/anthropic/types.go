package anthropic

import "encoding/json"

// Wire structs for both sides of the translation. They are deliberately small:
// only the fields the translator reads or writes, so that the package does not
// depend on either vendor's SDK. Unions (string-or-array content, tool_choice,
// stop) are kept as json.RawMessage and decoded by hand where their shape is
// known.
//
// The translator's hot path reads bodies with its own reader (decode.go)
// into views of these structs; the structs stay the definition of the wire
// format and what encoding/json makes of it, used whenever that reader
// defers to encoding/json and by the stream translator.

// ---- OpenAI Chat Completions: request ----

// oaRequest is the client's Chat Completions body. Fields the gateway ignores
// on purpose (seed, service_tier, store, metadata, prediction,
// prompt_cache_key) are not decoded at all; see translateRequest.
type oaRequest struct {
	Model               string             `json:"model"`
	Messages            []oaMessage        `json:"messages"`
	MaxTokens           *int64             `json:"max_tokens"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens"`
	Temperature         *float64           `json:"temperature"`
	TopP                *float64           `json:"top_p"`
	Stop                json.RawMessage    `json:"stop"`
	Tools               []oaTool           `json:"tools"`
	ToolChoice          json.RawMessage    `json:"tool_choice"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls"`
	ResponseFormat      *oaResponseFormat  `json:"response_format"`
	User                string             `json:"user"`
	SafetyIdentifier    string             `json:"safety_identifier"`
	N                   *int64             `json:"n"`
	Logprobs            *bool              `json:"logprobs"`
	TopLogprobs         *int64             `json:"top_logprobs"`
	FrequencyPenalty    *float64           `json:"frequency_penalty"`
	PresencePenalty     *float64           `json:"presence_penalty"`
	LogitBias           map[string]float64 `json:"logit_bias"`
	Modalities          []string           `json:"modalities"`
	Audio               json.RawMessage    `json:"audio"`
	Functions           json.RawMessage    `json:"functions"`
	FunctionCall        json.RawMessage    `json:"function_call"`
	ReasoningEffort     string             `json:"reasoning_effort"`
	Verbosity           string             `json:"verbosity"`
	WebSearchOptions    json.RawMessage    `json:"web_search_options"`
}

// oaMessage is one entry of messages; Content is a string, an array of parts
// or null.
type oaMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Refusal      *string         `json:"refusal"`
	ToolCalls    []oaToolCall    `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Audio        json.RawMessage `json:"audio"`
	FunctionCall json.RawMessage `json:"function_call"`
}

// oaPart is one content part.
type oaPart struct {
	Type     string      `json:"type"`
	Text     string      `json:"text"`
	Refusal  string      `json:"refusal"`
	ImageURL *oaImageURL `json:"image_url"`
	File     *oaFile     `json:"file"`
}

type oaImageURL struct {
	URL string `json:"url"`
	// Detail (low/high/auto) has no Anthropic counterpart and is ignored:
	// Anthropic always looks at the image at its own resolution.
	Detail string `json:"detail"`
}

type oaFile struct {
	FileData string `json:"file_data"`
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
}

type oaToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function oaFunctionCall `json:"function"`
}

type oaFunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaTool struct {
	Type     string          `json:"type"`
	Function *oaFunctionDecl `json:"function"`
}

type oaFunctionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type oaNamedToolChoice struct {
	Type     string `json:"type"`
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
}

type oaResponseFormat struct {
	Type       string        `json:"type"`
	JSONSchema *oaJSONSchema `json:"json_schema"`
}

type oaJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

// oaStreamFlags is the part of the request a stream translator needs.
type oaStreamFlags struct {
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// ---- OpenAI Chat Completions: response ----

type oaUsage struct {
	PromptTokens        int64              `json:"prompt_tokens"`
	CompletionTokens    int64              `json:"completion_tokens"`
	TotalTokens         int64              `json:"total_tokens"`
	PromptTokensDetails oaPromptTokDetails `json:"prompt_tokens_details"`
}

type oaPromptTokDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// ---- Anthropic Messages: response and stream events ----

type anResponse struct {
	ID         string        `json:"id"`
	Type       string        `json:"type"`
	Role       string        `json:"role"`
	Model      string        `json:"model"`
	Content    []anRespBlock `json:"content"`
	StopReason string        `json:"stop_reason"`
	Usage      anUsage       `json:"usage"`
}

type anRespBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type anUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// anEvent is the union of every streaming event's data. Delta serves both
// content_block_delta and message_delta, whose deltas differ in fields only.
type anEvent struct {
	Type         string         `json:"type"`
	Message      *anResponse    `json:"message"`
	Index        int            `json:"index"`
	ContentBlock *anStreamBlock `json:"content_block"`
	Delta        *anDelta       `json:"delta"`
	Usage        *anUsage       `json:"usage"`
	Error        *anErrorDetail `json:"error"`
}

type anStreamBlock struct {
	Type string          `json:"type"`
	Text json.RawMessage `json:"text"`
	ID   string          `json:"id"`
	Name string          `json:"name"`
}

// anDelta keeps text and partial_json as raw JSON strings: they are copied
// into the client's chunk as they are, without unescaping and re-escaping.
type anDelta struct {
	Type        string          `json:"type"`
	Text        json.RawMessage `json:"text"`
	PartialJSON json.RawMessage `json:"partial_json"`
	StopReason  string          `json:"stop_reason"`
}

type anErrorBody struct {
	Type  string        `json:"type"`
	Error anErrorDetail `json:"error"`
}

type anErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
