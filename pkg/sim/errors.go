package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// apiError is one provider error before it is rendered in the kind's shape.
// param and code are OpenAI-only; Anthropic puts the field in the message.
type apiError struct {
	typ     string
	message string
	param   string
	code    string
	// body, when set, is the whole OpenAI body, for error shapes that
	// provider.ErrorJSON does not write (Azure's content_filter).
	body []byte
}

// anthropicErrorBody is Anthropic's error shape.
type anthropicErrorBody struct {
	Type      string              `json:"type"`
	Error     anthropicErrorInner `json:"error"`
	RequestID string              `json:"request_id,omitempty"`
}

type anthropicErrorInner struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// errorJSON renders e in the kind's error shape.
func (s *Sim) errorJSON(e apiError, reqID string) []byte {
	if s.kind == KindBedrock {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(struct {
			Message string `json:"message"`
		}{e.message})
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	if s.kind == KindGemini {
		return googleErrorJSON(e)
	}
	if s.kind == KindAnthropic {
		// Without HTML escaping, as the API sends it: "prompt is too long:
		// N tokens > M maximum" carries a literal '>'.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(anthropicErrorBody{
			Type: "error", Error: anthropicErrorInner{Type: e.typ, Message: e.message}, RequestID: reqID,
		}); err != nil {
			return []byte(`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`)
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	if e.body != nil {
		return e.body
	}
	return provider.ErrorJSON(e.message, e.typ, e.param, e.code)
}

// Context windows the context_length fault reports when it has none set:
// the current models' real ones.
const (
	openaiContextWindow    = 128000
	anthropicContextWindow = 200000
)

// contextLengthError is the provider's 400 for a prompt over the context
// window, with the request's estimated prompt tokens (raised above the
// window when the fault refuses every request, so the message stays true to
// form).
func (s *Sim) contextLengthError(f Fault, c *conversation) apiError {
	window := f.ContextWindow
	if window == 0 {
		window = openaiContextWindow
		if s.kind == KindAnthropic {
			window = anthropicContextWindow
		}
	}
	if f.ContextWindow == 0 && s.kind == KindGemini {
		window = geminiContextWindow
	}
	n := promptTokens(c)
	if n <= window {
		n += window
	}
	switch s.kind {
	case KindGemini:
		return geminiContextLengthError(window, n)
	case KindAnthropic:
		return apiError{typ: "invalid_request_error", message: fmt.Sprintf("prompt is too long: %d tokens > %d maximum", n, window)}
	case KindBedrock:
		return apiError{typ: "ValidationException", message: "Input is too long for requested model."}
	}
	return apiError{
		typ: "invalid_request_error",
		message: fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. "+
			"Please reduce the length of the messages.", window, n),
		param: "messages",
		code:  "context_length_exceeded",
	}
}

// contentPolicyMessage is OpenAI's content_policy_violation message.
const contentPolicyMessage = "Your request was rejected as a result of our safety system. Your prompt may contain text " +
	"that is not allowed by our safety system."

// contentFilterMessage is Azure OpenAI's content_filter message.
const contentFilterMessage = "The response was filtered due to the prompt triggering Azure OpenAI's content management " +
	"policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our " +
	"documentation: https://go.microsoft.com/fwlink/?linkid=2198766"

// contentPolicyError is the provider's 400 for content its safety system
// refused.
func (s *Sim) contentPolicyError(f Fault) apiError {
	if s.kind == KindBedrock {
		return apiError{typ: "ValidationException", message: "The request was blocked by a guardrail or content filter."}
	}
	if s.kind == KindAnthropic {
		return apiError{typ: "invalid_request_error", message: "Output blocked by content filtering policy"}
	}
	if f.Code == CodeContentFilter || s.kind == KindAzureOpenAI {
		return apiError{typ: "invalid_request_error", message: contentFilterMessage, body: azureContentFilterBody()}
	}
	return apiError{typ: "invalid_request_error", message: contentPolicyMessage, code: CodeContentPolicyViolation}
}

// azureContentFilterBody is Azure OpenAI's 400 for a filtered prompt: type
// null, param "prompt", and the filter results under innererror.
func azureContentFilterBody() []byte {
	type result struct {
		Filtered bool   `json:"filtered"`
		Severity string `json:"severity"`
	}
	type inner struct {
		Code                string            `json:"code"`
		ContentFilterResult map[string]result `json:"content_filter_result"`
	}
	type detail struct {
		Message    string  `json:"message"`
		Type       *string `json:"type"`
		Param      string  `json:"param"`
		Code       string  `json:"code"`
		Status     int     `json:"status"`
		InnerError inner   `json:"innererror"`
	}
	b, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{
		Message: contentFilterMessage, Param: "prompt", Code: CodeContentFilter, Status: 400,
		InnerError: inner{Code: "ResponsibleAIPolicyViolation", ContentFilterResult: map[string]result{
			"hate":      {Filtered: true, Severity: "high"},
			"self_harm": {Filtered: false, Severity: "safe"},
			"sexual":    {Filtered: false, Severity: "safe"},
			"violence":  {Filtered: false, Severity: "safe"},
		}},
	}})
	return b
}

