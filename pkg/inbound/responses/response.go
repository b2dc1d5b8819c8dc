package responses

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// This file translates a chat completion into a Responses API response
// object, and builds the response objects the stream's lifecycle events
// carry. The request's own settings (tools, tool_choice, text, sampling)
// are echoed as OpenAI does, read back from the client's body.
//
//	choices[0].message.content    → message item, output_text part
//	choices[0].message.refusal    → message item, refusal part
//	choices[0].message.tool_calls → one function_call item each
//	finish_reason length          → status incomplete, max_output_tokens
//	finish_reason content_filter  → status incomplete, content_filter
//	usage                         → input/output/total tokens

// response is a Responses API response object.
type response struct {
	ID                 string          `json:"id"`
	Object             string          `json:"object"`
	CreatedAt          int64           `json:"created_at"`
	Status             string          `json:"status"`
	Background         bool            `json:"background"`
	Error              *responseError  `json:"error"`
	IncompleteDetails  *incomplete     `json:"incomplete_details"`
	Instructions       json.RawMessage `json:"instructions"`
	MaxOutputTokens    json.RawMessage `json:"max_output_tokens"`
	Metadata           json.RawMessage `json:"metadata"`
	Model              string          `json:"model"`
	Output             []any           `json:"output"`
	ParallelToolCalls  bool            `json:"parallel_tool_calls"`
	PreviousResponseID *string         `json:"previous_response_id"`
	Store              bool            `json:"store"`
	Temperature        json.RawMessage `json:"temperature"`
	Text               json.RawMessage `json:"text"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	Tools              json.RawMessage `json:"tools"`
	TopP               json.RawMessage `json:"top_p"`
	Truncation         string          `json:"truncation"`
	Usage              *usage          `json:"usage"`
	User               *string         `json:"user,omitempty"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incomplete struct {
	Reason string `json:"reason"`
}

type usage struct {
	InputTokens         int64         `json:"input_tokens"`
	InputTokensDetails  cachedDetails `json:"input_tokens_details"`
	OutputTokens        int64         `json:"output_tokens"`
	OutputTokensDetails reasonDetails `json:"output_tokens_details"`
	TotalTokens         int64         `json:"total_tokens"`
}

type cachedDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

type reasonDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// messageItem is an output message item.
type messageItem struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Status  string `json:"status"`
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type textPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type refusalPart struct {
	Type    string `json:"type"`
	Refusal string `json:"refusal"`
}

// functionCallItem is an output function_call item.
type functionCallItem struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Status    string `json:"status"`
}

