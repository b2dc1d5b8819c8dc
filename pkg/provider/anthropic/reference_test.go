package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file is a frozen copy of the translator as it was before the
// single-pass rewrite (encoding/json with json.RawMessage unions). It is the
// reference the differential tests hold the fast translator to: same bytes on
// success, same RequestError param and message on failure.
//
// The original translated between OpenAI Chat Completions and Anthropic Messages
// for whole (non-streaming) requests and answers.
//
// Choices made where the two APIs differ:
//   - system and developer messages, wherever they stand, become the top-level
//     system prompt as text blocks in their original order.
//   - consecutive messages of one role are merged into one Anthropic message,
//     and tool messages become tool_result blocks of a user message, because
//     Anthropic requires alternating roles.
//   - response_format json_object/json_schema has no portable Anthropic
//     counterpart; the best feasible rendering is an extra system instruction
//     asking for JSON only (conforming to the schema when one is given).
//   - a field that would change the answer but cannot be expressed (n > 1,
//     logprobs, audio, penalties, logit_bias, reasoning_effort, ...) is a
//     *provider.RequestError naming it, never silently dropped.
//   - ignored because they do not change what the answer says: seed (OpenAI
//     itself documents it as best effort), service_tier, store, metadata,
//     prediction, prompt_cache_key, stream_options (read by the stream
//     translator), message name fields and image detail. Unknown fields are
//     ignored as OpenAI adds new ones faster than any gateway could list.

// refFallbackMaxTokens is used when neither the client nor the endpoint sets a
// limit: Anthropic requires max_tokens, OpenAI does not.
const refFallbackMaxTokens = 4096

// Instructions added to the system prompt for response_format.
const (
	refJsonObjectInstruction = "Respond with a single valid JSON object only: no text before or after it and no Markdown code fences."
	refJsonSchemaInstruction = "Respond with a single valid JSON value only: no text before or after it and no Markdown code fences. It must conform to this JSON Schema"
)

func refReqErr(param, format string, args ...any) error {
	return &provider.RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// refIsNull reports whether a raw JSON value is absent or null.
func refIsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// refFirstByte is the first non-space byte of raw, 0 when empty.
func refFirstByte(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// refDecodeError turns a json decoding failure of the client's body into a
// RequestError naming the field when the decoder knows it.
func refDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return refReqErr(te.Field, "expected %s, got %s", refJsonKind(te.Type), te.Value)
	}
	return refReqErr("", "request body is not valid JSON: %v", err)
}

// refJsonKind names the JSON type a Go type decodes from, for error messages
// that should not show Go type names.
func refJsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return refJsonKind(t.Elem())
	}
	return "another type"
}

// refTranslateRequest turns the client's OpenAI body into an Anthropic Messages
// body for model.
func refTranslateRequest(body []byte, model string, stream bool, defaultMaxTokens int) ([]byte, error) {
	var in refOaRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, refDecodeError(err)
	}
	if err := refCheckUnsupported(&in); err != nil {
		return nil, err
	}
	out := anRequest{Model: model, Stream: stream}
	if out.Model == "" {
		out.Model = in.Model
	}
	if out.Model == "" {
		return nil, refReqErr("model", "model is required")
	}

	var err error
	if out.MaxTokens, err = refMaxTokens(&in, defaultMaxTokens); err != nil {
		return nil, err
	}
	if in.Temperature != nil {
		// OpenAI accepts 0..2, Anthropic 0..1. Halving would change what a
		// client's 0.7 means; clamping would silently change 1.5. Refuse.
		if t := *in.Temperature; t < 0 || t > 1 {
			return nil, refReqErr("temperature", "temperature %s is outside Anthropic's range 0..1", strconv.FormatFloat(t, 'g', -1, 64))
		}
		out.Temperature = in.Temperature
	}
	if in.TopP != nil {
		if p := *in.TopP; p < 0 || p > 1 {
			return nil, refReqErr("top_p", "top_p must be between 0 and 1")
		}
		out.TopP = in.TopP
	}
	if out.StopSequences, err = refStopSequences(in.Stop); err != nil {
		return nil, err
	}
	if out.System, out.Messages, err = refTranslateMessages(in.Messages); err != nil {
		return nil, err
	}
	if out.Tools, out.ToolChoice, err = refTranslateTools(&in); err != nil {
		return nil, err
	}
	if in.ResponseFormat != nil {
		b, err := refResponseFormatInstruction(in.ResponseFormat)
		if err != nil {
			return nil, err
		}
		if b != nil {
			out.System = append(out.System, *b)
		}
	}
	// safety_identifier is OpenAI's successor of user; both are an opaque
	// end-user id, which is what Anthropic's metadata.user_id is.
	if uid := in.User; uid != "" {
		out.Metadata = &anMetadata{UserID: uid}
	} else if in.SafetyIdentifier != "" {
		out.Metadata = &anMetadata{UserID: in.SafetyIdentifier}
	}
	b, err := refMarshalNoEscape(&out)
	if err != nil {
		return nil, fmt.Errorf("encode anthropic request: %w", err)
	}
	return b, nil
}

