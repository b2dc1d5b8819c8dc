package classify

import (
	"strings"

	"github.com/tidwall/gjson"
)

// errKind is what a 400's error body says about the request.
type errKind uint8

const (
	kindOther errKind = iota
	// kindContextLength: the prompt (plus max_tokens) does not fit the
	// model's context window.
	kindContextLength
	// kindContentPolicy: the provider refused the content.
	kindContentPolicy
	// kindBadKey: the provider says the API key is invalid, with a 400
	// rather than a 401 (Google's APIs: INVALID_ARGUMENT with reason
	// API_KEY_INVALID).
	kindBadKey
)

// badKeyReasons are google.rpc.ErrorInfo reasons (error.details[].reason)
// that mean the API key is wrong, whatever the status.
var badKeyReasons = []string{"API_KEY_INVALID"}

// contentPolicyCodes are error codes of content-policy refusals: OpenAI's
// content_policy_violation (and invalid_prompt, "flagged as potentially
// violating our usage policy"), Azure OpenAI's content_filter and its inner
// ResponsibleAIPolicyViolation. Compared case-insensitively.
var contentPolicyCodes = []string{
	"content_policy_violation",
	"content_filter",
	"invalid_prompt",
	"responsibleaipolicyviolation",
}

// contextLengthCodes are error codes (error.code or error.type) that mean
// the context window is too small: OpenAI and Azure OpenAI
// (context_length_exceeded), llama.cpp's server (exceed_context_size_error).
var contextLengthCodes = []string{
	"context_length_exceeded",
	"exceed_context_size_error",
}

// contextLengthMessages are lower-case fragments of the error messages
// providers send, without a code, when the context window is too small.
// docs/retry-and-context-length.md lists them with their sources; add a
// fragment there and here together.
var contextLengthMessages = []string{
	"prompt is too long",                           // Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
	"exceed context limit",                         // Anthropic: "input length and `max_tokens` exceed context limit: ..."
	"maximum context length",                       // OpenAI, vLLM, DeepSeek, Together, Groq: "This model's maximum context length is 8192 tokens"
	"context length exceeded",                      // LiteLLM-fronted and other OpenAI-compatible servers
	"exceeds the context window",                   // OpenAI Responses: "Your input exceeds the context window of this model"
	"exceeds the maximum number of tokens allowed", // Gemini: "The input token count (N) exceeds the maximum number of tokens allowed (M)"
	"input is too long for requested model",        // Amazon Bedrock
	"too large for model with",                     // Mistral: "... too large for model with 32768 maximum context length"
	"exceeds the available context size",           // llama.cpp server
	"longer than the maximum model length",         // vLLM (older): "... is longer than the maximum model length of 4096"
}

// errorKind reads an upstream 400 error body once and tells a context-length
// or content-policy refusal from any other client error. Only the provider's
// code and message fields are read, never the whole body, so an error that
// echoes the user's prompt cannot match on the prompt's words. Content
// policy wins over context length: a refusal is never routed elsewhere.
func errorKind(body []byte) errKind {
	if !gjson.ValidBytes(body) {
		return kindOther
	}
	// The shapes seen: OpenAI {"error":{"message","type","code","innererror":{"code"}}},
	// Anthropic {"type":"error","error":{"type","message"}}, and compatible
	// servers' {"error":"..."}, {"message":"..."} and {"detail":"..."}.
	res := gjson.GetManyBytes(body, "error.code", "error.type", "error.innererror.code", "error.message", "error", "message", "detail", "error.details.#.reason")
	codes, msgs, reasons := res[:3], res[3:7], res[7]
	// Google's {"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"reason":...}]}}.
	bad := false
	reasons.ForEach(func(_, r gjson.Result) bool {
		bad = r.Type == gjson.String && anyEqualFold(r.Str, badKeyReasons)
		return !bad
	})
	if bad {
		return kindBadKey
	}
	for _, c := range codes {
		if c.Type == gjson.String && anyEqualFold(c.Str, contentPolicyCodes) {
			return kindContentPolicy
		}
	}
	for _, c := range codes {
		if c.Type == gjson.String && anyEqualFold(c.Str, contextLengthCodes) {
			return kindContextLength
		}
	}
	for _, m := range msgs {
		if m.Type == gjson.String && m.Str != "" && anyContains(strings.ToLower(m.Str), contextLengthMessages) {
			return kindContextLength
		}
	}
	return kindOther
}

func anyEqualFold(s string, list []string) bool {
	for _, v := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func anyContains(s string, list []string) bool {
	for _, v := range list {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}
