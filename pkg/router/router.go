// Package router picks targets and runs the failover loop: for each request
// it orders the targets (by priority, or with the weighted strategy by a
// per-request weighted split across the healthy targets), skips those that
// are unhealthy or whose circuit is open, makes one attempt per remaining
// target (and, when configured, same-target retries of a transient failure,
// see SameTargetRetry) until one answers or the attempt budget is spent,
// moves on after a context-length refusal when asked to, applies model
// mapping on every target but the highest-priority one, and bounds every
// attempt and the whole request in time. Each attempt's outcome is
// classified once (pkg/classify) and reported to the target's health
// (breaker) and to the Observer.
package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// Target is a routable upstream: its adapter, endpoint, HTTP client and health.
type Target struct {
	// ID of the target.
	ID string
	// Priority orders targets, lower first. The highest-priority target
	// (rank 0) is the one model mapping does not apply to, with either
	// strategy.
	Priority int
	// Weight is the target's share of the weighted split (StrategyWeighted);
	// 0 (or less) = never picked first, fallback only. Ignored by
	// StrategyPriority.
	Weight int
	// Adapter speaks the target's wire format: it serves the chat API.
	Adapter provider.Adapter
	// APIs holds the adapter serving each other API on this target (the
	// kind's native one or a bridge through chat, see pkg/inbound); nil =
	// the target does not serve that API and is skipped for it with
	// unsupported_request. APIs[provider.APIChat] may be left nil: Adapter
	// serves chat.
	APIs [provider.NumAPIs]provider.Adapter
	// Endpoint is where and how to reach it.
	Endpoint *provider.Endpoint
	// Client is the target's own HTTP client (one tuned transport per target).
	Client *http.Client
	// Health admits attempts and receives their outcomes.
	Health *health.Target
	// ForwardClientAuth sends the client's bearer token instead of the target's key.
	ForwardClientAuth bool
	// Prefill says whether the target continues a final assistant message
	// (capabilities.prefill), which mid-stream continuation needs; nil =
	// the adapter's default for the model (provider.Prefiller).
	Prefill *bool
	// Model, when set, is the upstream model asked of this target whatever
	// the client requested (a route target's model); it replaces
	// Settings.ModelMapping for this target.
	Model string
}

// For returns the adapter serving api on t, nil when t does not serve it.
func (t *Target) For(api provider.API) provider.Adapter {
	if api < provider.NumAPIs && t.APIs[api] != nil {
		return t.APIs[api]
	}
	if api == provider.APIChat {
		return t.Adapter
	}
	return nil
}

// AcceptsPrefill reports whether a mid-stream continuation may be sent to
// t for model.
func (t *Target) AcceptsPrefill(model string) bool {
	if t.Prefill != nil {
		return *t.Prefill
	}
	p, ok := t.Adapter.(provider.Prefiller)
	return ok && p.AcceptsPrefill(model)
}

// Routing strategies (Settings.Strategy).
const (
	// StrategyPriority walks the targets in priority order (the default).
	StrategyPriority = "priority"
	// StrategyWeighted splits traffic across the healthy targets by
	// Target.Weight (weighted rendezvous hashing on Request.StickyKey, or
	// on a random key per request), then fails over inside the split.
	StrategyWeighted = "weighted"
)

// roundTrip sends one upstream request through the target's transport.
// Not through Client.Do: upstream LLM APIs do not redirect, and Client.Do
// copies the headers and URL of every request for redirects that never come
// (about a tenth of the request path's allocations).
func (t *Target) roundTrip(req *http.Request) (*http.Response, error) {
	rt := t.Client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt.RoundTrip(req)
}

