package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates an OpenAI Chat Completions request into a
// generateContent request, and a whole GenerateContentResponse back into a
// chat.completion.
//
// Choices made where the two APIs differ:
//   - system and developer messages, wherever they stand, become
//     systemInstruction, in their order.
//   - user and tool messages are role "user", assistant messages role
//     "model"; consecutive messages of one role are merged into one content,
//     so that the results of parallel tool calls answer them in one turn.
//   - a tool message becomes a functionResponse part named after the call it
//     answers (Gemini matches results by name); its text is sent as the
//     response object itself when it is a JSON object, else as {"result":
//     text}.
//   - tool call arguments (a JSON string in OpenAI's API) are sent as the
//     functionCall's args object; ids come back generated, since Gemini does
//     not always send them.
//   - tool parameters and response_format schemas are cut down to the
//     OpenAPI subset Gemini's Schema takes (schema.go).
//   - fields with no counterpart are in params.go's table: the router drops
//     or refuses them before this translator sees the request; the ones
//     left here are ignored.

func reqErr(param, format string, args ...any) error {
	return &provider.RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// decodeError turns a decoding failure of the client's body into a
// RequestError naming the field when the decoder knows it.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return reqErr(te.Field, "unexpected JSON %s", te.Value)
	}
	return reqErr("", "request body is not valid JSON: %v", err)
}

func msgPath(i int) string     { return "messages[" + strconv.Itoa(i) + "]" }
func partPath(i, j int) string { return msgPath(i) + ".content[" + strconv.Itoa(j) + "]" }

// marshal encodes v without HTML escaping, so that prompts reach the
// upstream as the client wrote them.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// translateRequest turns the client's OpenAI body into a generateContent
// body (the model goes in the URL).
func translateRequest(body []byte, defaultMaxTokens int) ([]byte, error) {
	var in oaRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, decodeError(err)
	}
	if len(in.Messages) == 0 {
		return nil, reqErr("messages", "messages must contain at least one message")
	}
	out := gRequest{}
	cfg := gGenConfig{}
	if err := generationConfig(&in, &cfg, defaultMaxTokens); err != nil {
		return nil, err
	}
	if err := messages(&in, &out); err != nil {
		return nil, err
	}
	if err := tools(&in, &out); err != nil {
		return nil, err
	}
	if err := responseFormat(&in, &cfg); err != nil {
		return nil, err
	}
	if b, _ := json.Marshal(&cfg); string(b) != "{}" {
		out.GenerationConfig = &cfg
	}
	b, err := marshal(&out)
	if err != nil {
		return nil, reqErr("", "request cannot be encoded: %v", err)
	}
	return b, nil
}

