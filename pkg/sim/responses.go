package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The OpenAI Responses API (POST /v1/responses, GET and DELETE
// /v1/responses/{id}). The answer is chat's (makePlan): the same text, the
// same function calls; what differs is the wire format and that responses
// are stored (store defaults to true) so that a follow-up can name one as
// previous_response_id.

// responsesRequest is the Responses API create body. Fields the simulator
// does not use are kept as raw JSON only so that strict decoding accepts
// them.
type responsesRequest struct {
	Model              *string         `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       json.RawMessage `json:"instructions"`
	Stream             *bool           `json:"stream"`
	Store              *bool           `json:"store"`
	PreviousResponseID *string         `json:"previous_response_id"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	Tools              json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	Metadata           json.RawMessage `json:"metadata"`
	Text               json.RawMessage `json:"text"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`

	Background       json.RawMessage `json:"background"`
	Conversation     json.RawMessage `json:"conversation"`
	Include          json.RawMessage `json:"include"`
	MaxToolCalls     json.RawMessage `json:"max_tool_calls"`
	Prompt           json.RawMessage `json:"prompt"`
	PromptCacheKey   json.RawMessage `json:"prompt_cache_key"`
	Reasoning        json.RawMessage `json:"reasoning"`
	SafetyIdentifier json.RawMessage `json:"safety_identifier"`
	ServiceTier      json.RawMessage `json:"service_tier"`
	StreamOptions    json.RawMessage `json:"stream_options"`
	TopLogprobs      json.RawMessage `json:"top_logprobs"`
	Truncation       json.RawMessage `json:"truncation"`
	User             json.RawMessage `json:"user"`
}

// responsesItem is one input item; only the fields the checks read.
type responsesItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// responsesTool is one tool: functions are flat ({type, name, parameters}),
// unlike chat's.
type responsesTool struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

// responsesCall is what a Responses request carries beyond the
// conversation: what the response object echoes, and what storing it needs.
type responsesCall struct {
	store           bool
	previous        string
	instructions    json.RawMessage
	maxOutputTokens *int
	temperature     float64
	topP            float64
	tools           json.RawMessage
	toolChoice      json.RawMessage
	metadata        json.RawMessage
	text            json.RawMessage
	parallel        bool
}

// maxStoredResponses bounds the responses kept for GET and
// previous_response_id: the oldest go first.
const maxStoredResponses = 1000

// storedResponse is one stored response.
type storedResponse struct {
	// body is the response object as GET returns it.
	body []byte
	// promptChars and messages size the conversation up to and including
	// this response, for a follow-up's prompt tokens.
	promptChars int
	messages    int
	// calls are the call_ids of the function calls the response made, which
	// a follow-up must answer.
	calls []string
}

// responseStore keeps the last maxStoredResponses responses by id.
type responseStore struct {
	mu    sync.Mutex
	byID  map[string]storedResponse
	order []string
}

func (st *responseStore) put(id string, r storedResponse) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byID == nil {
		st.byID = map[string]storedResponse{}
	}
	if _, ok := st.byID[id]; !ok {
		st.order = append(st.order, id)
	}
	st.byID[id] = r
	for len(st.byID) > maxStoredResponses && len(st.order) > 0 {
		delete(st.byID, st.order[0])
		st.order = st.order[1:]
	}
}

func (st *responseStore) get(id string) (storedResponse, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r, ok := st.byID[id]
	return r, ok
}

func (st *responseStore) delete(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.byID[id]; !ok {
		return false
	}
	delete(st.byID, id)
	st.order = slices.DeleteFunc(st.order, func(s string) bool { return s == id })
	return true
}

// parseResponses validates a Responses create body as OpenAI does (the
// common cases) and extracts the conversation, continued from the stored
// previous response when the request names one.
func (s *Sim) parseResponses(body []byte) (*conversation, *apiError) {
	var req responsesRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return nil, badRequest(fmt.Sprintf("Unknown parameter: '%s'.", unknown), unknown, "unknown_parameter")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, badRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", te.Field, goTypeName(te.Type.Kind().String()), jsonValueName(te.Value)), te.Field, "invalid_type")
		}
		return nil, badRequest(openaiParseError, "", "")
	}
	c := &conversation{resp: &responsesCall{store: true, temperature: 1, topP: 1, parallel: true}}
	if req.Model != nil {
		c.model = *req.Model
	}
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	return c, s.fillResponses(c, &req)
}

