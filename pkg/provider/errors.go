package provider

import (
	"encoding/json"
	"errors"
)

// ErrMalformedEvent is wrapped by a Stream's Event for an upstream event
// whose data is not valid JSON. Relaying it would hand the client a frame
// its SDK cannot parse, and the text in it would be lost from an answer
// that then looks complete: the stream is broken there, like a cut, and the
// router retries, fails over or continues it as it would a cut.
var ErrMalformedEvent = errors.New("malformed stream event")

// OpenAI error types used in error bodies.
const (
	ErrTypeInvalidRequest = "invalid_request_error"
	ErrTypeAuthentication = "authentication_error"
	ErrTypePermission     = "permission_error"
	ErrTypeNotFound       = "not_found_error"
	ErrTypeRateLimit      = "rate_limit_error"
	ErrTypeServer         = "server_error"
	ErrTypeUnavailable    = "service_unavailable"
	ErrTypeTimeout        = "timeout_error"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ErrorJSON renders an OpenAI-style error body:
// {"error":{"message":..,"type":..,"param":..,"code":..}}. Empty param and
// code render as null, as OpenAI does.
func ErrorJSON(message, typ, param, code string) []byte {
	d := errorDetail{Message: message, Type: typ}
	if param != "" {
		d.Param = &param
	}
	if code != "" {
		d.Code = &code
	}
	b, err := json.Marshal(errorBody{Error: d})
	if err != nil {
		// Strings always marshal; keep a valid body regardless.
		return []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	return b
}

// ErrorTypeForStatus is the OpenAI error type that goes with an HTTP status.
func ErrorTypeForStatus(status int) string {
	switch {
	case status == 401:
		return ErrTypeAuthentication
	case status == 403:
		return ErrTypePermission
	case status == 404:
		return ErrTypeNotFound
	case status == 429:
		return ErrTypeRateLimit
	case status == 503:
		return ErrTypeUnavailable
	case status == 504 || status == 408:
		return ErrTypeTimeout
	case status >= 500:
		return ErrTypeServer
	default:
		return ErrTypeInvalidRequest
	}
}

// Anthropic error types, as Anthropic's error bodies name them.
const (
	AnErrInvalidRequest  = "invalid_request_error"
	AnErrAuthentication  = "authentication_error"
	AnErrPermission      = "permission_error"
	AnErrNotFound        = "not_found_error"
	AnErrRequestTooLarge = "request_too_large"
	AnErrRateLimit       = "rate_limit_error"
	AnErrAPI             = "api_error"
	AnErrOverloaded      = "overloaded_error"
)

// AnthropicErrorType is the Anthropic error type that goes with an HTTP
// status, so that errors on the Messages API (the upstream's, translated,
// or the gateway's own) carry the type Anthropic's SDKs map to their
// exception classes.
func AnthropicErrorType(status int) string {
	switch {
	case status == 401:
		return AnErrAuthentication
	case status == 403:
		return AnErrPermission
	case status == 404:
		return AnErrNotFound
	case status == 413:
		return AnErrRequestTooLarge
	case status == 429:
		return AnErrRateLimit
	case status == 503 || status == 529:
		return AnErrOverloaded
	case status >= 500:
		return AnErrAPI
	default:
		return AnErrInvalidRequest
	}
}

type anErrorBody struct {
	Type  string        `json:"type"`
	Error anErrorDetail `json:"error"`
}

type anErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// AnthropicErrorJSON renders an Anthropic-style error body:
// {"type":"error","error":{"type":typ,"message":message}}.
func AnthropicErrorJSON(typ, message string) []byte {
	b, err := json.Marshal(anErrorBody{Type: "error", Error: anErrorDetail{Type: typ, Message: message}})
	if err != nil {
		// Strings always marshal; keep a valid body regardless.
		return []byte(`{"type":"error","error":{"type":"api_error","message":"internal error"}}`)
	}
	return b
}

// AnthropicFromOpenAIErrorType maps an OpenAI error type onto Anthropic's,
// falling back to the status's type for one it does not know (status 0:
// api_error).
func AnthropicFromOpenAIErrorType(typ string, status int) string {
	switch typ {
	case ErrTypeInvalidRequest, ErrTypeAuthentication, ErrTypePermission, ErrTypeNotFound, ErrTypeRateLimit:
		return typ
	case ErrTypeUnavailable:
		return AnErrOverloaded
	case ErrTypeServer, ErrTypeTimeout:
		return AnErrAPI
	}
	if status == 0 {
		return AnErrAPI
	}
	return AnthropicErrorType(status)
}