// Settings are the failover settings.
type Settings struct {
	// Strategy is StrategyPriority ("" means the same) or StrategyWeighted.
	// Any other value is treated as StrategyPriority (pkg/config rejects
	// it); Router.Strategy reports the one in effect.
	Strategy string
	// Failover enables moving to other targets; when false only the first
	// target of the request's order is used: the top priority target with
	// StrategyPriority, the weighted pick with StrategyWeighted.
	Failover bool
	// MaxAttempts is how many fallback targets to try after the first.
	MaxAttempts int
	// ModelMapping maps a requested model to the model used on every target
	// except the highest-priority one (rank 0 after the stable priority
	// sort), whatever position that target takes in a request's order. With
	// StrategyPriority that is every fallback; with StrategyWeighted it also
	// applies to a first pick that is not the highest-priority target (the
	// B side of an A/B split).
	ModelMapping map[string]string
	// AttemptTimeout bounds one attempt (a stream: until its first content
	// delta).
	AttemptTimeout time.Duration
	// FirstTokenTimeout, when > 0 and shorter, bounds a stream's wait for its
	// first content delta (text, tool call, refusal) instead of
	// AttemptTimeout: lifecycle frames before it do not count.
	FirstTokenTimeout time.Duration
	// StreamIdleTimeout, when > 0, is the longest gap allowed between two
	// upstream events of a committed stream; a longer one is a stall
	// (classify.Stall): the upstream is closed and the stream continues on
	// another target (Midstream) or ends with an in-band error.
	StreamIdleTimeout time.Duration
	// Midstream enables mid-stream continuation: a stream cut or stalled
	// after text went out is continued by the next target that accepts
	// prefill (Target.AcceptsPrefill), with the text already sent as a
	// partial assistant message.
	Midstream bool
	// RequestTimeout bounds all attempts of one request together.
	RequestTimeout time.Duration
	// MaxResponseBytes bounds a non-streaming upstream answer.
	MaxResponseBytes int64
	// SameTarget repeats a failed attempt on its own target before failing
	// over; the zero value never does (one try per target).
	SameTarget SameTargetRetry
	// ContextLengthFailover moves a request whose target answered that the
	// prompt does not fit its context window (classify.ContextLength) to the
	// next target, like a failover; false returns that 400 to the client.
	ContextLengthFailover bool
	// DropParams is failover.drop_unsupported_params: DropOnFailover ("" means
	// the same), DropAlways or DropNever; see planParams.
	DropParams string
	// NoFanOut turns off answering n > 1 on single-choice targets with n
	// calls (failover.fan_out_n: false); such targets are then skipped.
	NoFanOut bool
	// AllowModelChange lets an embeddings request go to a target asked for
	// another model than the first target considered; false skips such a
	// target with unsupported_request (vectors from two models are not
	// comparable).
	AllowModelChange bool
	// Route names the route this router serves, reported on every Attempt;
	// "" for the implicit route of a configuration without routes.
	Route string
}

// Router routes requests over targets.
type Router struct {
	// targets in priority order; the index is the target's rank.
	targets  []*Target
	settings Settings
	observer Observer
	// weighted is set for StrategyWeighted.
	weighted bool
	// idHash holds xxhash(ID) per rank, for the weighted split.
	idHash []uint64
}

// Observer is the one place an attempt is recorded: telemetry (a span and
// metrics per attempt) and logs hang off it. It must not block.
type Observer interface {
	// StartAttempt is called before a request is sent to a target. The
	// returned context (carrying e.g. the attempt's span) is used for the
	// upstream request, so trace context propagates per attempt.
	StartAttempt(ctx context.Context, a *Attempt) context.Context
	// EndAttempt is called once per attempt with its classified outcome, with
	// the context StartAttempt returned. Skipped targets get EndAttempt only,
	// with the request's context. A committed stream ends when the stream
	// does (Attempt.Duration then covers the whole stream).
	EndAttempt(ctx context.Context, a *Attempt)
	// Failover is called when the request moves from one target to the next.
	Failover(ctx context.Context, f FailoverStep)
}

// FailoverStep describes one move between targets.
type FailoverStep struct {
	// From and To are target ids.
	From, To string
	// Reason From was left.
	Reason classify.Reason
	// FromModel and ToModel show the model mapping applied.
	FromModel, ToModel string
}

