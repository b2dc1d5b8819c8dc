package sim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// Google's generateContent API, in both URL shapes the gemini and vertex
// provider kinds use:
//
//	Gemini API  /v1beta/models/{model}:{method}
//	Vertex AI   /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}
//
// with methods generateContent, streamGenerateContent (?alt=sse: each event
// a whole GenerateContentResponse chunk), countTokens, batchEmbedContents
// and embedContent (Gemini API), predict (Vertex embeddings); GET
// /v1beta/models and /v1beta/models/{model} list models. Keys are read
// from x-goog-api-key or ?key= (Gemini API) and bearer tokens from
// Authorization (Vertex); with ExpectKey set either must equal it. A wrong
// key gets what Google sends: 400 INVALID_ARGUMENT with reason
// API_KEY_INVALID. The content_policy fault answers as Gemini blocks a
// prompt: 200 with promptFeedback.blockReason SAFETY and no candidates.

// geminiContextWindow is the context window Gemini 2.x models have.
const geminiContextWindow = 1048576

// geminiCall is what a Gemini-shaped request adds to the exchange.
type geminiCall struct {
	model  string
	method string
	vertex bool
}

// cutGeminiPath splits a Gemini or Vertex path into what follows
// ".../models" ("" for the list, "/{m}" or "/{m}:{method}").
func cutGeminiPath(p string) (rest string, vertex, ok bool) {
	for _, prefix := range []string{"/v1beta/models", "/v1/models"} {
		if r, found := strings.CutPrefix(p, prefix); found && (r == "" || r[0] == '/') {
			return r, false, true
		}
	}
	// /v1/projects/{p}/locations/{l}/publishers/google/models...
	segs := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 8)
	if len(segs) >= 7 && segs[0] == "v1" && segs[1] == "projects" && segs[3] == "locations" && segs[5] == "publishers" && segs[6] == "google" {
		if len(segs) == 8 {
			if r, found := strings.CutPrefix(segs[7], "models"); found && (r == "" || r[0] == '/') {
				return r, true, true
			}
		}
	}
	return "", false, false
}

// serveGemini routes a request of the gemini kind; it reports whether the
// path was one of its own.
func (s *Sim) serveGemini(x *exchange) bool {
	rest, vertex, ok := cutGeminiPath(x.r.URL.Path)
	if !ok {
		return false
	}
	model, method, hasMethod := strings.Cut(strings.TrimPrefix(rest, "/"), ":")
	if !hasMethod {
		x.kind = reqProbe
		s.serveGeminiModels(x, model)
		return true
	}
	x.gemini = &geminiCall{model: model, method: method, vertex: vertex}
	switch method {
	case "generateContent", "streamGenerateContent":
		x.kind, x.api = reqChat, provider.APIChat
	case "batchEmbedContents", "embedContent", "predict":
		x.kind, x.api = reqChat, provider.APIEmbeddings
	case "countTokens":
		x.kind = reqProbe
		s.serveGeminiCountTokens(x)
		return true
	default:
		s.writeError(x, http.StatusNotFound, s.notFound(x.r))
		return true
	}
	s.serveChat(x)
	return true
}

