package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OpenAI's legacy POST /v1/completions: each prompt is answered as chat
// answers a user message with that text.

// completionsRequest is the legacy Completions request body.
type completionsRequest struct {
	Model         *string         `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	N             *int            `json:"n"`
	Stream        *bool           `json:"stream"`
	StreamOptions json.RawMessage `json:"stream_options"`
	Stop          json.RawMessage `json:"stop"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`

	BestOf           json.RawMessage `json:"best_of"`
	Echo             json.RawMessage `json:"echo"`
	FrequencyPenalty json.RawMessage `json:"frequency_penalty"`
	LogitBias        json.RawMessage `json:"logit_bias"`
	Logprobs         json.RawMessage `json:"logprobs"`
	PresencePenalty  json.RawMessage `json:"presence_penalty"`
	Seed             json.RawMessage `json:"seed"`
	Suffix           json.RawMessage `json:"suffix"`
	User             json.RawMessage `json:"user"`
}

// defaultCompletionMaxTokens is the legacy API's max_tokens default: a
// completion without one stops after 16 tokens, as upstream.
const defaultCompletionMaxTokens = 16

// parseCompletions validates a legacy Completions body as OpenAI does (the
// common cases) and extracts its prompts.
func parseCompletions(body []byte) (*conversation, *apiError) {
	var req completionsRequest
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
	c := &conversation{n: 1, maxTokens: defaultCompletionMaxTokens}
	if req.Model != nil {
		c.model = *req.Model
	}
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	return c, fillCompletions(c, &req)
}

func fillCompletions(c *conversation, req *completionsRequest) *apiError {
	if c.model == "" {
		return badRequest("you must provide a model parameter", "", "")
	}
	if isNull(req.Prompt) {
		return missingParam("prompt")
	}
	if e := completionPrompts(c, req.Prompt); e != nil {
		return e
	}
	for _, p := range c.prompts {
		c.promptChars += len(p)
	}
	c.messages = len(c.prompts)
	if req.MaxTokens != nil {
		if *req.MaxTokens < 0 {
			return badRequest(fmt.Sprintf("Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got %d instead.", *req.MaxTokens), "max_tokens", "integer_below_min_value")
		}
		c.maxTokens = *req.MaxTokens
	}
	if req.N != nil {
		if *req.N < 1 || *req.N > 128 {
			return badRequest(fmt.Sprintf("Invalid 'n': integer out of range. Expected a value between 1 and 128, but got %d instead.", *req.N), "n", "integer_out_of_range")
		}
		c.n = *req.N
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
	if e := checkRange("temperature", req.Temperature, 0, 2); e != nil {
		return e
	}
	if e := checkRange("top_p", req.TopP, 0, 1); e != nil {
		return e
	}
	return openaiStop(c, req.Stop)
}

// completionPrompts reads prompt: a string, an array of strings, an array
// of tokens or an array of token arrays (a token prompt is answered as the
// text of its numbers).
func completionPrompts(c *conversation, raw json.RawMessage) *apiError {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		c.prompts = []string{one}
		return nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		if len(many) == 0 {
			return emptyArray("prompt")
		}
		c.prompts = many
		return nil
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil {
		if len(toks) == 0 {
			return emptyArray("prompt")
		}
		c.prompts = []string{tokenText(toks)}
		return nil
	}
	var batches [][]int
	if json.Unmarshal(raw, &batches) == nil && len(batches) > 0 {
		for _, b := range batches {
			c.prompts = append(c.prompts, tokenText(b))
		}
		return nil
	}
	return invalidType("prompt", "one of a string, array of strings, array of integers, or array of arrays of integers", raw)
}

func tokenText(toks []int) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		parts[i] = strconv.Itoa(t)
	}
	return strings.Join(parts, " ")
}

// completionsPlans are the answers to each prompt, in order (each prompt's
// n choices are the same answer).
func completionsPlans(c *conversation) []plan {
	out := make([]plan, len(c.prompts))
	for i, p := range c.prompts {
		one := conversation{model: c.model, lastUser: p, promptChars: len(p), maxTokens: c.maxTokens, stops: c.stops}
		if c.maxTokens == 0 {
			// max_tokens 0 asks for no text at all (echo uses it); the
			// plan reads 0 as no limit.
			out[i] = plan{finish: finishLength, inputTokens: tokens(p)}
			continue
		}
		out[i] = makePlan(KindOpenAI, &one)
		out[i].inputTokens = tokens(p)
	}
	return out
}

// completionsPlan sums the plans' tokens: the request's usage.
func completionsPlan(c *conversation) plan {
	var sum plan
	for _, p := range completionsPlans(c) {
		sum.inputTokens += p.inputTokens
		sum.outputTokens += p.outputTokens * c.n
	}
	return sum
}

type completionsBodyOut struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []completionChoice `json:"choices"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Usage             json.RawMessage    `json:"usage,omitempty"`
}

type completionChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type completionsUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (u plan) completionsUsage() json.RawMessage {
	b, _ := json.Marshal(completionsUsage{PromptTokens: u.inputTokens, CompletionTokens: u.outputTokens, TotalTokens: u.inputTokens + u.outputTokens})
	return b
}

// completionsBody renders a text_completion: n choices per prompt.
func completionsBody(c *conversation, total plan, id string, created int64) []byte {
	out := completionsBodyOut{ID: id, Object: "text_completion", Created: created, Model: c.model, SystemFingerprint: openaiFingerprint, Usage: total.completionsUsage()}
	for _, p := range completionsPlans(c) {
		for range c.n {
			reason := p.openaiFinish()
			out.Choices = append(out.Choices, completionChoice{Text: p.text, Index: len(out.Choices), FinishReason: &reason})
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// completionsFrames renders the stream: per choice one chunk per word and
// a chunk with its finish_reason, then (with stream_options.include_usage)
// a usage chunk, then [DONE].
func completionsFrames(c *conversation, total plan, id string, created int64) [][]byte {
	var usageNull json.RawMessage
	if c.includeUsage {
		usageNull = json.RawMessage("null")
	}
	chunk := func(ch []completionChoice, usage json.RawMessage) []byte {
		b, _ := json.Marshal(completionsBodyOut{ID: id, Object: "text_completion", Created: created, Model: c.model,
			SystemFingerprint: openaiFingerprint, Choices: ch, Usage: usage})
		return sseData(b)
	}
	var frames [][]byte
	index := 0
	for _, p := range completionsPlans(c) {
		for range c.n {
			for _, w := range words(p.text) {
				frames = append(frames, chunk([]completionChoice{{Text: w, Index: index}}, usageNull))
			}
			reason := p.openaiFinish()
			frames = append(frames, chunk([]completionChoice{{Text: "", Index: index, FinishReason: &reason}}, usageNull))
			index++
		}
	}
	if c.includeUsage {
		frames = append(frames, chunk([]completionChoice{}, total.completionsUsage()))
	}
	return append(frames, []byte("data: [DONE]\n\n"))
}

// legacyCompletionID is a text_completion id.
func (s *Sim) legacyCompletionID() string { return "cmpl-" + randomID(29) }