// New returns a router over targets, ordered by priority (stable, so equal
// priorities keep their list order). With StrategyPriority and Failover
// off only the top priority target is kept; StrategyWeighted keeps them all
// and picks per request.
func New(targets []*Target, s Settings, obs Observer) *Router {
	ts := slices.Clone(targets)
	slices.SortStableFunc(ts, func(a, b *Target) int { return a.Priority - b.Priority })
	weighted := s.Strategy == StrategyWeighted
	if weighted {
		s.Strategy = StrategyWeighted
	} else {
		s.Strategy = StrategyPriority
	}
	if !weighted && !s.Failover && len(ts) > 1 {
		ts = ts[:1]
	}
	if s.AttemptTimeout <= 0 {
		s.AttemptTimeout = 30 * time.Second
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = s.AttemptTimeout * time.Duration(1+max(s.MaxAttempts, 0))
	}
	if s.MaxResponseBytes <= 0 {
		s.MaxResponseBytes = 32 << 20
	}
	if obs == nil {
		obs = nopObserver{}
	}
	r := &Router{targets: ts, settings: s, observer: obs, weighted: weighted}
	if weighted {
		r.idHash = make([]uint64, len(ts))
		for i, t := range ts {
			r.idHash[i] = xxhash.Sum64String(t.ID)
		}
	}
	return r
}

// Targets returns the targets in priority order: the routing order with
// StrategyPriority; StrategyWeighted orders them per request.
func (r *Router) Targets() []*Target { return r.targets }

// Strategy returns the strategy in effect: StrategyPriority or
// StrategyWeighted.
func (r *Router) Strategy() string { return r.settings.Strategy }

// Request is a client request to one of the gateway's APIs.
type Request struct {
	// API is the API the request was made to (chat by default): each
	// target serves it with Target.For(API), and a target that does not
	// serve it is skipped with unsupported_request.
	API provider.API
	// Body is the client's JSON in the API's wire format (OpenAI Chat
	// Completions for chat).
	Body []byte
	// Model is the requested model: the one Body names (adapters rely on
	// it to leave Body untouched when no mapping applies).
	Model string
	// Stream is the client's stream flag.
	Stream bool
	// Header holds the allow-listed client headers to forward.
	Header http.Header
	// ClientAuth is the client's bearer token, forwarded only to targets that opt in.
	ClientAuth string
	// dropped are the fields planParams left out of Body for this attempt.
	dropped []string
	// mapped are the fields planParams mapped onto the target's range.
	mapped []string
	// StickyKey, with StrategyWeighted, makes the request's target order a
	// function of this key (e.g. a user id): the same key always gets the
	// same order, across requests, routers and processes, while the same
	// targets are healthy. Empty means a random order per request. Ignored by
	// StrategyPriority.
	StickyKey string

	// Pin, when set, is the only target the request may go to (a stateful
	// request must reach the target that holds its state): the others are
	// not considered, and no failover happens.
	Pin string
	// Method and ResourceID are passed to the adapter for requests that are
	// not a POST with a body (provider.Request).
	Method, ResourceID string

	// seam is set on a mid-stream continuation's request: its attempt
	// records it.
	seam *Seam
}