func generationConfig(in *oaRequest, cfg *gGenConfig, defaultMaxTokens int) error {
	// max_completion_tokens replaced max_tokens in OpenAI's API; when a client
	// sends both, the newer one wins.
	switch {
	case in.MaxCompletionTokens != nil:
		if *in.MaxCompletionTokens < 1 {
			return reqErr("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
		cfg.MaxOutputTokens = in.MaxCompletionTokens
	case in.MaxTokens != nil:
		if *in.MaxTokens < 1 {
			return reqErr("max_tokens", "max_tokens must be at least 1")
		}
		cfg.MaxOutputTokens = in.MaxTokens
	case defaultMaxTokens > 0:
		n := int64(defaultMaxTokens)
		cfg.MaxOutputTokens = &n
	}
	if t := in.Temperature; t != nil && (*t < 0 || *t > 2) {
		return reqErr("temperature", "temperature must be between 0 and 2")
	}
	if p := in.TopP; p != nil && (*p < 0 || *p > 1) {
		return reqErr("top_p", "top_p must be between 0 and 1")
	}
	cfg.Temperature, cfg.TopP = in.Temperature, in.TopP
	if in.N != nil && *in.N != 1 {
		if *in.N < 1 || *in.N > 8 {
			return reqErr("n", "n must be between 1 and 8 for Gemini models")
		}
		cfg.CandidateCount = in.N
	}
	cfg.Seed = in.Seed
	if p := in.PresencePenalty; p != nil && *p != 0 {
		cfg.PresencePenalty = p
	}
	if p := in.FrequencyPenalty; p != nil && *p != 0 {
		cfg.FrequencyPenalty = p
	}
	stop, err := stopSequences(in.Stop)
	if err != nil {
		return err
	}
	cfg.StopSequences = stop
	return nil
}

func stopSequences(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var list []*string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, reqErr("stop", "stop must be a string or an array of strings")
	}
	var out []string
	for _, s := range list {
		// An empty stop string never matches for OpenAI.
		if s != nil && *s != "" {
			out = append(out, *s)
		}
	}
	if len(out) > 5 {
		return nil, reqErr("stop", "Gemini takes at most 5 stop sequences")
	}
	return out, nil
}

// msgWriter builds the contents, merging consecutive turns of one role.
type msgWriter struct {
	out *gRequest
	// calls maps a tool call id to its function's name, for the tool
	// messages that answer it.
	calls map[string]string
}

func (w *msgWriter) add(role string, parts ...gPart) {
	if len(parts) == 0 {
		return
	}
	if n := len(w.out.Contents); n > 0 && w.out.Contents[n-1].Role == role {
		w.out.Contents[n-1].Parts = append(w.out.Contents[n-1].Parts, parts...)
		return
	}
	w.out.Contents = append(w.out.Contents, gContent{Role: role, Parts: parts})
}

func textPart(s string) gPart { return gPart{Text: &s} }

func messages(in *oaRequest, out *gRequest) error {
	w := msgWriter{out: out, calls: map[string]string{}}
	var system []gPart
	for i := range in.Messages {
		m := &in.Messages[i]
		switch m.Role {
		case "system", "developer":
			ps, err := textParts(m.Content, i)
			if err != nil {
				return err
			}
			system = append(system, ps...)
		case "user":
			ps, err := userParts(m.Content, i)
			if err != nil {
				return err
			}
			w.add("user", ps...)
		case "assistant":
			ps, err := w.assistantParts(m, i)
			if err != nil {
				return err
			}
			w.add("model", ps...)
		case "tool":
			p, err := w.toolResult(m, i)
			if err != nil {
				return err
			}
			w.add("user", p)
		case "function":
			return reqErr(msgPath(i)+".role", "the deprecated function role is not supported; use tool")
		default:
			return reqErr(msgPath(i)+".role", "unsupported message role %q", m.Role)
		}
	}
	if len(system) > 0 {
		out.SystemInstruction = &gContent{Parts: system}
	}
	if len(out.Contents) == 0 {
		return reqErr("messages", "messages must contain at least one non-empty user or assistant message")
	}
	return nil
}

// parts decodes content: a string (one text part), an array of parts, or
// null.
func parts(content json.RawMessage, i int) (string, []oaPart, bool, error) {
	content = bytes.TrimSpace(content)
	if len(content) == 0 || string(content) == "null" {
		return "", nil, false, nil
	}
	switch content[0] {
	case '"':
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return "", nil, false, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
		}
		return s, nil, false, nil
	case '[':
		var ps []oaPart
		if err := json.Unmarshal(content, &ps); err != nil {
			return "", nil, false, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
		}
		return "", ps, true, nil
	}
	return "", nil, false, reqErr(msgPath(i)+".content", "content must be a string or an array of content parts")
}

// textParts reads content that may only hold text (system, developer).
func textParts(content json.RawMessage, i int) ([]gPart, error) {
	s, ps, isArray, err := parts(content, i)
	if err != nil {
		return nil, err
	}
	if !isArray {
		if s == "" {
			return nil, nil
		}
		return []gPart{textPart(s)}, nil
	}
	var out []gPart
	for j, p := range ps {
		if p.Type != "text" {
			return nil, reqErr(partPath(i, j)+".type", "only text parts are allowed here, got %q", p.Type)
		}
		if p.Text != "" {
			out = append(out, textPart(p.Text))
		}
	}
	return out, nil
}