// prefillMessage is Anthropic's refusal of a prefilled assistant message by
// models that do not support it.
const prefillMessage = "This model does not support assistant message prefill. The conversation must end with a user message."

// prefillError is the refuse_prefill fault's 400: Anthropic's own, and the
// same words in OpenAI's error shape for OpenAI-compatible servers.
func (s *Sim) prefillError() apiError {
	if s.kind == KindBedrock {
		return apiError{typ: "ValidationException", message: prefillMessage}
	}
	if s.kind == KindGemini {
		return googleError(http.StatusBadRequest, "INVALID_ARGUMENT", prefillMessage)
	}
	if s.kind == KindAnthropic {
		return apiError{typ: "invalid_request_error", message: prefillMessage}
	}
	return apiError{typ: "invalid_request_error", message: prefillMessage, param: "messages"}
}

// writeError answers status with e in the kind's shape.
func (s *Sim) writeError(x *exchange, status int, e apiError) {
	body := s.errorJSON(e, x.reqID)
	s.setHeaders(x, "application/json")
	if s.kind == KindBedrock {
		x.w.Header().Set("x-amzn-ErrorType", e.typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	}
	x.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
}

// setRetryAfter sets the Retry-After header when secs > 0.
func setRetryAfter(h http.Header, secs int) {
	if secs <= 0 {
		return
	}
	h.Set("Retry-After", strconv.Itoa(secs))
}

// setRateLimitHeaders sets Retry-After and the provider's own rate limit
// headers, which SDKs and gateways read to decide when to retry.
func (s *Sim) setRateLimitHeaders(h http.Header, secs int) {
	setRetryAfter(h, secs)
	if s.kind == KindGemini {
		return
	}
	if s.kind == KindAnthropic {
		h.Set("anthropic-ratelimit-requests-limit", "50")
		h.Set("anthropic-ratelimit-requests-remaining", "0")
		h.Set("anthropic-ratelimit-requests-reset", time.Now().UTC().Add(time.Duration(secs)*time.Second).Format(time.RFC3339))
		return
	}
	if s.kind == KindAzureOpenAI {
		if secs > 0 {
			h.Set("retry-after-ms", strconv.Itoa(secs*1000))
		}
		h.Set("x-ratelimit-remaining-requests", "0")
		h.Set("x-ratelimit-remaining-tokens", "0")
		return
	}
	h.Set("x-ratelimit-limit-requests", "3")
	h.Set("x-ratelimit-remaining-requests", "0")
	h.Set("x-ratelimit-reset-requests", strconv.Itoa(secs)+"s")
}

// authError is the provider's 401 for a missing (wrong=false) or wrong key.
// Real OpenAI echoes a masked key; the simulator never echoes any part of it.
func (s *Sim) authError(wrong bool) apiError {
	if s.kind == KindBedrock {
		if wrong {
			return apiError{typ: "UnrecognizedClientException", message: "The security token included in the request is invalid."}
		}
		return bedrockAuthError(false)
	}
	if s.kind == KindGemini {
		return geminiAuthError(wrong)
	}
	if s.kind == KindAnthropic {
		if wrong {
			return apiError{typ: "authentication_error", message: "invalid x-api-key"}
		}
		return apiError{typ: "authentication_error", message: "x-api-key header is required"}
	}
	if s.kind == KindAzureOpenAI {
		return azureAuthError(wrong)
	}
	if wrong {
		return apiError{
			typ:     "invalid_request_error",
			message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
			code:    "invalid_api_key",
		}
	}
	return apiError{
		typ: "invalid_request_error",
		message: "You didn't provide an API key. You need to provide your API key in an Authorization header " +
			"using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from " +
			"https://platform.openai.com/account/api-keys.",
	}
}

// errorFor is the provider's error for an HTTP status, as the error fault
// and the limits send it. model names the requested model where the real
// message does.
func (s *Sim) errorFor(status int, model string) apiError {
	switch s.kind {
	case KindBedrock:
		return bedrockErrorFor(status)
	case KindGemini:
		return geminiErrorFor(status, model)
	case KindAnthropic:
		return anthropicErrorFor(status)
	case KindAzureOpenAI:
		return azureErrorFor(status, model)
	}
	return openaiErrorFor(status, model)
}

func anthropicErrorFor(status int) apiError {
	switch status {
	case 400:
		return apiError{typ: "invalid_request_error", message: "Your request is invalid."}
	case 401:
		return apiError{typ: "authentication_error", message: "invalid x-api-key"}
	case 403:
		return apiError{typ: "permission_error", message: "Your API key does not have permission to use the specified resource."}
	case 404:
		return apiError{typ: "not_found_error", message: "The requested resource could not be found."}
	case 413:
		return apiError{typ: "request_too_large", message: "Request exceeds the maximum allowed number of bytes."}
	case 429:
		return apiError{typ: "rate_limit_error", message: "This request would exceed the rate limit for your organization. Please try again later."}
	case 504:
		return apiError{typ: "timeout_error", message: "Request timed out."}
	case 529:
		return apiError{typ: "overloaded_error", message: "Overloaded"}
	}
	if status >= 500 {
		return apiError{typ: "api_error", message: "Internal server error"}
	}
	return apiError{typ: "invalid_request_error", message: http.StatusText(status)}
}

func openaiErrorFor(status int, model string) apiError {
	switch status {
	case 400:
		return apiError{typ: "invalid_request_error", message: "Invalid request."}
	case 401:
		return apiError{
			typ:     "invalid_request_error",
			message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
			code:    "invalid_api_key",
		}
	case 403:
		return apiError{typ: "invalid_request_error", message: "Project does not have access to this model.", code: "model_not_found"}
	case 404:
		if model == "" {
			model = "unknown"
		}
		return apiError{
			typ:     "invalid_request_error",
			message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model),
			code:    "model_not_found",
		}
	case 413:
		return apiError{typ: "invalid_request_error", message: "Request too large.", code: "request_too_large"}
	case 422:
		return apiError{typ: "invalid_request_error", message: "Unprocessable request."}
	case 429:
		if model == "" {
			model = "this model"
		}
		return apiError{
			typ:     "requests",
			message: fmt.Sprintf("Rate limit reached for %s on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again later.", model),
			code:    "rate_limit_exceeded",
		}
	case 503:
		return apiError{typ: "server_error", message: "The engine is currently overloaded, please try again later"}
	}
	if status >= 500 {
		return apiError{typ: "server_error", message: "The server had an error while processing your request. Sorry about that!"}
	}
	return apiError{typ: "invalid_request_error", message: http.StatusText(status)}
}