// refMarshalNoEscape encodes v without HTML escaping, so that prompts reach the
// upstream byte for byte as the client wrote them.
func refMarshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// refCheckUnsupported rejects fields that change the answer but have no
// Anthropic counterpart.
func refCheckUnsupported(in *refOaRequest) error {
	switch {
	case in.N != nil && *in.N != 1:
		return refReqErr("n", "Anthropic returns one choice per request; n must be 1")
	case in.Logprobs != nil && *in.Logprobs:
		return refReqErr("logprobs", "Anthropic does not return log probabilities")
	case in.TopLogprobs != nil && *in.TopLogprobs != 0:
		return refReqErr("top_logprobs", "Anthropic does not return log probabilities")
	case in.FrequencyPenalty != nil && *in.FrequencyPenalty != 0:
		return refReqErr("frequency_penalty", "Anthropic has no frequency penalty; omit it or set it to 0")
	case in.PresencePenalty != nil && *in.PresencePenalty != 0:
		return refReqErr("presence_penalty", "Anthropic has no presence penalty; omit it or set it to 0")
	case len(in.LogitBias) > 0:
		return refReqErr("logit_bias", "Anthropic does not support logit_bias")
	case !refIsNull(in.Audio):
		return refReqErr("audio", "Anthropic does not produce audio output")
	case !refIsNull(in.Functions):
		return refReqErr("functions", "the deprecated functions field is not supported; use tools")
	case !refIsNull(in.FunctionCall):
		return refReqErr("function_call", "the deprecated function_call field is not supported; use tool_choice")
	case in.ReasoningEffort != "":
		return refReqErr("reasoning_effort", "reasoning_effort cannot be expressed for Anthropic models")
	case in.Verbosity != "":
		return refReqErr("verbosity", "verbosity cannot be expressed for Anthropic models")
	case !refIsNull(in.WebSearchOptions):
		return refReqErr("web_search_options", "web search is not supported for Anthropic targets")
	}
	for _, m := range in.Modalities {
		if m != "text" {
			return refReqErr("modalities", "Anthropic only produces text; modality %q is not supported", m)
		}
	}
	return nil
}