func (s *Sim) fillResponses(c *conversation, req *responsesRequest) *apiError {
	rc := c.resp
	switch {
	case req.Model == nil || c.model == "":
		return missingParam("model")
	case isNull(req.Input):
		return missingParam("input")
	}
	if req.Store != nil {
		rc.store = *req.Store
	}
	if req.ParallelToolCalls != nil {
		rc.parallel = *req.ParallelToolCalls
	}
	if req.MaxOutputTokens != nil {
		if *req.MaxOutputTokens < 16 {
			return badRequest(fmt.Sprintf("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got %d instead.", *req.MaxOutputTokens), "max_output_tokens", "integer_below_min_value")
		}
		rc.maxOutputTokens = req.MaxOutputTokens
		c.maxTokens = *req.MaxOutputTokens
	}
	if e := checkRange("temperature", req.Temperature, 0, 2); e != nil {
		return e
	}
	if e := checkRange("top_p", req.TopP, 0, 1); e != nil {
		return e
	}
	if req.Temperature != nil {
		rc.temperature = *req.Temperature
	}
	if req.TopP != nil {
		rc.topP = *req.TopP
	}
	rc.metadata, rc.text, rc.toolChoice = req.Metadata, req.Text, req.ToolChoice
	if !isNull(req.Instructions) {
		var ins string
		if err := json.Unmarshal(req.Instructions, &ins); err != nil {
			return invalidType("instructions", "a string", req.Instructions)
		}
		rc.instructions = req.Instructions
		c.promptChars += len(ins)
		c.messages++
	}
	// pending are the function calls still waiting for their output: the
	// previous response's, then those of the input.
	var pending []string
	if req.PreviousResponseID != nil && *req.PreviousResponseID != "" {
		prev, ok := s.responses.get(*req.PreviousResponseID)
		if !ok {
			return badRequest(fmt.Sprintf("Previous response with id '%s' not found.", *req.PreviousResponseID), "previous_response_id", "previous_response_not_found")
		}
		rc.previous = *req.PreviousResponseID
		c.promptChars += prev.promptChars
		c.messages += prev.messages
		pending = slices.Clone(prev.calls)
	}
	var err *apiError
	if pending, err = responsesInput(c, req.Input, pending); err != nil {
		return err
	}
	if len(pending) > 0 {
		return badRequest(fmt.Sprintf("No tool output found for function call %s.", pending[0]), "input", "")
	}
	return responsesTools(c, req.Tools, req.ToolChoice)
}

// responsesInput reads the input (a string, or a list of items) into c.
func responsesInput(c *conversation, raw json.RawMessage, pending []string) ([]string, *apiError) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		c.lastUser, c.afterTool = text, false
		c.promptChars += len(text)
		c.messages++
		return pending, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalidType("input", "one of a string or array of input items", raw)
	}
	for i, ir := range items {
		param := fmt.Sprintf("input[%d]", i)
		var it responsesItem
		if err := json.Unmarshal(ir, &it); err != nil || !bytes.HasPrefix(bytes.TrimSpace(ir), []byte("{")) {
			return nil, invalidType(param, "an object", ir)
		}
		c.messages++
		switch it.Type {
		case "", "message":
			text, e := responsesContent(param, it)
			if e != nil {
				return nil, e
			}
			c.promptChars += len(text)
			switch it.Role {
			case "user":
				c.lastUser, c.afterTool, c.toolResult = text, false, ""
			case "assistant":
				c.afterTool = false
			}
		case "function_call":
			switch {
			case it.CallID == "":
				return nil, missingParam(param + ".call_id")
			case it.Name == "":
				return nil, missingParam(param + ".name")
			}
			pending = append(pending, it.CallID)
			c.promptChars += len(it.Name) + len(it.Arguments)
		case "function_call_output":
			if it.CallID == "" {
				return nil, missingParam(param + ".call_id")
			}
			if isNull(it.Output) {
				return nil, missingParam(param + ".output")
			}
			at := slices.Index(pending, it.CallID)
			if at < 0 {
				return nil, badRequest(fmt.Sprintf("No tool call found for function call output with call_id %s.", it.CallID), "input", "")
			}
			pending = slices.Delete(pending, at, at+1)
			out := string(it.Output)
			var s string
			if json.Unmarshal(it.Output, &s) == nil {
				out = s
			}
			if !c.afterTool {
				c.afterTool, c.toolResult = true, ""
			}
			c.toolResult = strings.TrimSpace(c.toolResult + " " + out)
			c.promptChars += len(out)
		case "item_reference", "reasoning", "web_search_call", "file_search_call", "computer_call", "computer_call_output",
			"image_generation_call", "code_interpreter_call", "local_shell_call", "local_shell_call_output",
			"mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call", "custom_tool_call", "custom_tool_call_output":
			// Valid items the simulated model has nothing to say about.
		default:
			return nil, badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'message', 'function_call', 'function_call_output', 'item_reference' and 'reasoning'.", it.Type), param+".type", "invalid_value")
		}
	}
	return pending, nil
}