// geminiKey is the credential of a Gemini-shaped request.
func geminiKey(r *http.Request) string {
	if k := r.Header.Get("x-goog-api-key"); k != "" {
		return k
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(tok)
}

// geminiAuthorized is authorized for the gemini kind.
func (s *Sim) geminiAuthorized(x *exchange) bool {
	got := geminiKey(x.r)
	switch {
	case got == "":
		s.writeError(x, http.StatusForbidden, s.authError(false))
		return false
	case subtle.ConstantTimeCompare([]byte(got), []byte(s.expectKey)) != 1:
		s.writeAuthError(x, true)
		return false
	}
	return true
}

// writeAuthError answers a missing or wrong key as the kind does: Gemini
// answers a wrong API key with a 400 (reason API_KEY_INVALID), a wrong
// bearer token with 401.
func (s *Sim) writeAuthError(x *exchange, wrong bool) {
	e := s.authError(wrong)
	status := http.StatusUnauthorized
	if s.kind == KindGemini {
		status = googleCode(e.typ)
		if wrong && strings.HasPrefix(x.r.Header.Get("Authorization"), "Bearer ") && x.r.Header.Get("x-goog-api-key") == "" {
			status, e = http.StatusUnauthorized, googleError(http.StatusUnauthorized, "UNAUTHENTICATED",
				"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		}
	}
	s.writeError(x, status, e)
}

// googleStatus is the google.rpc.Code name of an HTTP status.
func googleStatus(status int) string {
	switch status {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// googleCode is the HTTP status of a google.rpc.Code name.
func googleCode(name string) int {
	switch name {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return 400
	case "UNAUTHENTICATED":
		return 401
	case "PERMISSION_DENIED":
		return 403
	case "NOT_FOUND":
		return 404
	case "ABORTED":
		return 409
	case "RESOURCE_EXHAUSTED":
		return 429
	case "UNAVAILABLE":
		return 503
	case "DEADLINE_EXCEEDED":
		return 504
	}
	return 500
}

// googleError is an error in Google's shape; code carries the HTTP status
// the body names.
func googleError(status int, name, message string) apiError {
	return apiError{typ: name, message: message, code: strconv.Itoa(status)}
}

type googleErrorBody struct {
	Error googleErrorInner `json:"error"`
}

type googleErrorInner struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// apiKeyInvalidDetail is the ErrorInfo Google attaches to a wrong API key.
const apiKeyInvalidDetail = `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}`

// googleErrorJSON renders e in Google's shape.
func googleErrorJSON(e apiError) []byte {
	code, _ := strconv.Atoi(e.code)
	if code == 0 {
		code = googleCode(e.typ)
	}
	inner := googleErrorInner{Code: code, Message: e.message, Status: e.typ}
	if e.param == "API_KEY_INVALID" {
		inner.Details = []json.RawMessage{json.RawMessage(apiKeyInvalidDetail)}
	}
	b, err := marshalNoEscape(googleErrorBody{Error: inner})
	if err != nil {
		return []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`)
	}
	return b
}

// geminiErrorFor is Google's error for an HTTP status.
func geminiErrorFor(status int, model string) apiError {
	name := googleStatus(status)
	msg := map[int]string{
		400: "Request contains an invalid argument.",
		401: "Request had invalid authentication credentials.",
		403: "The caller does not have permission",
		404: "models/" + model + " is not found for API version v1beta, or is not supported for generateContent.",
		413: "Request payload size exceeds the limit.",
		429: "Resource has been exhausted (e.g. check quota).",
		500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
		503: "The model is overloaded. Please try again later.",
		504: "The request timed out. Please try again.",
	}[status]
	if msg == "" {
		msg = http.StatusText(status)
	}
	return googleError(status, name, msg)
}

// marshalNoEscape encodes v without HTML escaping, as Google's servers do.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// geminiAuthError is Google's answer to a missing or wrong API key.
func geminiAuthError(wrong bool) apiError {
	if wrong {
		e := googleError(http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
		e.param = "API_KEY_INVALID"
		return e
	}
	return googleError(http.StatusForbidden, "PERMISSION_DENIED",
		"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
}

// Gemini request types, as far as the simulator checks them.
type geminiRequest struct {
	Contents          json.RawMessage `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	Tools             []geminiTool    `json:"tools"`
	ToolConfig        *struct {
		FunctionCallingConfig struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		StopSequences    []string        `json:"stopSequences"`
		ResponseMimeType string          `json:"responseMimeType"`
		ResponseSchema   json.RawMessage `json:"responseSchema"`
		CandidateCount   *int            `json:"candidateCount"`
		MaxOutputTokens  *int            `json:"maxOutputTokens"`
		Temperature      *float64        `json:"temperature"`
		TopP             *float64        `json:"topP"`
		TopK             *float64        `json:"topK"`
		Seed             *int64          `json:"seed"`
		PresencePenalty  *float64        `json:"presencePenalty"`
		FrequencyPenalty *float64        `json:"frequencyPenalty"`
	} `json:"generationConfig"`
	SafetySettings json.RawMessage `json:"safetySettings"`
	CachedContent  string          `json:"cachedContent"`
}

type geminiContent struct {
	Role  string       `json:"role"`
	Parts []geminiPart `json:"parts"`
}

type geminiPart struct {
	Text       *string `json:"text"`
	Thought    bool    `json:"thought"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
	ThoughtSignature string `json:"thoughtSignature"`
}

type geminiTool struct {
	FunctionDeclarations []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"functionDeclarations"`
	GoogleSearch  json.RawMessage `json:"googleSearch"`
	CodeExecution json.RawMessage `json:"codeExecution"`
}

func geminiInvalid(format string, args ...any) *apiError {
	e := googleError(http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf(format, args...))
	return &e
}

// geminiSchemaKeys are the keys Gemini's Schema takes; any other is
// refused as real Gemini refuses it, so that translation bugs show here.
var geminiSchemaKeys = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "properties": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true, "example": true,
	"anyOf": true, "propertyOrdering": true, "default": true, "items": true, "minimum": true, "maximum": true,
}

// checkGeminiSchema refuses unknown keys and lower-case or unknown types,
// as Gemini does.
func checkGeminiSchema(raw json.RawMessage, at string, depth int) *apiError {
	if isNull(raw) || depth > 64 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return geminiInvalid("Invalid JSON payload received. Invalid value at '%s': expected an object.", at)
	}
	for k, v := range m {
		if !geminiSchemaKeys[k] {
			return geminiInvalid("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", k, at)
		}
		switch k {
		case "type":
			var t string
			_ = json.Unmarshal(v, &t)
			switch t {
			case "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL":
			default:
				return geminiInvalid("Invalid JSON payload received. Invalid value at '%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), %s", at, v)
			}
		case "items":
			if e := checkGeminiSchema(v, at+".items", depth+1); e != nil {
				return e
			}
		case "properties":
			var props map[string]json.RawMessage
			if err := json.Unmarshal(v, &props); err != nil {
				return geminiInvalid("Invalid JSON payload received. Invalid value at '%s.properties'.", at)
			}
			if len(props) == 0 {
				return geminiInvalid("* GenerateContentRequest.%s.properties: should be non-empty for OBJECT type", at)
			}
			for name, p := range props {
				if e := checkGeminiSchema(p, at+".properties["+strconv.Quote(name)+"].value", depth+1); e != nil {
					return e
				}
			}
		case "anyOf":
			var alts []json.RawMessage
			_ = json.Unmarshal(v, &alts)
			for i, a := range alts {
				if e := checkGeminiSchema(a, at+".any_of["+strconv.Itoa(i)+"]", depth+1); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

// parseGemini validates a generateContent body as Gemini does (the common
// cases) and extracts the conversation.
func parseGemini(g *geminiCall, body []byte) (*conversation, *apiError) {
	c := &conversation{model: g.model, stream: g.method == "streamGenerateContent", includeUsage: true}
	var req geminiRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return c, geminiInvalid("Invalid JSON payload received. Unknown name %q: Cannot find field.", unknown)
		}
		return c, geminiInvalid("Invalid JSON payload received. %v", err)
	}
	var contents []geminiContent
	if isNull(req.Contents) {
		return c, geminiInvalid("* GenerateContentRequest.contents: contents is not specified")
	}
	if err := json.Unmarshal(req.Contents, &contents); err != nil {
		return c, geminiInvalid("Invalid JSON payload received. Invalid value at 'contents'.")
	}
	if len(contents) == 0 {
		return c, geminiInvalid("* GenerateContentRequest.contents: contents is not specified")
	}
	if si := req.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			if p.Text != nil {
				c.promptChars += len([]rune(*p.Text))
			}
		}
		c.messages++
	}
	calls := map[string]bool{}
	for i, ct := range contents {
		if ct.Role != "" && ct.Role != "user" && ct.Role != "model" {
			return c, geminiInvalid("Please use a valid role: user, model.")
		}
		if len(ct.Parts) == 0 {
			return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		c.messages++
		last := i == len(contents)-1
		var text strings.Builder
		afterTool, toolResult := false, ""
		for j, p := range ct.Parts {
			switch {
			case p.Text != nil:
				text.WriteString(*p.Text)
				c.promptChars += len([]rune(*p.Text))
			case p.InlineData != nil:
				if p.InlineData.MimeType == "" || p.InlineData.Data == "" {
					return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts[%d].inline_data: mime_type and data are required", i, j)
				}
				c.promptChars += 1000
			case p.FileData != nil:
				if p.FileData.FileURI == "" {
					return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts[%d].file_data.file_uri: a file URI is required", i, j)
				}
				c.promptChars += 1000
			case p.FunctionCall != nil:
				if ct.Role != "model" || p.FunctionCall.Name == "" {
					return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts[%d].function_call: a named function call must be in a model turn", i, j)
				}
				calls[p.FunctionCall.Name] = true
				c.promptChars += len(p.FunctionCall.Args)
			case p.FunctionResponse != nil:
				fr := p.FunctionResponse
				if fr.Name == "" || !isObject(fr.Response) {
					return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts[%d].function_response: name and an object response are required", i, j)
				}
				if !calls[fr.Name] {
					return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts[%d].function_response.name: no earlier function call is named %q", i, j, fr.Name)
				}
				afterTool, toolResult = true, toolResult+string(fr.Response)
				c.promptChars += len(fr.Response)
			default:
				return c, geminiInvalid("* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field", i, j)
			}
		}
		if ct.Role != "model" && text.Len() > 0 {
			c.lastUser = text.String()
		}
		if last {
			c.afterTool, c.toolResult = afterTool, toolResult
			if ct.Role == "model" {
				c.prefilled, c.prefill = true, text.String()
			}
		}
	}
	for i, t := range req.Tools {
		for j, fd := range t.FunctionDeclarations {
			if fd.Name == "" {
				return c, geminiInvalid("* GenerateContentRequest.tools[%d].function_declarations[%d].name: Name cannot be empty.", i, j)
			}
			at := fmt.Sprintf("tools[%d].function_declarations[%d].parameters", i, j)
			if e := checkGeminiSchema(fd.Parameters, at, 0); e != nil {
				return c, e
			}
			c.tools = append(c.tools, toolDef{name: fd.Name, schema: fd.Parameters})
		}
	}
	if tc := req.ToolConfig; tc != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "", "AUTO":
		case "NONE":
			c.choice = choiceNone
		case "ANY":
			c.choice = choiceAny
			if len(fc.AllowedFunctionNames) == 1 {
				c.choice, c.choiceName = choiceNamed, fc.AllowedFunctionNames[0]
			}
		default:
			return c, geminiInvalid("Invalid JSON payload received. Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), %q", fc.Mode)
		}
	}
	if gc := req.GenerationConfig; gc != nil {
		if gc.MaxOutputTokens != nil {
			c.maxTokens = *gc.MaxOutputTokens
		}
		c.stops = gc.StopSequences
		if len(gc.StopSequences) > 5 {
			return c, geminiInvalid("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences")
		}
		if t := gc.Temperature; t != nil && (*t < 0 || *t > 2) {
			return c, geminiInvalid("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]")
		}
		if n := gc.CandidateCount; n != nil && (*n < 1 || *n > 8) {
			return c, geminiInvalid("* GenerateContentRequest.generation_config.candidate_count: must be in [1, 8]")
		}
		if len(gc.ResponseSchema) > 0 {
			if gc.ResponseMimeType != "application/json" {
				return c, geminiInvalid("* GenerateContentRequest.generation_config.response_schema: response_mime_type must be application/json")
			}
			if e := checkGeminiSchema(gc.ResponseSchema, "generation_config.response_schema", 0); e != nil {
				return c, e
			}
		}
	}
	return c, nil
}

// geminiFinish is the plan's finishReason.
func (p plan) geminiFinish() string {
	if p.finish == finishLength {
		return "MAX_TOKENS"
	}
	return "STOP"
}

type geminiOutPart struct {
	Text         *string `json:"text,omitempty"`
	FunctionCall *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall,omitempty"`
}

type geminiOutCandidate struct {
	Content *struct {
		Parts []geminiOutPart `json:"parts"`
		Role  string          `json:"role"`
	} `json:"content,omitempty"`
	FinishReason string `json:"finishReason,omitempty"`
	Index        int    `json:"index"`
}

type geminiUsage struct {
	PromptTokenCount     int `json:"promptTokenCount"`
	CandidatesTokenCount int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount      int `json:"totalTokenCount"`
}

type geminiResponse struct {
	Candidates     []geminiOutCandidate `json:"candidates,omitempty"`
	PromptFeedback json.RawMessage      `json:"promptFeedback,omitempty"`
	UsageMetadata  *geminiUsage         `json:"usageMetadata,omitempty"`
	ModelVersion   string               `json:"modelVersion"`
	ResponseID     string               `json:"responseId"`
}

func geminiCandidate(parts []geminiOutPart, finish string) geminiOutCandidate {
	c := geminiOutCandidate{FinishReason: finish}
	c.Content = &struct {
		Parts []geminiOutPart `json:"parts"`
		Role  string          `json:"role"`
	}{Parts: parts, Role: "model"}
	return c
}

func (p plan) geminiParts() []geminiOutPart {
	if p.tool != nil {
		fc := &struct {
			Name string          `json:"name"`
			Args json.RawMessage `json:"args"`
		}{Name: p.tool.name, Args: json.RawMessage(p.tool.args)}
		return []geminiOutPart{{FunctionCall: fc}}
	}
	text := p.text
	return []geminiOutPart{{Text: &text}}
}

func geminiUsageOf(p plan) *geminiUsage {
	return &geminiUsage{PromptTokenCount: p.inputTokens, CandidatesTokenCount: p.outputTokens, TotalTokenCount: p.inputTokens + p.outputTokens}
}

// geminiBody renders a whole GenerateContentResponse.
func geminiBody(c *conversation, p plan, id string) []byte {
	b, _ := marshalNoEscape(geminiResponse{
		Candidates:    []geminiOutCandidate{geminiCandidate(p.geminiParts(), p.geminiFinish())},
		UsageMetadata: geminiUsageOf(p), ModelVersion: c.model, ResponseID: id,
	})
	return b
}

// geminiFrames renders the stream: the text a few words per event, a
// function call whole, the finishReason and usage on the last event.
func geminiFrames(c *conversation, p plan, id string) [][]byte {
	frame := func(r geminiResponse) []byte {
		r.ModelVersion, r.ResponseID = c.model, id
		b, _ := marshalNoEscape(r)
		return append(append([]byte("data: "), b...), "\r\n\r\n"...)
	}
	if p.tool != nil {
		return [][]byte{frame(geminiResponse{Candidates: []geminiOutCandidate{geminiCandidate(p.geminiParts(), p.geminiFinish())}, UsageMetadata: geminiUsageOf(p)})}
	}
	ws := words(p.text)
	var pieces []string
	for i := 0; i < len(ws); i += 3 {
		pieces = append(pieces, strings.Join(ws[i:min(i+3, len(ws))], ""))
	}
	if len(pieces) == 0 {
		pieces = []string{""}
	}
	frames := make([][]byte, 0, len(pieces))
	for i, piece := range pieces {
		text := piece
		parts := []geminiOutPart{{Text: &text}}
		if i < len(pieces)-1 {
			frames = append(frames, frame(geminiResponse{Candidates: []geminiOutCandidate{geminiCandidate(parts, "")},
				UsageMetadata: &geminiUsage{PromptTokenCount: p.inputTokens, TotalTokenCount: p.inputTokens}}))
			continue
		}
		frames = append(frames, frame(geminiResponse{Candidates: []geminiOutCandidate{geminiCandidate(parts, p.geminiFinish())}, UsageMetadata: geminiUsageOf(p)}))
	}
	return frames
}

// geminiBlocked is Gemini's answer to a prompt its safety filters block.
func geminiBlocked(c *conversation, id string) geminiResponse {
	return geminiResponse{
		PromptFeedback: json.RawMessage(`{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH"}]}`),
		UsageMetadata:  &geminiUsage{PromptTokenCount: promptTokens(c), TotalTokenCount: promptTokens(c)},
		ModelVersion:   c.model, ResponseID: id,
	}
}

// deliverGeminiBlocked answers the content_policy fault as Gemini does.
func (s *Sim) deliverGeminiBlocked(x *exchange, c *conversation) {
	b, _ := marshalNoEscape(geminiBlocked(c, s.geminiResponseID()))
	if c.stream {
		s.deliverStream(x, [][]byte{append(append([]byte("data: "), b...), "\r\n\r\n"...)}, Fault{})
		return
	}
	s.deliverJSON(x, b, Fault{})
}

func (s *Sim) geminiResponseID() string { return randomID(22) }

// parseGeminiEmbed validates an embeddings request of either shape.
func parseGeminiEmbed(g *geminiCall, body []byte) (*conversation, *apiError) {
	c := &conversation{model: g.model, embed: &embeddingsCall{dims: 768}}
	var texts []string
	var dims *int
	switch g.method {
	case "predict":
		var req struct {
			Instances []struct {
				Content  string `json:"content"`
				TaskType string `json:"task_type"`
				Title    string `json:"title"`
			} `json:"instances"`
			Parameters *struct {
				OutputDimensionality *int  `json:"outputDimensionality"`
				AutoTruncate         *bool `json:"autoTruncate"`
			} `json:"parameters"`
		}
		if unknown, err := decodeStrict(body, &req); err != nil {
			return c, geminiInvalid("Invalid JSON payload received. %s %v", unknown, err)
		}
		for _, in := range req.Instances {
			texts = append(texts, in.Content)
		}
		if req.Parameters != nil {
			dims = req.Parameters.OutputDimensionality
		}
	case "batchEmbedContents":
		var req struct {
			Requests []struct {
				Model                string        `json:"model"`
				Content              geminiContent `json:"content"`
				OutputDimensionality *int          `json:"outputDimensionality"`
				TaskType             string        `json:"taskType"`
			} `json:"requests"`
		}
		if unknown, err := decodeStrict(body, &req); err != nil {
			return c, geminiInvalid("Invalid JSON payload received. %s %v", unknown, err)
		}
		for i, r := range req.Requests {
			if r.Model != "models/"+g.model {
				return c, geminiInvalid("* BatchEmbedContentsRequest.requests[%d].model: model %q does not match the batch's models/%s", i, r.Model, g.model)
			}
			texts = append(texts, partsText(r.Content.Parts))
			dims = r.OutputDimensionality
		}
	default: // embedContent
		var req struct {
			Model                string        `json:"model"`
			Content              geminiContent `json:"content"`
			OutputDimensionality *int          `json:"outputDimensionality"`
			TaskType             string        `json:"taskType"`
		}
		if unknown, err := decodeStrict(body, &req); err != nil {
			return c, geminiInvalid("Invalid JSON payload received. %s %v", unknown, err)
		}
		texts = []string{partsText(req.Content.Parts)}
		dims = req.OutputDimensionality
	}
	if len(texts) == 0 {
		return c, geminiInvalid("* at least one input is required")
	}
	if dims != nil {
		if *dims < 1 || *dims > 3072 {
			return c, geminiInvalid("* output_dimensionality must be in [1, 3072]")
		}
		c.embed.dims = *dims
	}
	for _, t := range texts {
		c.embed.keys = append(c.embed.keys, t)
		c.embed.tokens = append(c.embed.tokens, tokens(t))
	}
	return c, nil
}

func partsText(ps []geminiPart) string {
	var b strings.Builder
	for _, p := range ps {
		if p.Text != nil {
			b.WriteString(*p.Text)
		}
	}
	return b.String()
}

// geminiEmbedBody renders the embeddings in the method's shape.
func geminiEmbedBody(g *geminiCall, c *conversation) []byte {
	e := c.embed
	type values struct {
		Values []float32 `json:"values"`
	}
	var v any
	switch g.method {
	case "predict":
		type stats struct {
			TokenCount int  `json:"token_count"`
			Truncated  bool `json:"truncated"`
		}
		type pred struct {
			Embeddings struct {
				Values     []float32 `json:"values"`
				Statistics stats     `json:"statistics"`
			} `json:"embeddings"`
		}
		var preds []pred
		for i, k := range e.keys {
			var p pred
			p.Embeddings.Values = Embedding(c.model, k, e.dims)
			p.Embeddings.Statistics = stats{TokenCount: e.tokens[i]}
			preds = append(preds, p)
		}
		v = struct {
			Predictions []pred `json:"predictions"`
		}{preds}
	case "batchEmbedContents":
		var list []values
		for _, k := range e.keys {
			list = append(list, values{Embedding(c.model, k, e.dims)})
		}
		v = struct {
			Embeddings []values `json:"embeddings"`
		}{list}
	default:
		v = struct {
			Embedding values `json:"embedding"`
		}{values{Embedding(c.model, e.keys[0], e.dims)}}
	}
	b, _ := json.Marshal(v)
	return b
}

// serveGeminiCountTokens answers countTokens: a probe that costs nothing.
func (s *Sim) serveGeminiCountTokens(x *exchange) {
	if x.r.Method != http.MethodPost {
		s.writeError(x, http.StatusMethodNotAllowed, s.methodNotAllowed(x.r))
		return
	}
	body, ok := s.readBody(x)
	if !ok || s.frontDoor(x, "") || !s.authorized(x) {
		return
	}
	var req struct {
		Contents []geminiContent `json:"contents"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(x, http.StatusBadRequest, *geminiInvalid("Invalid JSON payload received."))
		return
	}
	n := 0
	for _, ct := range req.Contents {
		n += tokens(partsText(ct.Parts))
	}
	s.writeGeminiJSON(x, []byte(`{"totalTokens":`+strconv.Itoa(n)+`}`))
}

// serveGeminiModels answers GET models and models/{id}.
func (s *Sim) serveGeminiModels(x *exchange, id string) {
	if x.r.Method != http.MethodGet {
		s.writeError(x, http.StatusMethodNotAllowed, s.methodNotAllowed(x.r))
		return
	}
	if s.frontDoor(x, "") || !s.authorized(x) {
		return
	}
	type model struct {
		Name                       string   `json:"name"`
		Version                    string   `json:"version"`
		DisplayName                string   `json:"displayName"`
		InputTokenLimit            int      `json:"inputTokenLimit"`
		OutputTokenLimit           int      `json:"outputTokenLimit"`
		SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	}
	entry := func(m string) model {
		return model{Name: "models/" + m, Version: "001", DisplayName: m, InputTokenLimit: geminiContextWindow, OutputTokenLimit: 65536,
			SupportedGenerationMethods: []string{"generateContent", "countTokens"}}
	}
	var v any
	if id != "" {
		if !s.hasModel(id) {
			s.writeError(x, http.StatusNotFound, googleError(http.StatusNotFound, "NOT_FOUND", "models/"+id+" is not found for API version v1beta"))
			return
		}
		v = entry(id)
	} else {
		list := struct {
			Models []model `json:"models"`
		}{}
		for _, m := range s.models {
			list.Models = append(list.Models, entry(m))
		}
		v = list
	}
	b, _ := json.Marshal(v)
	s.writeGeminiJSON(x, b)
}

func (s *Sim) writeGeminiJSON(x *exchange, b []byte) {
	s.setHeaders(x, "application/json; charset=UTF-8")
	x.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(b)
}

// geminiStreamError is Google's in-stream error event.
func geminiStreamError(status int) []byte {
	if status == 0 {
		status = 503
	}
	b := googleErrorJSON(geminiErrorFor(status, ""))
	return append(append([]byte("data: "), b...), "\r\n\r\n"...)
}

// geminiContextLengthError is Gemini's 400 for a prompt over the window.
func geminiContextLengthError(window, n int) apiError {
	return googleError(http.StatusBadRequest, "INVALID_ARGUMENT",
		fmt.Sprintf("The input token count (%d) exceeds the maximum number of tokens allowed (%d).", n, window))
}

// deliverGemini writes a generateContent, stream or embeddings answer
// with the delivery faults.
func (s *Sim) deliverGemini(x *exchange, c *conversation, p plan, f Fault) {
	id := s.geminiResponseID()
	switch {
	case x.api == provider.APIEmbeddings:
		s.deliverJSON(x, geminiEmbedBody(x.gemini, c), f)
	case c.stream:
		s.deliverStream(x, geminiFrames(c, p, id), f)
	default:
		s.deliverJSON(x, geminiBody(c, p, id), f)
	}
}