func refMaxTokens(in *refOaRequest, defaultMaxTokens int) (int64, error) {
	// max_completion_tokens replaced max_tokens in OpenAI's API; when a client
	// sends both, the newer one wins.
	switch {
	case in.MaxCompletionTokens != nil:
		if *in.MaxCompletionTokens < 1 {
			return 0, refReqErr("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
		return *in.MaxCompletionTokens, nil
	case in.MaxTokens != nil:
		if *in.MaxTokens < 1 {
			return 0, refReqErr("max_tokens", "max_tokens must be at least 1")
		}
		return *in.MaxTokens, nil
	case defaultMaxTokens > 0:
		return int64(defaultMaxTokens), nil
	default:
		return refFallbackMaxTokens, nil
	}
}

func refStopSequences(raw json.RawMessage) ([]string, error) {
	var list []string
	switch refFirstByte(raw) {
	case 0, 'n':
		if !refIsNull(raw) {
			return nil, refReqErr("stop", "stop must be a string or an array of strings")
		}
		return nil, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, refReqErr("stop", "stop must be a string or an array of strings")
		}
		list = []string{s}
	case '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, refReqErr("stop", "stop must be a string or an array of strings")
		}
	default:
		return nil, refReqErr("stop", "stop must be a string or an array of strings")
	}
	// An empty stop string never matches for OpenAI; Anthropic rejects it.
	out := list[:0]
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// refTranslateMessages splits the conversation into the system prompt and
// alternating user/assistant messages.
func refTranslateMessages(msgs []refOaMessage) (system []anBlock, out []anMessage, err error) {
	if len(msgs) == 0 {
		return nil, nil, refReqErr("messages", "messages must contain at least one message")
	}
	for i := range msgs {
		m := &msgs[i]
		p := "messages[" + strconv.Itoa(i) + "]"
		var role string
		var blocks []anBlock
		switch m.Role {
		case "system", "developer":
			texts, err := refTextBlocks(m.Content, p)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, texts...)
			continue
		case "user":
			role = "user"
			blocks, err = refUserBlocks(m.Content, p)
		case "assistant":
			role = "assistant"
			blocks, err = refAssistantBlocks(m, p)
		case "tool":
			role = "user"
			blocks, err = refToolResultBlock(m, p)
		default:
			return nil, nil, refReqErr(p+".role", "unsupported message role %q", m.Role)
		}
		if err != nil {
			return nil, nil, err
		}
		if len(blocks) == 0 {
			// Anthropic rejects empty messages; an empty message carries
			// nothing for the model to read.
			continue
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			continue
		}
		out = append(out, anMessage{Role: role, Content: blocks})
	}
	if len(out) == 0 {
		return nil, nil, refReqErr("messages", "messages must contain at least one non-empty user or assistant message")
	}
	return system, out, nil
}

// refDecodeParts decodes array content.
func refDecodeParts(raw json.RawMessage, p string) ([]refOaPart, error) {
	var parts []refOaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, refReqErr(p+".content."+te.Field, "expected %s, got %s", refJsonKind(te.Type), te.Value)
		}
		return nil, refReqErr(p+".content", "content must be a string or an array of content parts")
	}
	return parts, nil
}

// refContentString returns string content and whether content was a string.
func refContentString(raw json.RawMessage, p string) (string, bool, error) {
	switch refFirstByte(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, refReqErr(p+".content", "content is not a valid string")
		}
		return s, true, nil
	case '[':
		return "", false, nil
	case 0, 'n':
		if refIsNull(raw) {
			return "", true, nil
		}
	}
	return "", false, refReqErr(p+".content", "content must be a string or an array of content parts")
}