// Attempt records one try (or skip) of one target.
type Attempt struct {
	// N is the attempt's 1-based position among the request's attempts and skips.
	N int
	// Route is the route that served the request ("" for the implicit one).
	Route string
	// API is the API the request was made to.
	API provider.API
	// Target id.
	Target string
	// Kind is the target's provider kind.
	Kind string
	// Model sent to the target.
	Model string
	// Outcome is the classification; Outcome.OK() for the answering attempt.
	Outcome classify.Outcome
	// Skipped means no request was sent (unhealthy, circuit open, cooldown).
	Skipped bool
	// Start of the attempt.
	Start time.Time
	// Duration until the answer; for a stream, until it ended (FirstByte is
	// the time to its first content delta).
	Duration time.Duration
	// FirstByte is a stream's time to its first content delta (the first
	// bytes the client got from this attempt).
	FirstByte time.Duration
	// Usage reported by the answer.
	Usage provider.Usage
	// Stream marks a streaming attempt.
	Stream bool
	// ResponseModel is the model that answered, if any.
	ResponseModel string
	// FinishReasons of a successful non-streaming attempt.
	FinishReasons []string
	// Retry marks a same-target retry; zero for a target's first try.
	Retry Retry
	// Seam is set on both sides of a mid-stream continuation: the attempt
	// whose stream was cut or stalled, and the one that continued it.
	Seam *Seam
	// DroppedParams are the request fields left out of this attempt
	// because its target's provider kind cannot take them.
	DroppedParams []string
	// MappedParams are the request fields whose value was mapped onto the
	// target kind's range on this attempt, each as name=from->to
	// ("temperature=1.8->0.9"); the client's value in its shortest form.
	MappedParams []string
	// Unsupported is, on a target skipped with unsupported_request, the
	// field it could neither honour nor drop, and why.
	Unsupported *provider.RequestError
}

// Seam records where a mid-stream continuation joined two attempts.
type Seam struct {
	// From is the target whose stream was cut or stalled; To the target
	// asked to continue it.
	From, To string
	// Chars is how many characters (Unicode code points) of answer text
	// the client had before the seam.
	Chars int
	// Interruption is how From's stream failed.
	Interruption classify.Outcome
	// Continuing marks the attempt that continued (To's side).
	Continuing bool
}

// Failover summarises how the request moved between targets.
type Failover struct {
	// Triggered is true when the answer did not come from the first target considered.
	Triggered bool
	// OriginalProvider is the first target that was skipped or failed.
	OriginalProvider string
	// Reason it was left.
	Reason classify.Reason
}

// Result is the answer to a request: a success, or a client error that is
// returned as is.
type Result struct {
	// Target that answered.
	Target *Target
	// Model that answered.
	Model string
	// Status for the client: 200, or the 4xx of a client error.
	Status int
	// Body of a non-streaming answer (OpenAI JSON) or of a client error,
	// the caller's to use and modify (an answer read from the upstream has
	// spare capacity for what the caller appends).
	Body []byte
	// Stream is set for a streaming success; its first bytes were already read.
	Stream *Stream
	// Usage of a non-streaming answer.
	Usage provider.Usage
	// Failover summary.
	Failover Failover
	// Attempts and skips, in order.
	Attempts []Attempt

	// answer is the pooled buffer a whole answer was read into; Body is
	// in it, or built from it.
	answer *bytes.Buffer
}

// Release hands back for reuse the buffer a non-streaming answer was read
// into, once the caller is done with it: Body, and anything sliced from
// it, must not be used afterwards. It is optional (an unreleased Result is
// collected as usual) and does nothing on other results or a second call.
func (r *Result) Release() {
	if r == nil || r.answer == nil {
		return
	}
	releaseAnswer(r.answer)
	r.answer, r.Body = nil, nil
}

// Error is returned when no target could answer.
type Error struct {
	// Status for the client (503).
	Status int
	// Failover summary.
	Failover Failover
	// Attempts and skips, in order.
	Attempts []Attempt
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("no provider could serve the request")
	if len(e.Attempts) == 0 {
		b.WriteString(": no target available")
		return b.String()
	}
	b.WriteString(": ")
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Target)
		b.WriteString(" ")
		b.WriteString(string(a.Outcome.Reason))
		if a.Outcome.Status != 0 {
			fmt.Fprintf(&b, " (HTTP %d)", a.Outcome.Status)
		}
		if a.Skipped {
			b.WriteString(" (skipped)")
		}
		if u := a.Unsupported; u != nil {
			// The request, not the provider, is why: say which field.
			b.WriteString(": field ")
			b.WriteString(u.Param)
			b.WriteString(": ")
			b.WriteString(u.Message)
		}
	}
	return b.String()
}

