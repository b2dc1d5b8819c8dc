package router

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// SameTargetRetry repeats a failed attempt on the same target before the
// request fails over (failover.retry.same_target). What may be repeated is
// classify's decision (Outcome.SameTargetRetryable); how often and after how
// long is this policy's.
type SameTargetRetry struct {
	// MaxRetries is how many times one target is retried within a request
	// after its first try; 0 never retries.
	MaxRetries int
	// Backoff is the base of the wait before a retry: the nth retry waits a
	// random time in [0, Backoff×2^(n-1)] (exponential with full jitter, so
	// that requests that failed together do not come back together).
	Backoff time.Duration
	// MaxRetryAfter is the longest Retry-After (429, 503) that is waited out
	// and retried; a longer one fails over at once (and the target's health
	// cools it down for that long, as without retries).
	MaxRetryAfter time.Duration
}

// Retry marks an attempt that repeats a failed one on the same target.
type Retry struct {
	// N is 1 for the first retry on a target, 2 for the second, …; 0 for a
	// target's first try.
	N int
	// Reason is the failure of the attempt this one repeats.
	Reason classify.Reason
	// Wait is how long the router waited before sending it (backoff or the
	// upstream's Retry-After).
	Wait time.Duration
}

// maxBackoffShift caps the backoff's doubling, so that a large max_retries
// cannot overflow it; the request deadline ends such waits long before.
const maxBackoffShift = 16

// retryWait decides whether the attempt that ended with out is followed by
// its nth retry on the same target, and after how long. No retry when the
// retries are spent, when classify says the failure is not worth repeating,
// when the upstream's Retry-After is longer than MaxRetryAfter (the request
// fails over at once instead), or when the wait would reach the request's
// deadline (better to spend what is left on the next target).
func (r *Router) retryWait(out classify.Outcome, n int, deadline time.Time) (time.Duration, bool) {
	p := &r.settings.SameTarget
	if n > p.MaxRetries || !out.SameTargetRetryable() {
		return 0, false
	}
	var wait time.Duration
	if out.RetryAfter > 0 {
		if out.RetryAfter > p.MaxRetryAfter {
			return 0, false
		}
		wait = out.RetryAfter
	} else {
		wait = backoff(p.Backoff, n)
	}
	if !time.Now().Add(wait).Before(deadline) {
		return 0, false
	}
	return wait, true
}

// backoff is the nth retry's wait: uniform in [0, base×2^(n-1)].
func backoff(base time.Duration, n int) time.Duration {
	if base <= 0 || n < 1 {
		return 0
	}
	shift := min(n-1, maxBackoffShift)
	ceil := base << shift
	if ceil>>shift != base { // overflowed: base is absurdly large
		ceil = math.MaxInt64 - 1
	}
	return rand.N(ceil + 1)
}

// sleep waits d, or until ctx is done (the client went away): false then.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