func newTextPart(text string) textPart {
	return textPart{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

// orDefault is raw, or def when raw is absent or null.
func orDefault(raw gjson.Result, def string) json.RawMessage {
	if !raw.Exists() || raw.Type == gjson.Null {
		return json.RawMessage(def)
	}
	return json.RawMessage(raw.Raw)
}

// skeleton is the response object for a request body: the echoed settings,
// no output, no usage, the given status.
func skeleton(reqBody []byte, id string, created int64, model, status string) *response {
	f := gjson.GetManyBytes(reqBody, "instructions", "max_output_tokens", "metadata", "parallel_tool_calls",
		"temperature", "text", "tool_choice", "tools", "top_p", "user")
	r := &response{
		ID:                id,
		Object:            "response",
		CreatedAt:         created,
		Status:            status,
		Instructions:      orDefault(f[0], "null"),
		MaxOutputTokens:   orDefault(f[1], "null"),
		Metadata:          orDefault(f[2], "{}"),
		Model:             model,
		Output:            []any{},
		ParallelToolCalls: f[3].Type != gjson.False,
		Temperature:       orDefault(f[4], "1"),
		Text:              orDefault(f[5], `{"format":{"type":"text"}}`),
		ToolChoice:        orDefault(f[6], `"auto"`),
		Tools:             orDefault(f[7], "[]"),
		TopP:              orDefault(f[8], "1"),
		Truncation:        "disabled",
	}
	// Echoed values must be of the types clients decode them into: a body
	// the router passed on is valid JSON but may hold anything.
	if f[0].Type != gjson.String {
		r.Instructions = json.RawMessage("null")
	}
	if f[1].Type != gjson.Number {
		r.MaxOutputTokens = json.RawMessage("null")
	}
	if !f[2].IsObject() {
		r.Metadata = json.RawMessage("{}")
	}
	if f[4].Type != gjson.Number {
		r.Temperature = json.RawMessage("1")
	}
	if !f[5].IsObject() {
		r.Text = json.RawMessage(`{"format":{"type":"text"}}`)
	}
	if f[6].Type != gjson.String && !f[6].IsObject() {
		r.ToolChoice = json.RawMessage(`"auto"`)
	}
	if !f[7].IsArray() {
		r.Tools = json.RawMessage("[]")
	}
	if f[8].Type != gjson.Number {
		r.TopP = json.RawMessage("1")
	}
	if f[9].Type == gjson.String {
		u := f[9].Str
		r.User = &u
	}
	return r
}

// finish sets status and incomplete_details from a chat finish_reason.
func (r *response) finish(reason string) {
	r.Status = "completed"
	switch reason {
	case "length":
		r.Status, r.IncompleteDetails = "incomplete", &incomplete{Reason: "max_output_tokens"}
	case "content_filter":
		r.Status, r.IncompleteDetails = "incomplete", &incomplete{Reason: "content_filter"}
	}
}

// markIncomplete marks the message items of an incomplete response
// incomplete, as OpenAI does for an answer cut short.
func (r *response) markIncomplete() {
	if r.Status != "incomplete" {
		return
	}
	for i, o := range r.Output {
		if m, ok := o.(messageItem); ok {
			m.Status = "incomplete"
			r.Output[i] = m
		}
	}
}

// chatUsage reads a chat usage object.
func chatUsage(u gjson.Result) *usage {
	in := u.Get("prompt_tokens").Int()
	out := u.Get("completion_tokens").Int()
	total := u.Get("total_tokens").Int()
	if total == 0 {
		total = in + out
	}
	return &usage{
		InputTokens:         in,
		InputTokensDetails:  cachedDetails{CachedTokens: u.Get("prompt_tokens_details.cached_tokens").Int()},
		OutputTokens:        out,
		OutputTokensDetails: reasonDetails{ReasoningTokens: u.Get("completion_tokens_details.reasoning_tokens").Int()},
		TotalTokens:         total,
	}
}

// ChatResponse has the wrapped adapter translate the upstream's answer to
// a chat completion, then turns that into a response object.
func (b *bridge) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	inner := b.innerRequest(r)
	pr, err := b.inner.ChatResponse(body, inner)
	if err != nil {
		return nil, err
	}
	out, err := b.fromChat(pr, r)
	if err != nil {
		return nil, err
	}
	return &provider.Response{Body: out, Model: pr.Model, Usage: pr.Usage, FinishReasons: pr.FinishReasons}, nil
}

// fromChat builds the response object from a chat completion.
func (b *bridge) fromChat(pr *provider.Response, r *provider.Request) ([]byte, error) {
	if !gjson.ValidBytes(pr.Body) {
		return nil, fmt.Errorf("chat answer is not valid JSON")
	}
	c := gjson.ParseBytes(pr.Body)
	model := pr.Model
	if model == "" {
		model = c.Get("model").String()
	}
	if model == "" {
		model = r.Model
	}
	resp := skeleton(r.Body, b.newID("resp_"), b.now().Unix(), model, "completed")
	choice := c.Get("choices.0")
	msg := choice.Get("message")
	var content []any
	if t := msg.Get("content"); t.Type == gjson.String && t.Str != "" {
		content = append(content, newTextPart(t.Str))
	}
	if t := msg.Get("refusal"); t.Type == gjson.String && t.Str != "" {
		content = append(content, refusalPart{Type: "refusal", Refusal: t.Str})
	}
	if content != nil {
		resp.Output = append(resp.Output, messageItem{Type: "message", ID: b.newID("msg_"), Status: "completed", Role: "assistant", Content: content})
	}
	msg.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		resp.Output = append(resp.Output, functionCallItem{
			Type: "function_call", ID: b.newID("fc_"), CallID: tc.Get("id").String(),
			Name: tc.Get("function.name").String(), Arguments: tc.Get("function.arguments").String(), Status: "completed",
		})
		return true
	})
	resp.finish(choice.Get("finish_reason").String())
	resp.markIncomplete()
	resp.Usage = chatUsage(c.Get("usage"))
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return out, nil
}
