// Package anthropic is the adapter for Anthropic's Messages API. Clients
// speak OpenAI Chat Completions; this package translates their requests into
// Messages requests and the answers, whole or streamed, back into OpenAI's
// shape (openai_anthropic.go for whole bodies, stream.go for events).
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// Defaults used when the endpoint leaves them empty.
const (
	defaultBaseURL = "https://api.anthropic.com"
	defaultVersion = "2023-06-01"
)

// adapter implements provider.Adapter. now is a field so that tests can pin
// the created timestamps.
type adapter struct {
	now func() time.Time
}

// New returns the Anthropic Messages adapter (Kind "anthropic").
func New() provider.Adapter { return &adapter{now: time.Now} }

var _ provider.Adapter = (*adapter)(nil)

// Kind is "anthropic", also the gen_ai.provider.name of its spans.
func (a *adapter) Kind() string { return "anthropic" }

func baseURL(ep *provider.Endpoint) string {
	if ep.BaseURL == "" {
		return defaultBaseURL
	}
	return strings.TrimSuffix(ep.BaseURL, "/")
}

// setHeaders copies the static and client headers, then sets the ones this
// adapter owns so that neither can replace the key or the API version the
// translation is written against.
func setHeaders(h http.Header, ep *provider.Endpoint, client http.Header, keyOverride string) {
	for k, v := range ep.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	for k, v := range client {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	// Anthropic authenticates with x-api-key; a forwarded bearer token would
	// be another credential sent where it does not belong.
	h.Del("Authorization")
	h.Del("X-Api-Key")
	key := ep.APIKey
	if keyOverride != "" {
		key = keyOverride
	}
	if key != "" {
		h.Set("X-Api-Key", key)
	}
	version := ep.Version
	if version == "" {
		version = defaultVersion
	}
	h.Set("Anthropic-Version", version)
}

// ChatRequest builds POST {BaseURL}/v1/messages from the client's OpenAI body.
// r.Body is expected to be valid JSON, which the gateway checks before it
// picks a target; a body that is not is still answered with a RequestError.
func (a *adapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	body, err := translateRequest(r.Body, r.Model, r.Stream, ep.DefaultMaxTokens)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL(ep)+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build anthropic request: %w", err)
	}
	setHeaders(req.Header, ep, r.Header, r.APIKey)
	req.Header.Set("Content-Type", "application/json")
	if r.Stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	return req, nil
}

// ChatResponse translates a 2xx Anthropic message into a chat.completion.
func (a *adapter) ChatResponse(body []byte, _ *provider.Request) (*provider.Response, error) {
	return translateResponse(body, a.now().Unix())
}

// ErrorBody maps an Anthropic error body ({"type":"error","error":{"type",
// "message"}}) onto an OpenAI error body. A body that is not such JSON is
// never echoed (it may be an HTML page from a proxy); a generic message names
// the status instead.
func (a *adapter) ErrorBody(status int, body []byte) []byte {
	var eb anErrorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Message == "" {
		return provider.ErrorJSON(genericErrorMessage(status), provider.ErrorTypeForStatus(status), "", "")
	}
	typ, code := errorType(eb.Error.Type, status)
	return provider.ErrorJSON(redactKeys(eb.Error.Message), typ, "", code)
}

func genericErrorMessage(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("anthropic upstream answered HTTP %d %s", status, t)
	}
	return fmt.Sprintf("anthropic upstream answered HTTP %d", status)
}

// errorType maps an Anthropic error type onto an OpenAI type and code.
func errorType(anType string, status int) (typ, code string) {
	switch anType {
	case "invalid_request_error":
		return provider.ErrTypeInvalidRequest, ""
	case "authentication_error":
		return provider.ErrTypeAuthentication, "invalid_api_key"
	case "permission_error":
		return provider.ErrTypePermission, ""
	case "not_found_error":
		return provider.ErrTypeNotFound, ""
	case "request_too_large":
		return provider.ErrTypeInvalidRequest, "request_too_large"
	case "rate_limit_error":
		return provider.ErrTypeRateLimit, "rate_limit_exceeded"
	case "api_error":
		return provider.ErrTypeServer, ""
	case "overloaded_error":
		return provider.ErrTypeServer, "overloaded"
	default:
		return provider.ErrorTypeForStatus(status), ""
	}
}

// redactKeys masks anything shaped like an Anthropic key in an upstream
// message: error texts reach clients and logs, keys must not.
func redactKeys(msg string) string {
	const prefix = "sk-ant-"
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
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ProbeRequest lists one model: it costs no tokens and fails with 401 on a
// bad key.
func (a *adapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL(ep)+"/v1/models?limit=1", nil)
	if err != nil {
		return nil, fmt.Errorf("build anthropic probe: %w", err)
	}
	setHeaders(req.Header, ep, nil, "")
	return req, nil
}