// responsesContent checks a message item's role and content and returns
// its text.
func responsesContent(param string, it responsesItem) (string, *apiError) {
	var allowed []string
	switch it.Role {
	case "user", "system", "developer":
		allowed = []string{"input_text", "input_image", "input_file", "input_audio"}
	case "assistant":
		allowed = []string{"output_text", "refusal"}
	case "":
		return "", missingParam(param + ".role")
	default:
		return "", badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'assistant', 'system', 'developer', and 'user'.", it.Role), param+".role", "invalid_value")
	}
	if isNull(it.Content) {
		return "", missingParam(param + ".content")
	}
	var s string
	if err := json.Unmarshal(it.Content, &s); err == nil {
		return s, nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(it.Content, &parts); err != nil {
		return "", invalidType(param+".content", "one of a string or array of input content", it.Content)
	}
	var texts []string
	for j, raw := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		var p struct {
			Type     string  `json:"type"`
			Text     *string `json:"text"`
			ImageURL *string `json:"image_url"`
			FileID   *string `json:"file_id"`
			Refusal  *string `json:"refusal"`
		}
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
		case "input_text", "output_text":
			if p.Text == nil {
				return "", missingParam(pp + ".text")
			}
			texts = append(texts, *p.Text)
		case "input_image":
			if p.ImageURL == nil && p.FileID == nil {
				return "", missingParam(pp + ".image_url")
			}
		case "refusal":
			if p.Refusal == nil {
				return "", missingParam(pp + ".refusal")
			}
		}
	}
	return strings.Join(texts, " "), nil
}

// responsesTools checks tools and tool_choice; function tools are offered
// to the simulated model as chat's are.
func responsesTools(c *conversation, rawTools, rawChoice json.RawMessage) *apiError {
	c.resp.tools = json.RawMessage("[]")
	if !isNull(rawTools) {
		var tools []json.RawMessage
		if err := json.Unmarshal(rawTools, &tools); err != nil {
			return invalidType("tools", "an array of objects", rawTools)
		}
		c.resp.tools = rawTools
		for i, raw := range tools {
			tp := fmt.Sprintf("tools[%d]", i)
			var t responsesTool
			if err := json.Unmarshal(raw, &t); err != nil {
				return invalidType(tp, "an object", raw)
			}
			switch t.Type {
			case "function":
			case "":
				return missingParam(tp + ".type")
			default:
				// Hosted tools (web_search, file_search, …): valid, but the
				// simulated model calls functions only.
				continue
			}
			if t.Name == "" {
				return missingParam(tp + ".name")
			}
			if !toolNameRE.MatchString(t.Name) {
				return badRequest(fmt.Sprintf("Invalid '%s.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", tp), tp+".name", "invalid_value")
			}
			c.tools = append(c.tools, toolDef{name: t.Name, schema: t.Parameters})
			c.promptChars += len(raw)
		}
	}
	if isNull(rawChoice) {
		return nil
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
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(rawChoice, &named); err != nil {
		return invalidType("tool_choice", "one of a string or an object", rawChoice)
	}
	if named.Type != "function" {
		return nil
	}
	for _, t := range c.tools {
		if t.name == named.Name {
			c.choice, c.choiceName = choiceNamed, t.name
			return nil
		}
	}
	return badRequest("Tool choice 'function' not found in 'tools' parameter.", "tool_choice", "")
}

// Responses API answer shapes (openai-python types/responses).

type responsesObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Background         bool               `json:"background"`
	Error              json.RawMessage    `json:"error"`
	IncompleteDetails  *responsesReason   `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []any              `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          json.RawMessage    `json:"reasoning"`
	ServiceTier        string             `json:"service_tier"`
	Store              bool               `json:"store"`
	Temperature        float64            `json:"temperature"`
	Text               json.RawMessage    `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              json.RawMessage    `json:"tools"`
	TopP               float64            `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *responsesUsageOut `json:"usage"`
	User               json.RawMessage    `json:"user"`
	Metadata           json.RawMessage    `json:"metadata"`
}

type responsesReason struct {
	Reason string `json:"reason"`
}

type responsesUsageOut struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

type responsesMessageItem struct {
	ID      string                `json:"id"`
	Type    string                `json:"type"`
	Status  string                `json:"status"`
	Content []responsesOutputText `json:"content"`
	Role    string                `json:"role"`
}