// ErrCanceled is returned when the client went away before an answer.
var ErrCanceled = errors.New("client canceled the request")

// errAttemptTimeout is the cause set on an attempt's context when its own
// timer fires, telling it apart from the client going away.
var errAttemptTimeout = errors.New("attempt timed out")

// Do routes one request. It returns a Result (success or client error), an
// *Error when every target failed or was unavailable, or ErrCanceled.
func (r *Router) Do(ctx context.Context, req *Request) (*Result, error) {
	start := time.Now()
	deadline := start.Add(r.settings.RequestTimeout)
	limit := 1 + r.settings.MaxAttempts
	// order is nil with StrategyPriority: the targets' own order is used.
	var buf [stackPicks]pick
	order := r.order(buf[:0], req.StickyKey, start)
	n := len(r.targets)
	if !r.settings.Failover && req.Pin == "" {
		n = min(n, 1)
	}
	attempts := make([]Attempt, 0, len(r.targets))
	var fo Failover
	// tooLong is the latest context_length refusal failed over from: the
	// answer when no target with a larger window answers either.
	var tooLong *Result
	tried := 0
	// unsupported is the first field a target was skipped for, answered
	// as a 400 when no target was tried at all.
	var unsupported *provider.RequestError
	var unsupportedAt *Target
	// firstModel is the model of the first target considered: with
	// embeddings, the only one a fallback may be asked for.
	firstModel := ""
targets:
	for k := range n {
		if tried >= limit {
			break
		}
		if ctx.Err() != nil {
			return nil, ErrCanceled
		}
		rank := k
		if order != nil {
			rank = int(order[k].rank)
		}
		t := r.targets[rank]
		if req.Pin != "" && t.ID != req.Pin {
			continue
		}
		model := r.modelFor(rank, req.Model)
		if firstModel == "" {
			firstModel = model
		}
		if len(attempts) > 0 {
			prev := &attempts[len(attempts)-1]
			r.observer.Failover(ctx, FailoverStep{From: prev.Target, To: t.ID, Reason: prev.Outcome.Reason, FromModel: prev.Model, ToModel: model})
		}
		var (
			res   *Result
			a     Attempt
			retry Retry
			plan  paramPlan
			areq  *Request
		)
		// One try of t, then its same-target retries while the failure
		// allows one (see retryWait).
		for {
			now := time.Now()
			done, skip := t.Health.Admit(now, model)
			if skip != classify.None {
				if retry.N > 0 {
					// The failure just seen opened the circuit (or started
					// a cooldown that outlasts the wait): that failure is
					// why t is left, and no retry is made.
					break
				}
				attempts = append(attempts, Attempt{N: len(attempts) + 1, Route: r.settings.Route, API: req.API, Target: t.ID, Kind: t.Adapter.Kind(), Model: model, Outcome: classify.Skipped(skip), Skipped: true, Start: now})
				r.observer.EndAttempt(ctx, &attempts[len(attempts)-1])
				fo.leave(t.ID, skip)
				continue targets
			}
			if retry.N == 0 {
				// Planned once the target is admitted: a skipped target's
				// body is never read for it.
				plan = r.planParams(t, req, k == 0 || req.Pin != "")
				if req.API == provider.APIEmbeddings && !r.settings.AllowModelChange && plan.skip == nil && model != firstModel {
					plan = paramPlan{skip: &provider.RequestError{Param: "model", Message: "embeddings of " + firstModel + " are not failed over to " + model + ": vectors from two models are not comparable (allow_model_change)"}}
				}
				areq = plan.request(req)
			}
			switch {
			case plan.refuse != nil:
				done(classify.Outcome{Reason: classify.ClientError}) // never sent
				return refusedResult(t, model, plan.refuse, attempts, fo), nil
			case plan.skip != nil:
				done(classify.Outcome{Reason: classify.UnsupportedRequest}) // never sent
				attempts = append(attempts, unsupportedAttempt(len(attempts)+1, r.settings.Route, req.API, t, model, plan.skip))
				attempts[len(attempts)-1].Start = now
				r.observer.EndAttempt(ctx, &attempts[len(attempts)-1])
				fo.leave(t.ID, classify.UnsupportedRequest)
				if unsupported == nil {
					unsupported, unsupportedAt = plan.skip, t
				}
				continue targets
			}
			remaining := time.Until(deadline)
			if remaining <= 0 {
				done(classify.Outcome{Reason: classify.Canceled}) // not the target's fault
				break targets
			}
			if plan.fanOut > 1 {
				// The merged answer is all or nothing; its calls are not
				// retried one by one.
				res, a = r.fanOut(ctx, t, model, areq, plan.fanOut, &attempts, deadline, done)
				attempts = append(attempts, a)
				break
			}
			res, a = r.attempt(ctx, t, model, areq, len(attempts)+1, retry, remaining, done)
			attempts = append(attempts, a)
			wait, ok := r.retryWait(a.Outcome, retry.N+1, deadline)
			if !ok || !t.Health.Available(time.Now()) {
				// No retry, or the failure just seen opened the circuit:
				// fail over now rather than wait for a retry that would be
				// skipped.
				break
			}
			if !sleep(ctx, wait) {
				return nil, ErrCanceled
			}
			retry = Retry{N: retry.N + 1, Reason: a.Outcome.Reason, Wait: wait}
		}
		switch {
		case a.Outcome.OK() || a.Outcome.Reason == classify.ClientError,
			a.Outcome.Reason == classify.ContextLength && !r.settings.ContextLengthFailover:
			res.Attempts = attempts
			res.Failover = fo
			if res.Stream != nil && r.settings.Midstream && req.API == provider.APIChat {
				res.Stream.mid = r.continuation(req, order, k+1, n, limit-tried-1, deadline)
			}
			return res, nil
		case a.Outcome.Reason == classify.Canceled:
			return nil, ErrCanceled
		case a.Outcome.Reason == classify.ContextLength:
			tooLong = res
		}
		fo.leave(t.ID, a.Outcome.Reason)
		tried++
		if !a.Outcome.Retryable {
			break
		}
	}
	if tooLong != nil {
		// Nothing with a larger window answered: the refusal says more
		// than a 503 would.
		tooLong.Attempts = attempts
		tooLong.Failover = fo
		return tooLong, nil
	}
	if unsupported != nil && tried == 0 && ctx.Err() == nil && onlyUnsupported(attempts) {
		return unsupportedResult(unsupportedAt, unsupported, attempts, fo), nil
	}
	return nil, &Error{Status: http.StatusServiceUnavailable, Failover: fo, Attempts: attempts}
}