// refTextBlocks translates content that may only hold text (system, developer,
// tool).
func refTextBlocks(raw json.RawMessage, p string) ([]anBlock, error) {
	s, isString, err := refContentString(raw, p)
	if err != nil {
		return nil, err
	}
	if isString {
		if s == "" {
			return nil, nil
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	}
	parts, err := refDecodeParts(raw, p)
	if err != nil {
		return nil, err
	}
	blocks := make([]anBlock, 0, len(parts))
	for j, part := range parts {
		if part.Type != "text" {
			return nil, refReqErr(p+".content["+strconv.Itoa(j)+"].type", "only text parts are allowed here, got %q", part.Type)
		}
		if part.Text != "" {
			blocks = append(blocks, anBlock{Type: "text", Text: part.Text})
		}
	}
	return blocks, nil
}

func refUserBlocks(raw json.RawMessage, p string) ([]anBlock, error) {
	s, isString, err := refContentString(raw, p)
	if err != nil {
		return nil, err
	}
	if isString {
		if s == "" {
			return nil, nil
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	}
	parts, err := refDecodeParts(raw, p)
	if err != nil {
		return nil, err
	}
	blocks := make([]anBlock, 0, len(parts))
	for j, part := range parts {
		pp := p + ".content[" + strconv.Itoa(j) + "]"
		switch part.Type {
		case "text":
			if part.Text != "" {
				blocks = append(blocks, anBlock{Type: "text", Text: part.Text})
			}
		case "image_url":
			if part.ImageURL == nil || part.ImageURL.URL == "" {
				return nil, refReqErr(pp+".image_url.url", "image_url.url is required")
			}
			b, err := refImageBlock(part.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "file":
			b, err := refFileBlock(part.File, pp+".file")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "input_audio":
			return nil, refReqErr(pp, "Anthropic does not accept audio input")
		default:
			return nil, refReqErr(pp+".type", "unsupported content part type %q", part.Type)
		}
	}
	return blocks, nil
}

// supportedImageTypes are the media types Anthropic accepts for images.
func refSupportedImageType(mt string) bool {
	switch mt {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// refParseDataURL splits "data:<media type>[;params];base64,<data>".
func refParseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	header, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	header, found = strings.CutSuffix(header, ";base64")
	if !found {
		return "", "", false
	}
	mediaType, _, _ = strings.Cut(header, ";")
	return strings.ToLower(strings.TrimSpace(mediaType)), data, true
}

func refImageBlock(u, p string) (anBlock, error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		mt, data, ok := refParseDataURL(u)
		if !ok {
			return anBlock{}, refReqErr(p, "an image data URL must be base64: data:<media type>;base64,<data>")
		}
		if !refSupportedImageType(mt) {
			return anBlock{}, refReqErr(p, "image media type %q is not supported by Anthropic (image/jpeg, image/png, image/gif, image/webp)", mt)
		}
		return anBlock{Type: "image", Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
	case refHasPrefixFold(u, "https://"), refHasPrefixFold(u, "http://"):
		return anBlock{Type: "image", Source: &anSource{Type: "url", URL: u}}, nil
	default:
		return anBlock{}, refReqErr(p, "an image URL must be an http(s) URL or a base64 data URL")
	}
}

func refHasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// refFileBlock turns an inline PDF into a document block; Anthropic cannot read
// OpenAI file ids.
func refFileBlock(f *refOaFile, p string) (anBlock, error) {
	if f == nil {
		return anBlock{}, refReqErr(p, "file is required")
	}
	if f.FileData == "" {
		return anBlock{}, refReqErr(p+".file_id", "OpenAI file ids cannot be read by Anthropic; send file_data")
	}
	mt, data, ok := refParseDataURL(f.FileData)
	if !ok || mt != "application/pdf" {
		return anBlock{}, refReqErr(p+".file_data", "file_data must be a base64 data URL of a PDF (data:application/pdf;base64,...)")
	}
	return anBlock{Type: "document", Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
}

func refAssistantBlocks(m *refOaMessage, p string) ([]anBlock, error) {
	s, isString, err := refContentString(m.Content, p)
	if err != nil {
		return nil, err
	}
	var blocks []anBlock
	if isString {
		if s != "" {
			blocks = append(blocks, anBlock{Type: "text", Text: s})
		}
	} else {
		parts, err := refDecodeParts(m.Content, p)
		if err != nil {
			return nil, err
		}
		for j, part := range parts {
			switch part.Type {
			case "text":
				if part.Text != "" {
					blocks = append(blocks, anBlock{Type: "text", Text: part.Text})
				}
			case "refusal":
				if part.Refusal != "" {
					blocks = append(blocks, anBlock{Type: "text", Text: part.Refusal})
				}
			default:
				return nil, refReqErr(p+".content["+strconv.Itoa(j)+"].type", "unsupported assistant content part type %q", part.Type)
			}
		}
	}
	// A refusal the model gave earlier is part of what it said.
	if len(blocks) == 0 && m.Refusal != nil && *m.Refusal != "" {
		blocks = append(blocks, anBlock{Type: "text", Text: *m.Refusal})
	}
	if !refIsNull(m.Audio) {
		return nil, refReqErr(p+".audio", "Anthropic cannot replay audio answers")
	}
	if !refIsNull(m.FunctionCall) {
		return nil, refReqErr(p+".function_call", "the deprecated function_call field is not supported; use tool_calls")
	}
	for j, tc := range m.ToolCalls {
		tp := p + ".tool_calls[" + strconv.Itoa(j) + "]"
		if tc.Type != "" && tc.Type != "function" {
			return nil, refReqErr(tp+".type", "unsupported tool call type %q", tc.Type)
		}
		if tc.ID == "" {
			return nil, refReqErr(tp+".id", "tool call id is required")
		}
		if tc.Function.Name == "" {
			return nil, refReqErr(tp+".function.name", "function name is required")
		}
		input, err := refToolInput(tc.Function.Arguments)
		if err != nil {
			return nil, refReqErr(tp+".function.arguments", "%v", err)
		}
		blocks = append(blocks, anBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

// refToolInput parses OpenAI's arguments string into Anthropic's input object.
func refToolInput(args string) (json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 {
		// Some clients send "" for a function without parameters.
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(b) {
		return nil, errors.New("arguments must be a JSON object, got invalid JSON")
	}
	if b[0] != '{' {
		return nil, errors.New("arguments must be a JSON object")
	}
	return json.RawMessage(b), nil
}

func refToolResultBlock(m *refOaMessage, p string) ([]anBlock, error) {
	if m.ToolCallID == "" {
		return nil, refReqErr(p+".tool_call_id", "tool_call_id is required on tool messages")
	}
	b := anBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
	s, isString, err := refContentString(m.Content, p)
	if err != nil {
		return nil, err
	}
	if isString {
		if s != "" {
			b.Content = s
		}
	} else {
		texts, err := refTextBlocks(m.Content, p)
		if err != nil {
			return nil, err
		}
		if len(texts) > 0 {
			b.Content = texts
		}
	}
	// A tool result is kept even when empty: the tool_use it answers needs it.
	return []anBlock{b}, nil
}

func refTranslateTools(in *refOaRequest) ([]anTool, *anToolChoice, error) {
	tools := make([]anTool, 0, len(in.Tools))
	for i, t := range in.Tools {
		p := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" {
			return nil, nil, refReqErr(p+".type", "unsupported tool type %q; only function tools can be expressed", t.Type)
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, nil, refReqErr(p+".function.name", "function name is required")
		}
		schema := t.Function.Parameters
		switch {
		case refIsNull(schema):
			// Anthropic requires a schema; OpenAI's absent parameters mean
			// "takes no arguments".
			schema = json.RawMessage(`{"type":"object"}`)
		case refFirstByte(schema) != '{':
			return nil, nil, refReqErr(p+".function.parameters", "parameters must be a JSON Schema object")
		}
		tools = append(tools, anTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(tools) == 0 {
		tools = nil
	}

	var choice *anToolChoice
	switch refFirstByte(in.ToolChoice) {
	case 0, 'n':
		if !refIsNull(in.ToolChoice) {
			return nil, nil, refReqErr("tool_choice", "tool_choice must be a string or an object")
		}
	case '"':
		var s string
		if err := json.Unmarshal(in.ToolChoice, &s); err != nil {
			return nil, nil, refReqErr("tool_choice", "tool_choice must be a string or an object")
		}
		switch s {
		case "none":
			// Tools stay declared: Anthropic refuses tool_use blocks in the
			// history of a request that declares no tools.
			choice = &anToolChoice{Type: "none"}
		case "auto":
			choice = &anToolChoice{Type: "auto"}
		case "required":
			choice = &anToolChoice{Type: "any"}
		default:
			return nil, nil, refReqErr("tool_choice", "unsupported tool_choice %q", s)
		}
	case '{':
		var named refOaNamedToolChoice
		if err := json.Unmarshal(in.ToolChoice, &named); err != nil {
			return nil, nil, refReqErr("tool_choice", "tool_choice must be a string or an object")
		}
		if named.Type != "function" {
			return nil, nil, refReqErr("tool_choice.type", "unsupported tool_choice type %q", named.Type)
		}
		if named.Function == nil || named.Function.Name == "" {
			return nil, nil, refReqErr("tool_choice.function.name", "function name is required")
		}
		choice = &anToolChoice{Type: "tool", Name: named.Function.Name}
	default:
		return nil, nil, refReqErr("tool_choice", "tool_choice must be a string or an object")
	}

	if tools == nil {
		if choice != nil && (choice.Type == "any" || choice.Type == "tool") {
			return nil, nil, refReqErr("tool_choice", "tool_choice requires tools")
		}
		// Without tools a choice of none/auto means nothing.
		return nil, nil, nil
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if choice == nil {
			choice = &anToolChoice{Type: "auto"}
		}
		if choice.Type != "none" {
			t := true
			choice.DisableParallelToolUse = &t
		}
	}
	return tools, choice, nil
}

func refResponseFormatInstruction(rf *refOaResponseFormat) (*anBlock, error) {
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return &anBlock{Type: "text", Text: refJsonObjectInstruction}, nil
	case "json_schema":
		if rf.JSONSchema == nil || refIsNull(rf.JSONSchema.Schema) {
			return nil, refReqErr("response_format.json_schema.schema", "a JSON schema is required")
		}
		var schema bytes.Buffer
		if err := json.Compact(&schema, rf.JSONSchema.Schema); err != nil {
			return nil, refReqErr("response_format.json_schema.schema", "schema is not valid JSON")
		}
		text := refJsonSchemaInstruction
		if rf.JSONSchema.Name != "" {
			text += " named " + strconv.Quote(rf.JSONSchema.Name)
		}
		if rf.JSONSchema.Description != "" {
			text += " (" + rf.JSONSchema.Description + ")"
		}
		text += ": " + schema.String()
		return &anBlock{Type: "text", Text: text}, nil
	default:
		return nil, refReqErr("response_format.type", "unsupported response_format type %q", rf.Type)
	}
}

// refFinishReason maps Anthropic's stop_reason to OpenAI's finish_reason.
// pause_turn (a server tool paused a long turn) has no OpenAI counterpart;
// the turn did end, so it is "stop". An unknown reason is also "stop": the
// answer is complete, whatever Anthropic calls it.
func refFinishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// refUsage converts Anthropic's refUsage. Anthropic counts cached prompt tokens
// apart from input_tokens; OpenAI's prompt_tokens (and provider.Usage's
// InputTokens, as the openai adapter fills it) include them.
func refUsage(u anUsage) provider.Usage {
	return provider.Usage{
		InputTokens:         u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:        u.OutputTokens,
		CacheReadTokens:     u.CacheReadInputTokens,
		CacheCreationTokens: u.CacheCreationInputTokens,
	}
}

func refOpenAIUsage(u provider.Usage) oaUsage {
	return oaUsage{
		PromptTokens:        u.InputTokens,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         u.InputTokens + u.OutputTokens,
		PromptTokensDetails: oaPromptTokDetails{CachedTokens: u.CacheReadTokens},
	}
}

// refTranslateResponse turns an Anthropic message into an OpenAI chat.completion.
// The id is Anthropic's message id as is (msg_...), so that an answer can be
// found in Anthropic's console; OpenAI clients treat the id as opaque.
// Thinking blocks are dropped: Chat Completions has no place for them and
// their signatures are useless to a client that cannot send them back.
// Server tool blocks (web search) are dropped too: the gateway never asks for
// them.
func refTranslateResponse(body []byte, created int64) (*oaResponse, *provider.Response, error) {
	var in anResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, nil, fmt.Errorf("decode anthropic message: %w", err)
	}
	if in.Type != "message" {
		return nil, nil, fmt.Errorf("anthropic answer is not a message (type %q)", in.Type)
	}
	var text strings.Builder
	hasText := false
	var calls []refOaToolCall
	for _, b := range in.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "tool_use":
			args := "{}"
			if !refIsNull(b.Input) {
				var buf bytes.Buffer
				if err := json.Compact(&buf, b.Input); err != nil {
					return nil, nil, fmt.Errorf("tool_use input of %q: %w", b.Name, err)
				}
				args = buf.String()
			}
			calls = append(calls, refOaToolCall{ID: b.ID, Type: "function", Function: refOaFunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	msg := oaRespMessage{Role: "assistant", ToolCalls: calls}
	// OpenAI answers content null when the model only called tools.
	if hasText || len(calls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	fr := refFinishReason(in.StopReason)
	u := refUsage(in.Usage)
	out := &oaResponse{
		ID:      in.ID,
		Object:  "chat.completion",
		Created: created,
		Model:   in.Model,
		Choices: []oaChoice{{Index: 0, Message: msg, FinishReason: fr}},
		Usage:   refOpenAIUsage(u),
	}
	return out, &provider.Response{Model: in.Model, Usage: u, FinishReasons: []string{fr}}, nil
}

// ---- the original wire types the reference decodes and encodes ----

// refOaRequest is the client's Chat Completions body. Fields the gateway ignores
// on purpose (seed, service_tier, store, metadata, prediction,
// prompt_cache_key) are not decoded at all; see refTranslateRequest.
type refOaRequest struct {
	Model               string               `json:"model"`
	Messages            []refOaMessage       `json:"messages"`
	MaxTokens           *int64               `json:"max_tokens"`
	MaxCompletionTokens *int64               `json:"max_completion_tokens"`
	Temperature         *float64             `json:"temperature"`
	TopP                *float64             `json:"top_p"`
	Stop                json.RawMessage      `json:"stop"`
	Tools               []refOaTool          `json:"tools"`
	ToolChoice          json.RawMessage      `json:"tool_choice"`
	ParallelToolCalls   *bool                `json:"parallel_tool_calls"`
	ResponseFormat      *refOaResponseFormat `json:"response_format"`
	User                string               `json:"user"`
	SafetyIdentifier    string               `json:"safety_identifier"`
	N                   *int64               `json:"n"`
	Logprobs            *bool                `json:"logprobs"`
	TopLogprobs         *int64               `json:"top_logprobs"`
	FrequencyPenalty    *float64             `json:"frequency_penalty"`
	PresencePenalty     *float64             `json:"presence_penalty"`
	LogitBias           map[string]float64   `json:"logit_bias"`
	Modalities          []string             `json:"modalities"`
	Audio               json.RawMessage      `json:"audio"`
	Functions           json.RawMessage      `json:"functions"`
	FunctionCall        json.RawMessage      `json:"function_call"`
	ReasoningEffort     string               `json:"reasoning_effort"`
	Verbosity           string               `json:"verbosity"`
	WebSearchOptions    json.RawMessage      `json:"web_search_options"`
}

// refOaMessage is one entry of messages; Content is a string, an array of parts
// or null.
type refOaMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Refusal      *string         `json:"refusal"`
	ToolCalls    []refOaToolCall `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Audio        json.RawMessage `json:"audio"`
	FunctionCall json.RawMessage `json:"function_call"`
}

// refOaPart is one content part.
type refOaPart struct {
	Type     string         `json:"type"`
	Text     string         `json:"text"`
	Refusal  string         `json:"refusal"`
	ImageURL *refOaImageURL `json:"image_url"`
	File     *refOaFile     `json:"file"`
}

type refOaImageURL struct {
	URL string `json:"url"`
	// Detail (low/high/auto) has no Anthropic counterpart and is ignored:
	// Anthropic always looks at the image at its own resolution.
	Detail string `json:"detail"`
}

type refOaFile struct {
	FileData string `json:"file_data"`
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
}

type refOaToolCall struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Function refOaFunctionCall `json:"function"`
}

type refOaFunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type refOaTool struct {
	Type     string             `json:"type"`
	Function *refOaFunctionDecl `json:"function"`
}

type refOaFunctionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type refOaNamedToolChoice struct {
	Type     string `json:"type"`
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
}

type refOaResponseFormat struct {
	Type       string           `json:"type"`
	JSONSchema *refOaJSONSchema `json:"json_schema"`
}

type refOaJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

// OpenAI Chat Completions response

type oaResponse struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   oaUsage    `json:"usage"`
}

type oaChoice struct {
	Index   int           `json:"index"`
	Message oaRespMessage `json:"message"`
	// Logprobs is always null: Anthropic has none.
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type oaRespMessage struct {
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	Refusal   *string         `json:"refusal"`
	ToolCalls []refOaToolCall `json:"tool_calls,omitempty"`
}

// Anthropic Messages request

type anRequest struct {
	Model         string        `json:"model"`
	MaxTokens     int64         `json:"max_tokens"`
	System        []anBlock     `json:"system,omitempty"`
	Messages      []anMessage   `json:"messages"`
	Metadata      *anMetadata   `json:"metadata,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	Tools         []anTool      `json:"tools,omitempty"`
	ToolChoice    *anToolChoice `json:"tool_choice,omitempty"`
}

type anMetadata struct {
	UserID string `json:"user_id"`
}

type anMessage struct {
	Role    string    `json:"role"`
	Content []anBlock `json:"content"`
}

// anBlock is a request content block: text, image, document, tool_use or
// tool_result, told apart by Type.
type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *anSource       `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	// Content of a tool_result: a string or []anBlock; nil is omitted.
	Content any `json:"content,omitempty"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// refIncludeUsage is what NewStream did to read stream_options.include_usage.
func refIncludeUsage(body []byte) bool {
	var f oaStreamFlags
	return json.Unmarshal(body, &f) == nil && f.StreamOptions != nil && f.StreamOptions.IncludeUsage
}