// notFound is the provider's answer to an unknown path.
func (s *Sim) notFound(r *http.Request) apiError {
	if s.kind == KindBedrock {
		return apiError{typ: "UnknownOperationException", message: "Unknown operation " + r.Method + " " + r.URL.Path}
	}
	if s.kind == KindGemini {
		return googleError(http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
	}
	if s.kind == KindAnthropic {
		return apiError{typ: "not_found_error", message: "Not Found"}
	}
	if s.kind == KindAzureOpenAI {
		return azureResourceNotFound
	}
	return apiError{typ: "invalid_request_error", message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)}
}

// methodNotAllowed is the provider's answer to a known path with the wrong method.
func (s *Sim) methodNotAllowed(r *http.Request) apiError {
	if s.kind == KindBedrock {
		return apiError{typ: "UnknownOperationException", message: "Unknown operation " + r.Method + " " + r.URL.Path}
	}
	if s.kind == KindGemini {
		return googleError(http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "Method "+r.Method+" is not allowed on "+r.URL.Path)
	}
	if s.kind == KindAnthropic {
		return apiError{typ: "invalid_request_error", message: "Method Not Allowed"}
	}
	return apiError{typ: "invalid_request_error", message: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path)}
}

// streamErrorFrame is the in-stream error of the stream_error fault, sent
// as the stream's frame number seq.
func (s *Sim) streamErrorFrame(api provider.API, status, seq int) []byte {
	if api == provider.APIResponses {
		if status == 0 {
			status = 500
		}
		e := openaiErrorFor(status, "")
		return responsesErrorEvent(e, seq)
	}
	if s.kind == KindBedrock {
		if status == 0 {
			status = 500
		}
		return bedrockStreamError(status)
	}
	if s.kind == KindGemini {
		return geminiStreamError(status)
	}
	if s.kind == KindAnthropic {
		if status == 0 {
			status = 529
		}
		e := anthropicErrorFor(status)
		b, _ := json.Marshal(anthropicErrorBody{Type: "error", Error: anthropicErrorInner{Type: e.typ, Message: e.message}})
		return sseEvent("error", b)
	}
	if status == 0 {
		status = 500
	}
	e := openaiErrorFor(status, "")
	return sseData(provider.ErrorJSON(e.message, e.typ, e.param, e.code))
}

// sseEvent frames one named SSE event.
func sseEvent(name string, data []byte) []byte {
	b := make([]byte, 0, len(name)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// sseData frames one unnamed SSE event.
func sseData(data []byte) []byte {
	b := make([]byte, 0, len(data)+8)
	b = append(b, "data: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
