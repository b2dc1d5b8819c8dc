package gemini

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// ErrorBody maps Google's error body ({"error":{"code":429,"message":...,
// "status":"RESOURCE_EXHAUSTED"}}) onto an OpenAI error body. A body that
// is not such JSON is never echoed (it may be an HTML page from a proxy); a
// generic message names the status instead. Classification reads the
// upstream body itself (pkg/classify): Google's statuses are the HTTP
// statuses it already knows, and its context-window message is one of
// classify's fragments.
func (a *adapter) ErrorBody(status int, body []byte) []byte {
	msg := gjson.GetBytes(body, "error.message")
	if !gjson.ValidBytes(body) || msg.Type != gjson.String || msg.Str == "" {
		return provider.ErrorJSON(genericErrorMessage(a.kind, status), provider.ErrorTypeForStatus(status), "", "")
	}
	typ, code := errorType(gjson.GetBytes(body, "error.status").String(), status)
	if code == "" && status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg.Str), "exceeds the maximum number of tokens") {
		code = "context_length_exceeded"
	}
	return provider.ErrorJSON(redactSecrets(msg.Str), typ, "", code)
}

func genericErrorMessage(kind string, status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%s upstream answered HTTP %d %s", kind, status, t)
	}
	return fmt.Sprintf("%s upstream answered HTTP %d", kind, status)
}

// errorType maps a google.rpc.Code name onto an OpenAI type and code.
func errorType(status string, code int) (typ, errCode string) {
	switch status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return provider.ErrTypeInvalidRequest, ""
	case "UNAUTHENTICATED":
		return provider.ErrTypeAuthentication, "invalid_api_key"
	case "PERMISSION_DENIED":
		return provider.ErrTypePermission, ""
	case "NOT_FOUND":
		return provider.ErrTypeNotFound, "model_not_found"
	case "RESOURCE_EXHAUSTED":
		return provider.ErrTypeRateLimit, "rate_limit_exceeded"
	case "UNAVAILABLE":
		return provider.ErrTypeUnavailable, ""
	case "DEADLINE_EXCEEDED":
		return provider.ErrTypeTimeout, ""
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		return provider.ErrTypeServer, ""
	}
	return provider.ErrorTypeForStatus(code), ""
}

// redactSecrets masks anything shaped like a Google API key (AIza...) or
// an OAuth access token (ya29....) in an upstream message: error texts
// reach clients and logs, credentials must not.
func redactSecrets(msg string) string {
	for _, prefix := range []string{"AIza", "ya29."} {
		msg = redactAfter(msg, prefix)
	}
	return msg
}

func redactAfter(msg, prefix string) string {
	if !strings.Contains(msg, prefix) {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, prefix)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		b.WriteString(msg[:i+len(prefix)])
		b.WriteString("***")
		msg = msg[i+len(prefix):]
		j := 0
		for j < len(msg) && isKeyByte(msg[j]) {
			j++
		}
		msg = msg[j:]
	}
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