type responsesOutputText struct {
	Type        string     `json:"type"`
	Annotations []struct{} `json:"annotations"`
	Logprobs    []struct{} `json:"logprobs"`
	Text        string     `json:"text"`
}

type responsesFunctionCallItem struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
}

// responsesEvent is one streaming event; each type sets its own fields.
type responsesEvent struct {
	Type           string               `json:"type"`
	SequenceNumber int                  `json:"sequence_number"`
	Response       *responsesObject     `json:"response,omitempty"`
	OutputIndex    *int                 `json:"output_index,omitempty"`
	ItemID         string               `json:"item_id,omitempty"`
	ContentIndex   *int                 `json:"content_index,omitempty"`
	Item           any                  `json:"item,omitempty"`
	Part           *responsesOutputText `json:"part,omitempty"`
	Delta          *string              `json:"delta,omitempty"`
	Text           *string              `json:"text,omitempty"`
	Arguments      *string              `json:"arguments,omitempty"`
	Logprobs       *[]struct{}          `json:"logprobs,omitempty"`
}

// responsesAnswer is one answer being rendered: the response object in
// its final state and the ids its stream repeats.
type responsesAnswer struct {
	obj    responsesObject
	itemID string
	text   string
	tool   *toolCall
}

// newResponsesAnswer builds the final response object for plan p.
func (s *Sim) newResponsesAnswer(c *conversation, p plan) *responsesAnswer {
	rc := c.resp
	or := func(v, def json.RawMessage) json.RawMessage {
		if isNull(v) {
			return def
		}
		return v
	}
	a := &responsesAnswer{text: p.text, tool: p.tool}
	a.obj = responsesObject{
		ID: "resp_" + randomID(48), Object: "response", CreatedAt: time.Now().Unix(), Status: "completed",
		Error: json.RawMessage("null"), Instructions: or(rc.instructions, json.RawMessage("null")),
		MaxOutputTokens: rc.maxOutputTokens, Model: c.model, ParallelToolCalls: rc.parallel,
		Reasoning: json.RawMessage(`{"effort":null,"summary":null}`), ServiceTier: "default", Store: rc.store,
		Temperature: rc.temperature, Text: or(rc.text, json.RawMessage(`{"format":{"type":"text"}}`)),
		ToolChoice: or(rc.toolChoice, json.RawMessage(`"auto"`)), Tools: rc.tools, TopP: rc.topP,
		Truncation: "disabled", User: json.RawMessage("null"), Metadata: or(rc.metadata, json.RawMessage("{}")),
	}
	if rc.previous != "" {
		prev := rc.previous
		a.obj.PreviousResponseID = &prev
	}
	u := &responsesUsageOut{InputTokens: p.inputTokens, OutputTokens: p.outputTokens, TotalTokens: p.inputTokens + p.outputTokens}
	a.obj.Usage = u
	if p.tool != nil {
		a.itemID = "fc_" + randomID(48)
		a.obj.Output = []any{responsesFunctionCallItem{ID: a.itemID, Type: "function_call", Status: "completed", Arguments: p.tool.args, CallID: p.tool.id, Name: p.tool.name}}
	} else {
		a.itemID = "msg_" + randomID(48)
		status := "completed"
		if p.finish == finishLength {
			status = "incomplete"
			a.obj.Status = "incomplete"
			a.obj.IncompleteDetails = &responsesReason{Reason: "max_output_tokens"}
		}
		a.obj.Output = []any{responsesMessageItem{ID: a.itemID, Type: "message", Status: status, Role: "assistant",
			Content: []responsesOutputText{outputText(p.text)}}}
	}
	body, _ := json.Marshal(a.obj)
	if rc.store {
		st := storedResponse{body: body, promptChars: c.promptChars + len(p.text), messages: c.messages + 1}
		if p.tool != nil {
			st.promptChars += len(p.tool.name) + len(p.tool.args)
			st.calls = []string{p.tool.id}
		}
		s.responses.put(a.obj.ID, st)
	}
	return a
}

func outputText(text string) responsesOutputText {
	return responsesOutputText{Type: "output_text", Annotations: []struct{}{}, Logprobs: []struct{}{}, Text: text}
}

// responsesBody renders a non-streaming answer (and stores it).
func (s *Sim) responsesBody(c *conversation, p plan) []byte {
	b, _ := json.Marshal(s.newResponsesAnswer(c, p).obj)
	return b
}

