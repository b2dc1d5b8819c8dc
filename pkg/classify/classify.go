// Package classify turns an upstream outcome (HTTP status or transport error)
// into one Outcome: the failure reason, whether another target may be tried,
// and whether it counts against the provider. The router, breakers, health,
// events, spans and metrics all read this one result.
package classify

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Reason is the failure vocabulary shared by metadata, events, spans and metrics.
type Reason string

// The reasons. None means success.
const (
	None              Reason = ""
	UpstreamTimeout   Reason = "upstream_timeout"
	ConnectionError   Reason = "connection_error"
	UpstreamError     Reason = "upstream_error"
	RateLimited       Reason = "rate_limited"
	AuthError         Reason = "auth_error"
	CircuitOpen       Reason = "circuit_open"
	ProviderUnhealthy Reason = "provider_unhealthy"
	// ClientError is a 4xx caused by the request itself: returned as is,
	// never failed over, never counted against the provider.
	ClientError Reason = "client_error"
	// Canceled is the client going away: never counted against the provider.
	Canceled Reason = "client_canceled"
	// UnsupportedRequest is a target skipped because the request uses a
	// field its provider kind can neither honour nor drop safely (audio
	// output, web search, n > 1 with fan_out_n off, ...): the next target
	// is tried; never counted against the provider.
	UnsupportedRequest Reason = "unsupported_request"
)

// Outcome is the single classification of one upstream attempt.
type Outcome struct {
	// Reason is None on success.
	Reason Reason
	// Status is the upstream HTTP status, 0 when none was received.
	Status int
	// RetryAfter is the upstream's Retry-After hint (429/503), 0 if none.
	RetryAfter time.Duration
	// Retryable means another target may be tried.
	Retryable bool
	// CountsAgainst means the outcome is a provider failure for breakers and health.
	CountsAgainst bool
}

// OK reports a successful attempt.
func (o Outcome) OK() bool { return o.Reason == None }

// Success is the outcome of an attempt that answered 2xx and completed.
var Success = Outcome{}

// Skipped is the outcome recorded for a target that was not attempted
// because it was unhealthy or its circuit was open.
func Skipped(r Reason) Outcome {
	return Outcome{Reason: r, Retryable: true}
}

// Status classifies an upstream HTTP response status. h may be nil.
func Status(code int, h http.Header) Outcome {
	switch {
	case code >= 200 && code < 300:
		return Success
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Outcome{Reason: AuthError, Status: code, Retryable: true, CountsAgainst: true}
	case code == http.StatusTooManyRequests:
		return Outcome{Reason: RateLimited, Status: code, RetryAfter: retryAfter(h), Retryable: true, CountsAgainst: true}
	case code == http.StatusRequestTimeout || code == http.StatusGatewayTimeout:
		return Outcome{Reason: UpstreamTimeout, Status: code, Retryable: true, CountsAgainst: true}
	case code >= 500:
		return Outcome{Reason: UpstreamError, Status: code, RetryAfter: retryAfter(h), Retryable: true, CountsAgainst: true}
	default:
		// 400, 404, 409, 413, 422 ... and anything unexpected below 500: the
		// request is at fault; another target would refuse it too.
		return Outcome{Reason: ClientError, Status: code}
	}
}

// Error classifies a transport error of an attempt. clientCtx is the client's
// request context: when it is done the client went away (or the whole request
// deadline passed) and the provider is not to blame.
func Error(clientCtx context.Context, err error) Outcome {
	if err == nil {
		return Success
	}
	if clientCtx.Err() != nil {
		if errors.Is(clientCtx.Err(), context.DeadlineExceeded) {
			// The overall request deadline passed: a timeout of this attempt,
			// but there is no time left for another one.
			return Outcome{Reason: UpstreamTimeout, CountsAgainst: true}
		}
		return Outcome{Reason: Canceled}
	}
	// A cancelled attempt context whose client context is not done means the
	// gateway gave up on the attempt (e.g. first-token timeout): a timeout too.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isTimeout(err) {
		return Outcome{Reason: UpstreamTimeout, Retryable: true, CountsAgainst: true}
	}
	// Everything else is the provider being unreachable or speaking nonsense:
	// refused or reset connections, broken pipes, early EOFs, DNS and TLS
	// failures, malformed responses.
	return Outcome{Reason: ConnectionError, Retryable: true, CountsAgainst: true}
}

// isTimeout reports a net.Error timeout anywhere in err's chain. AsType
// avoids the allocation errors.As makes for its target.
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// retryAfter parses Retry-After as delta-seconds or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		// ParseFloat also accepts "Inf" and "NaN", and a huge value would wrap
		// around when converted: only finite positive values count, capped at
		// the longest Duration.
		if math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
			return 0
		}
		if ns := s * float64(time.Second); ns < math.MaxInt64 {
			return time.Duration(ns)
		}
		return math.MaxInt64
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