func userParts(content json.RawMessage, i int) ([]gPart, error) {
	s, ps, isArray, err := parts(content, i)
	if err != nil {
		return nil, err
	}
	if !isArray {
		if s == "" {
			return nil, nil
		}
		return []gPart{textPart(s)}, nil
	}
	var out []gPart
	for j, p := range ps {
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, textPart(p.Text))
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, reqErr(partPath(i, j)+".image_url.url", "image_url.url is required")
			}
			gp, err := imagePart(p.ImageURL.URL, partPath(i, j)+".image_url.url")
			if err != nil {
				return nil, err
			}
			out = append(out, gp)
		case "file":
			if p.File == nil || p.File.FileData == "" {
				return nil, reqErr(partPath(i, j)+".file.file_data", "OpenAI file ids cannot be read by Gemini; send file_data")
			}
			mt, data, ok := parseDataURL(p.File.FileData)
			if !ok {
				return nil, reqErr(partPath(i, j)+".file.file_data", "file_data must be a base64 data URL (data:<media type>;base64,...)")
			}
			out = append(out, gPart{InlineData: &gBlob{MimeType: mt, Data: data}})
		case "input_audio":
			if p.InputAudio == nil || p.InputAudio.Data == "" {
				return nil, reqErr(partPath(i, j)+".input_audio.data", "input_audio.data is required")
			}
			format := p.InputAudio.Format
			if format != "wav" && format != "mp3" {
				return nil, reqErr(partPath(i, j)+".input_audio.format", "input_audio.format must be wav or mp3")
			}
			out = append(out, gPart{InlineData: &gBlob{MimeType: "audio/" + format, Data: p.InputAudio.Data}})
		default:
			return nil, reqErr(partPath(i, j)+".type", "unsupported content part type %q", p.Type)
		}
	}
	return out, nil
}

// imagePart is inlineData for a data URL, fileData for an http(s) or gs://
// URL (Gemini fetches it; the media type is guessed from the extension).
func imagePart(u, param string) (gPart, error) {
	if strings.HasPrefix(u, "data:") {
		mt, data, ok := parseDataURL(u)
		if !ok {
			return gPart{}, reqErr(param, "an image data URL must be base64: data:<media type>;base64,<data>")
		}
		return gPart{InlineData: &gBlob{MimeType: mt, Data: data}}, nil
	}
	lower := strings.ToLower(u)
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "gs://") {
		return gPart{FileData: &gFileData{MimeType: imageTypeOf(lower), FileURI: u}}, nil
	}
	return gPart{}, reqErr(param, "an image URL must be an http(s) URL, a gs:// URI or a base64 data URL")
}

// imageTypeOf guesses an image URL's media type from its extension;
// image/jpeg when it has none Gemini would know.
func imageTypeOf(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch path.Ext(u) {
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	case ".gif":
		return "image/gif"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	}
	return "image/jpeg"
}

// parseDataURL splits "data:<media type>[;params];base64,<data>".
func parseDataURL(u string) (mediaType, data string, ok bool) {
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
	mt, _, _ := strings.Cut(header, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" || data == "" {
		return "", "", false
	}
	return mt, data, true
}

func (w *msgWriter) assistantParts(m *oaMessage, i int) ([]gPart, error) {
	s, ps, isArray, err := parts(m.Content, i)
	if err != nil {
		return nil, err
	}
	var out []gPart
	if !isArray && s != "" {
		out = append(out, textPart(s))
	}
	for j, p := range ps {
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, textPart(p.Text))
			}
		case "refusal":
			if p.Refusal != "" {
				out = append(out, textPart(p.Refusal))
			}
		default:
			return nil, reqErr(partPath(i, j)+".type", "unsupported assistant content part type %q", p.Type)
		}
	}
	// A refusal the model gave earlier is part of what it said.
	if len(out) == 0 && m.Refusal != nil && *m.Refusal != "" {
		out = append(out, textPart(*m.Refusal))
	}
	for j, tc := range m.ToolCalls {
		p := msgPath(i) + ".tool_calls[" + strconv.Itoa(j) + "]"
		if tc.Type != "" && tc.Type != "function" {
			return nil, reqErr(p+".type", "unsupported tool call type %q", tc.Type)
		}
		if tc.Function.Name == "" {
			return nil, reqErr(p+".function.name", "function name is required")
		}
		args := json.RawMessage(`{}`)
		if a := strings.TrimSpace(tc.Function.Arguments); a != "" {
			if !json.Valid([]byte(a)) || a[0] != '{' {
				return nil, reqErr(p+".function.arguments", "arguments must be a JSON object")
			}
			args = json.RawMessage(a)
		}
		if tc.ID != "" {
			w.calls[tc.ID] = tc.Function.Name
		}
		out = append(out, gPart{FunctionCall: &gFunctionCall{Name: tc.Function.Name, Args: args}})
	}
	return out, nil
}

