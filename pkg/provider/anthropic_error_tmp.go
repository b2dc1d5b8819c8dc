package provider

// TEMPORARY (replaced at merge by the messages branch's errors.go).

import "encoding/json"

// AnthropicErrorType is Anthropic's error type for a status.
func AnthropicErrorType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 413:
		return "request_too_large"
	case status == 429:
		return "rate_limit_error"
	case status == 503 || status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// AnthropicErrorJSON renders Anthropic's error body.
func AnthropicErrorJSON(typ, message string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": message}})
	return b
}
