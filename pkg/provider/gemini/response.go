package gemini

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// OpenAI chat.completion output types, in OpenAI's field order.

type oaCompletion struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   *oaUsage   `json:"usage,omitempty"`
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
	// Index is set in stream deltas only.
	Index    *int       `json:"index,omitempty"`
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Function oaFunction `json:"function"`
}

type oaFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaUsage struct {
	PromptTokens            int64                `json:"prompt_tokens"`
	CompletionTokens        int64                `json:"completion_tokens"`
	TotalTokens             int64                `json:"total_tokens"`
	PromptTokensDetails     *oaPromptDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *oaCompletionDetails `json:"completion_tokens_details,omitempty"`
}

type oaPromptDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

type oaCompletionDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// finishReason maps Gemini's finishReason onto OpenAI's; a candidate that
// called a function finishes with tool_calls, as OpenAI's do.
func finishReason(r string, calledTool bool) string {
	switch r {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT":
		return "content_filter"
	}
	if calledTool {
		return "tool_calls"
	}
	return "stop"
}

// usageOf converts usageMetadata: Gemini's candidate count leaves thinking
// out, OpenAI's completion tokens count it; the prompt count includes
// cached tokens in both.
func usageOf(u *gUsage) provider.Usage {
	if u == nil {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:     u.PromptTokenCount,
		OutputTokens:    u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CacheReadTokens: u.CachedContentTokenCount,
	}
}

func oaUsageOf(u *gUsage) *oaUsage {
	pu := usageOf(u)
	out := &oaUsage{PromptTokens: pu.InputTokens, CompletionTokens: pu.OutputTokens, TotalTokens: pu.InputTokens + pu.OutputTokens}
	if u != nil && u.CachedContentTokenCount > 0 {
		out.PromptTokensDetails = &oaPromptDetails{CachedTokens: u.CachedContentTokenCount}
	}
	if u != nil && u.ThoughtsTokenCount > 0 {
		out.CompletionTokensDetails = &oaCompletionDetails{ReasoningTokens: u.ThoughtsTokenCount}
	}
	return out
}

// newCallID makes a tool call id for a functionCall that came without one.
func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}

// answerParts reads a candidate's parts: the text (thought summaries left
// out) and the function calls.
func answerParts(c *gContent, idFor func() string) (text string, hasText bool, calls []oaOutToolCall) {
	if c == nil {
		return "", false, nil
	}
	for _, p := range c.Parts {
		switch {
		case p.Thought:
		case p.FunctionCall != nil:
			id := p.FunctionCall.ID
			if id == "" {
				id = idFor()
			}
			args := string(p.FunctionCall.Args)
			if args == "" || args == "null" {
				args = "{}"
			}
			calls = append(calls, oaOutToolCall{ID: id, Type: "function", Function: oaFunction{Name: p.FunctionCall.Name, Arguments: args}})
		case p.Text != nil:
			text += *p.Text
			hasText = true
		}
	}
	return text, hasText, calls
}

// errNoCandidates is a 2xx answer with neither candidates nor a block
// reason: nothing to relay.
var errNoCandidates = errors.New("gemini answer has no candidates")

// translateResponseIDs turns a GenerateContentResponse into a chat.completion.
// A prompt blocked by safety settings (promptFeedback.blockReason, no
// candidates) is an answer, not a failure: one empty choice finished with
// content_filter, as OpenAI reports a filtered prompt's completion, so that
// no other target is asked the same content. idFor names tool calls that
// came without an id.
func translateResponseIDs(body []byte, model string, created int64, idFor func() string) (*provider.Response, error) {
	var g gResponse
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, fmt.Errorf("decode gemini answer: %w", err)
	}
	if g.ModelVersion != "" {
		model = g.ModelVersion
	}
	out := oaCompletion{ID: completionID(g.ResponseID), Object: "chat.completion", Created: created, Model: model, Usage: oaUsageOf(g.UsageMetadata)}
	res := &provider.Response{Model: model, Usage: usageOf(g.UsageMetadata)}
	switch {
	case len(g.Candidates) > 0:
		for _, c := range g.Candidates {
			text, hasText, calls := answerParts(c.Content, idFor)
			msg := oaOutMsg{Role: "assistant", ToolCalls: calls}
			if hasText || len(calls) == 0 {
				msg.Content = &text
			}
			fr := finishReason(c.FinishReason, len(calls) > 0)
			out.Choices = append(out.Choices, oaChoice{Index: c.Index, Message: msg, FinishReason: fr})
			res.FinishReasons = append(res.FinishReasons, fr)
		}
	case g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "":
		out.Choices = []oaChoice{{Message: oaOutMsg{Role: "assistant"}, FinishReason: "content_filter"}}
		res.FinishReasons = []string{"content_filter"}
	default:
		return nil, errNoCandidates
	}
	b, err := marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode chat completion: %w", err)
	}
	res.Body = b
	return res, nil
}

// completionID prefixes Gemini's responseId as OpenAI's ids look.
func completionID(responseID string) string {
	if responseID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		responseID = hex.EncodeToString(b[:])
	}
	return "chatcmpl-" + responseID
}
