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
	"strings"
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
	// ContextLength is a 400 saying the prompt does not fit the model's
	// context window (see Response). Like ClientError it never counts
	// against the provider and is never retried on the same target, but a
	// target with a larger window may answer, so the router may fail over
	// on it when configured to (failover.on_context_length_exceeded).
	ContextLength Reason = "context_length"
	// UnsupportedRequest is a target skipped because the request uses a
	// field its provider kind can neither honour nor drop safely (audio
	// output, web search, n > 1 with fan_out_n off, ...): the next target
	// is tried; never counted against the provider.
	UnsupportedRequest Reason = "unsupported_request"
)

// Reasons lists every failure reason, for documentation and for code that
// enumerates them (metric label sets, tests). None is not in it.
var Reasons = []Reason{
	UpstreamTimeout, ConnectionError, UpstreamError, RateLimited, AuthError,
	CircuitOpen, ProviderUnhealthy, ClientError, Canceled, ContextLength,
	UnsupportedRequest,
}

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
	// Detail refines Reason where one reason covers failures users want
	// told apart (a stalled stream is an upstream_timeout too); "" when
	// the reason says it all. It never changes how the outcome is handled.
	Detail Detail
}

// Detail is a finer kind of failure within a Reason.
type Detail string

// The details.
const (
	// DetailStall is a stream that went silent after it started: no
	// upstream bytes for longer than failover.stream_idle_timeout_seconds
	// (Reason UpstreamTimeout).
	DetailStall Detail = "stall"
	// DetailStreamCut is a stream whose body ended before its end marker
	// ([DONE] or a finish_reason; Anthropic message_stop) or broke off
	// (Reason ConnectionError).
	DetailStreamCut Detail = "stream_cut"
	// DetailMalformed is a stream that sent an event whose data is not
	// valid JSON (Reason UpstreamError): the stream is broken there.
	DetailMalformed Detail = "malformed"
)

// Stall is the outcome of a stream that went silent after it started. It
// counts against the provider and another target may continue or retry.
var Stall = Outcome{Reason: UpstreamTimeout, Retryable: true, CountsAgainst: true, Detail: DetailStall}

// StreamCut is the outcome of a stream that ended or broke off after it
// started and before its end marker.
var StreamCut = Outcome{Reason: ConnectionError, Retryable: true, CountsAgainst: true, Detail: DetailStreamCut}

// Malformed is the outcome of a stream that sent a malformed event: a
// provider failure, and another target may continue or retry it.
var Malformed = Outcome{Reason: UpstreamError, Retryable: true, CountsAgainst: true, Detail: DetailMalformed}

// OK reports a successful attempt.
func (o Outcome) OK() bool { return o.Reason == None }

// SameTargetRetryable reports whether the failed attempt may be repeated on
// the same target (failover.retry.same_target) before failing over: a
// connection refused or reset, a malformed or broken answer, a 5xx or a 429
// are often transient, and the provider may answer the same request a moment
// later. Never for a timeout of a silent upstream (it had timeout_seconds
// already; asking again would double the wait), for any other 4xx (the same
// request gets the same refusal), for a context-length or content-policy
// 400, for a skipped target, or for anything the router no longer holds
// back from the client (those outcomes are not Retryable). A 504 is an
// answer (a gateway in front of the provider timed out), so it is retried
// like any other 5xx. Whether a Retry-After is short enough to wait for is
// the router's decision (max_retry_after_seconds), made from RetryAfter.
func (o Outcome) SameTargetRetryable() bool {
	if !o.Retryable {
		return false
	}
	switch o.Reason {
	case ConnectionError:
		return true
	case UpstreamError:
		// Status 0 is an upstream request the adapter could not build:
		// building it again fails the same way.
		return o.Status != 0
	case RateLimited:
		// A skip during a cooldown has no status: nothing was asked.
		return o.Status == http.StatusTooManyRequests
	case UpstreamTimeout:
		return o.Status >= 500
	}
	return false
}

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

// Response classifies an upstream HTTP answer that is not 2xx, from its
// status, headers and (for a 400 only) its error body, which is where
// providers say the context window is too small or a content policy
// refused the request. It is the one place an upstream error body is
// inspected; any other status is Status's, and the body is not looked at.
func Response(code int, h http.Header, body []byte) Outcome {
	out := Status(code, h)
	if t := awsErrorType(h); t != "" {
		out = awsError(t, out)
	}
	// A content-policy refusal stays a client error: every target would
	// refuse the same content (errorKind tells it apart first).
	if code != http.StatusBadRequest || len(body) == 0 {
		return out
	}
	switch errorKind(body) {
	case kindContextLength:
		out.Reason = ContextLength
		out.Retryable = true
	case kindBadKey:
		// Google answers a wrong API key with a 400: it is the target's
		// credential at fault, not the request, as with a 401.
		return Outcome{Reason: AuthError, Status: code, Retryable: true, CountsAgainst: true}
	}
	return out
}

// awsErrorType is the exception an AWS JSON service (Amazon Bedrock) names
// in x-amzn-ErrorType ("ThrottlingException:http://internal.amazon.com/..."
// carries a suffix after the colon); "" when the header is absent.
func awsErrorType(h http.Header) string {
	if h == nil {
		return ""
	}
	v := h.Get("X-Amzn-Errortype")
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[:i]
	}
	return v
}

// awsError refines a status's outcome by the exception Bedrock names where
// the status alone misleads: a model still loading answers 429 but is the
// provider not being ready, not a rate limit; a model that failed answers
// 424; an account's service quota answers 400 but another account or
// region may serve the request.
func awsError(typ string, out Outcome) Outcome {
	switch typ {
	case "ModelNotReadyException", "ModelErrorException", "ModelStreamErrorException":
		out.Reason, out.Retryable, out.CountsAgainst = UpstreamError, true, true
	case "ServiceQuotaExceededException":
		out.Reason, out.Retryable, out.CountsAgainst = RateLimited, true, true
	case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		out.Reason, out.Retryable, out.CountsAgainst = AuthError, true, true
	}
	return out
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

// retryAfter parses Retry-After as delta-seconds or an HTTP date. Azure
// OpenAI's retry-after-ms (or x-ms-retry-after-ms), in milliseconds, wins
// when it holds a usable value: it is the same wait, more precisely.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	for _, k := range [...]string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := h.Get(k); v != "" {
			if d := delta(v, time.Millisecond); d > 0 {
				return d
			}
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if d := delta(v, time.Second); d > 0 {
		return d
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// delta parses a count of units (a number, possibly fractional); 0 when it
// is not one or not positive.
func delta(v string, unit time.Duration) time.Duration {
	s, err := strconv.ParseFloat(v, 64)
	// ParseFloat also accepts "Inf" and "NaN", and a huge value would wrap
	// around when converted: only finite positive values count, capped at
	// the longest Duration.
	if err != nil || math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
		return 0
	}
	if ns := s * float64(unit); ns < math.MaxInt64 {
		return time.Duration(ns)
	}
	return math.MaxInt64
}