// responsesFrames renders the event stream in OpenAI's order:
// response.created, response.in_progress, output_item.added, then for a
// message content_part.added, one output_text.delta per word,
// output_text.done, content_part.done, or for a function call its
// arguments in function_call_arguments.delta pieces and
// function_call_arguments.done; then output_item.done and
// response.completed (response.incomplete when max_output_tokens cut the
// text). Every event carries its sequence_number.
func (s *Sim) responsesFrames(c *conversation, p plan) [][]byte {
	a := s.newResponsesAnswer(c, p)
	var frames [][]byte
	emit := func(e responsesEvent) {
		e.SequenceNumber = len(frames)
		b, _ := json.Marshal(e)
		frames = append(frames, sseEvent(e.Type, b))
	}
	start := a.obj
	start.Status, start.Output, start.Usage, start.IncompleteDetails = "in_progress", []any{}, nil, nil
	zero := 0
	emit(responsesEvent{Type: "response.created", Response: &start})
	emit(responsesEvent{Type: "response.in_progress", Response: &start})
	final := a.obj.Output[0]
	if a.tool != nil {
		item := final.(responsesFunctionCallItem)
		added := item
		added.Status, added.Arguments = "in_progress", ""
		emit(responsesEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: added})
		for _, piece := range splitN(a.tool.args, 3) {
			emit(responsesEvent{Type: "response.function_call_arguments.delta", ItemID: a.itemID, OutputIndex: &zero, Delta: &piece})
		}
		args := a.tool.args
		emit(responsesEvent{Type: "response.function_call_arguments.done", ItemID: a.itemID, OutputIndex: &zero, Arguments: &args})
	} else {
		item := final.(responsesMessageItem)
		added := item
		added.Status, added.Content = "in_progress", []responsesOutputText{}
		emit(responsesEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: added})
		empty := outputText("")
		emit(responsesEvent{Type: "response.content_part.added", ItemID: a.itemID, OutputIndex: &zero, ContentIndex: &zero, Part: &empty})
		noLogprobs := []struct{}{}
		for _, w := range words(a.text) {
			emit(responsesEvent{Type: "response.output_text.delta", ItemID: a.itemID, OutputIndex: &zero, ContentIndex: &zero, Delta: &w, Logprobs: &noLogprobs})
		}
		text := a.text
		emit(responsesEvent{Type: "response.output_text.done", ItemID: a.itemID, OutputIndex: &zero, ContentIndex: &zero, Text: &text, Logprobs: &noLogprobs})
		part := outputText(a.text)
		emit(responsesEvent{Type: "response.content_part.done", ItemID: a.itemID, OutputIndex: &zero, ContentIndex: &zero, Part: &part})
	}
	emit(responsesEvent{Type: "response.output_item.done", OutputIndex: &zero, Item: final})
	end := "response.completed"
	if a.obj.Status == "incomplete" {
		end = "response.incomplete"
	}
	emit(responsesEvent{Type: end, Response: &a.obj})
	return frames
}

// responsesErrorEvent is the Responses API's in-stream error event.
func responsesErrorEvent(e apiError, seq int) []byte {
	code := e.code
	if code == "" {
		code = e.typ
	}
	b, _ := json.Marshal(struct {
		Type           string  `json:"type"`
		SequenceNumber int     `json:"sequence_number"`
		Code           string  `json:"code"`
		Message        string  `json:"message"`
		Param          *string `json:"param"`
	}{Type: "error", SequenceNumber: seq, Code: code, Message: e.message})
	return sseEvent("error", b)
}

// serveStoredResponse answers GET and DELETE /v1/responses/{id}.
func (s *Sim) serveStoredResponse(x *exchange, id string) {
	if x.r.Method != http.MethodGet && x.r.Method != http.MethodDelete {
		s.writeError(x, http.StatusMethodNotAllowed, s.methodNotAllowed(x.r))
		return
	}
	if s.frontDoor(x, "") || !s.authorized(x) {
		return
	}
	if x.r.Method == http.MethodDelete {
		if !s.responses.delete(id) {
			s.writeError(x, http.StatusNotFound, *responseNotFound(id))
			return
		}
		b, _ := json.Marshal(struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Deleted bool   `json:"deleted"`
		}{id, "response", true})
		s.deliverJSON(x, b, Fault{})
		return
	}
	st, ok := s.responses.get(id)
	if !ok {
		s.writeError(x, http.StatusNotFound, *responseNotFound(id))
		return
	}
	s.deliverJSON(x, st.body, Fault{})
}

func responseNotFound(id string) *apiError {
	return badRequest(fmt.Sprintf("Response with id '%s' not found.", id), "", "")
}