func (w *msgWriter) toolResult(m *oaMessage, i int) (gPart, error) {
	name, ok := w.calls[m.ToolCallID]
	if !ok {
		return gPart{}, reqErr(msgPath(i)+".tool_call_id", "tool_call_id %q answers no earlier tool call", m.ToolCallID)
	}
	s, ps, isArray, err := parts(m.Content, i)
	if err != nil {
		return gPart{}, err
	}
	if isArray {
		var b strings.Builder
		for j, p := range ps {
			if p.Type != "text" {
				return gPart{}, reqErr(partPath(i, j)+".type", "only text parts are allowed in a tool result, got %q", p.Type)
			}
			b.WriteString(p.Text)
		}
		s = b.String()
	}
	// Gemini's response is an object: a JSON object result is sent as it
	// is, anything else wrapped.
	resp := json.RawMessage(nil)
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		resp = json.RawMessage(t)
	} else {
		b, err := marshal(map[string]string{"result": s})
		if err != nil {
			return gPart{}, reqErr(msgPath(i)+".content", "tool result cannot be encoded")
		}
		resp = b
	}
	return gPart{FunctionResponse: &gFunctionResponse{Name: name, Response: resp}}, nil
}

func tools(in *oaRequest, out *gRequest) error {
	if len(in.Tools) > 0 {
		decls := make([]gFunctionDecl, 0, len(in.Tools))
		for i, t := range in.Tools {
			p := "tools[" + strconv.Itoa(i) + "]"
			if t.Type != "function" {
				return reqErr(p+".type", "unsupported tool type %q; Gemini targets take function tools", t.Type)
			}
			if t.Function.Name == "" {
				return reqErr(p+".function.name", "function name is required")
			}
			params, err := cleanSchema(t.Function.Parameters, false)
			if err != nil {
				return reqErr(p+".function.parameters", "%v", err)
			}
			decls = append(decls, gFunctionDecl{Name: t.Function.Name, Description: t.Function.Description, Parameters: params})
		}
		out.Tools = []gTool{{FunctionDeclarations: decls}}
	}
	raw := bytes.TrimSpace(in.ToolChoice)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto":
			mode = "AUTO"
		case "none":
			mode = "NONE"
		case "required":
			mode = "ANY"
		default:
			return reqErr("tool_choice", "unsupported tool_choice %q", mode)
		}
		out.ToolConfig = &gToolConfig{FunctionCallingConfig: gFunctionCallingConfig{Mode: mode}}
		return nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return reqErr("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
	}
	out.ToolConfig = &gToolConfig{FunctionCallingConfig: gFunctionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{named.Function.Name}}}
	return nil
}

func responseFormat(in *oaRequest, cfg *gGenConfig) error {
	rf := in.ResponseFormat
	if rf == nil {
		return nil
	}
	switch rf.Type {
	case "", "text":
	case "json_object":
		cfg.ResponseMimeType = "application/json"
	case "json_schema":
		cfg.ResponseMimeType = "application/json"
		if rf.JSONSchema == nil {
			return reqErr("response_format.json_schema", "json_schema is required")
		}
		s, err := cleanSchema(rf.JSONSchema.Schema, true)
		if err != nil {
			return reqErr("response_format.json_schema.schema", "%v", err)
		}
		cfg.ResponseSchema = s
	default:
		return reqErr("response_format.type", "unsupported response_format type %q", rf.Type)
	}
	return nil
}