// onlyUnsupported reports whether every target was skipped for a field
// it cannot take: the request, not the providers, is why none answered.
func onlyUnsupported(as []Attempt) bool {
	for _, a := range as {
		if a.Outcome.Reason != classify.UnsupportedRequest {
			return false
		}
	}
	return true
}

// leave records that the request moved away from target for reason; only
// the first move defines the failover's origin.
func (f *Failover) leave(target string, reason classify.Reason) {
	if f.Triggered {
		return
	}
	f.Triggered = true
	f.OriginalProvider = target
	f.Reason = reason
}

// modelFor returns the target's own model when it has one (a route's);
// otherwise it applies model mapping on every target but the one of rank 0
// (the highest priority), whatever its place in the request's order.
func (r *Router) modelFor(rank int, model string) string {
	if m := r.targets[rank].Model; m != "" {
		return m
	}
	if rank == 0 {
		return model
	}
	if m, ok := r.settings.ModelMapping[model]; ok {
		return m
	}
	return model
}

type nopObserver struct{}

func (nopObserver) StartAttempt(ctx context.Context, _ *Attempt) context.Context { return ctx }
func (nopObserver) EndAttempt(context.Context, *Attempt)                         {}
func (nopObserver) Failover(context.Context, FailoverStep)                       {}
