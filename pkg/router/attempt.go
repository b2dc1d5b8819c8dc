package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// maxErrorBody bounds how much of an upstream error answer is read.
const maxErrorBody = 64 << 10

// errResponseTooLarge marks an answer above Settings.MaxResponseBytes.
var errResponseTooLarge = errors.New("upstream answer exceeds max_response_body_bytes")

// attempt makes one try against t. Every exit reports the outcome through
// done and the observer exactly once, except a stream's success, which the
// Stream reports when it ends. budget is what is left of the request's time;
// retry marks a same-target retry (zero for a first try).
func (r *Router) attempt(ctx context.Context, t *Target, model string, req *Request, n int, retry Retry, budget time.Duration, done health.Done) (*Result, Attempt) {
	ad := t.For(req.API)
	a := Attempt{N: n, Route: r.settings.Route, API: req.API, Target: t.ID, Kind: t.Adapter.Kind(), Model: model, Stream: req.Stream, Start: time.Now(), Retry: retry, Seam: req.seam, DroppedParams: req.dropped, MappedParams: req.mapped}
	octx := r.observer.StartAttempt(ctx, &a)
	timeout := r.settings.AttemptTimeout
	if req.Stream && r.settings.FirstTokenTimeout > 0 {
		timeout = min(timeout, r.settings.FirstTokenTimeout)
	}
	timeout = min(timeout, budget)

	actx, cancel := context.WithCancelCause(octx)
	timer := time.AfterFunc(timeout, func() { cancel(errAttemptTimeout) })
	at := &attemptRun{r: r, ctx: ctx, octx: octx, actx: actx, cancel: cancel, timer: timer, done: done, a: &a}

	preq := &provider.Request{Body: req.Body, Model: model, BodyModel: req.Model, Stream: req.Stream, Header: req.Header, Method: req.Method, ResourceID: req.ResourceID}
	if t.ForwardClientAuth {
		preq.APIKey = req.ClientAuth
	}
	hreq, err := ad.ChatRequest(actx, t.Endpoint, preq)
	if err != nil {
		var re *provider.RequestError
		if errors.As(err, &re) {
			at.finish(classify.Outcome{Reason: classify.ClientError, Status: http.StatusBadRequest})
			body := provider.ErrorJSON(re.Message+" (target "+t.ID+")", provider.ErrTypeInvalidRequest, re.Param, "unsupported_parameter")
			return &Result{Target: t, Model: model, Status: http.StatusBadRequest, Body: body}, a
		}
		at.finish(classify.Outcome{Reason: classify.UpstreamError, Retryable: true})
		return nil, a
	}
	resp, err := t.roundTrip(hreq)
	if err != nil {
		at.finish(at.classifyErr(err))
		return nil, a
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := readBody(resp.Body, maxErrorBody, resp.ContentLength)
		_ = resp.Body.Close()
		out := classify.Response(resp.StatusCode, resp.Header, body)
		at.finish(out)
		if out.Reason != classify.ClientError && out.Reason != classify.ContextLength {
			return nil, a
		}
		return &Result{Target: t, Model: model, Status: resp.StatusCode, Body: ad.ErrorBody(resp.StatusCode, body)}, a
	}
	if !req.Stream {
		return r.finishWhole(at, t, ad, preq, resp)
	}
	return r.startStream(at, t, ad, preq, resp)
}

// attemptRun is the state of one attempt in flight.
type attemptRun struct {
	r      *Router
	ctx    context.Context // the client's
	octx   context.Context // the observer's (carries the attempt span)
	actx   context.Context // the attempt's own, cancelled by its timer
	cancel context.CancelCauseFunc
	timer  *time.Timer
	done   health.Done
	a      *Attempt
}

// finish ends the attempt with out: stops its timer, reports to the breaker
// and the observer.
func (at *attemptRun) finish(out classify.Outcome) {
	at.timer.Stop()
	at.cancel(nil)
	at.done(out)
	at.a.Outcome = out
	at.a.Duration = time.Since(at.a.Start)
	at.r.observer.EndAttempt(at.octx, at.a)
}

// classifyErr classifies a transport error, telling the attempt's own
// timeout apart from the client going away.
func (at *attemptRun) classifyErr(err error) classify.Outcome {
	if at.ctx.Err() == nil && errors.Is(context.Cause(at.actx), errAttemptTimeout) {
		return classify.Outcome{Reason: classify.UpstreamTimeout, Retryable: true, CountsAgainst: true}
	}
	return classify.Error(at.ctx, err)
}

func (r *Router) finishWhole(at *attemptRun, t *Target, ad provider.Adapter, preq *provider.Request, resp *http.Response) (*Result, Attempt) {
	a := at.a
	answer, err := readAnswer(resp.Body, r.settings.MaxResponseBytes, resp.ContentLength)
	_ = resp.Body.Close()
	if err != nil {
		if errors.Is(err, errResponseTooLarge) {
			at.finish(classify.Outcome{Reason: classify.UpstreamError, Status: resp.StatusCode})
		} else {
			// The status line did arrive: keep it, so that a body cut or
			// stalled after a 200 is not told as a connection that failed
			// before any answer.
			out := at.classifyErr(err)
			out.Status = resp.StatusCode
			at.finish(out)
		}
		return nil, *a
	}
	pr, err := ad.ChatResponse(answer.Bytes(), preq)
	if err != nil {
		releaseAnswer(answer)
		// The provider said 2xx but sent something we cannot use.
		at.finish(classify.Outcome{Reason: classify.UpstreamError, Status: resp.StatusCode, Retryable: true, CountsAgainst: true})
		return nil, *a
	}
	a.Usage, a.ResponseModel, a.FinishReasons = pr.Usage, pr.Model, pr.FinishReasons
	at.finish(classify.Success)
	model := pr.Model
	if model == "" {
		model = preq.Model
	}
	return &Result{Target: t, Model: model, Status: http.StatusOK, Body: pr.Body, Usage: pr.Usage, answer: answer}, *a
}

// startStream reads the upstream stream until its first content delta (text,
// tool call, refusal), holding back the lifecycle frames before it (a
// role-only chunk, message_start, pings): until then the attempt's timer
// (first_token_timeout_seconds) runs and a failure may still fail over with
// nothing sent to the client. A stream that ends complete without any
// content is committed whole. Once the Stream is returned the response is
// committed and the Stream owns the attempt.
//
// The held frames are the translator's output appended in one buffer, as
// they would have been handed out one by one: no frame is copied for it.
func (r *Router) startStream(at *attemptRun, t *Target, ad provider.Adapter, preq *provider.Request, resp *http.Response) (*Result, Attempt) {
	a := at.a
	fail := func(out classify.Outcome) (*Result, Attempt) {
		_ = resp.Body.Close()
		at.finish(out)
		return nil, *a
	}
	s := &Stream{
		run:  at,
		body: resp.Body,
		rd:   provider.NewEventReader(ad, resp.Body),
		tr:   ad.NewStream(preq),
	}
	for !s.tr.Content() && !s.tr.Done() {
		ev, err := s.rd.Next()
		if err != nil {
			if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && at.ctx.Err() == nil && context.Cause(at.actx) == nil {
				if errors.Is(err, io.EOF) {
					if out, ferr := s.tr.Finish(s.pending); ferr == nil {
						// Complete without content (an empty answer).
						// Ended once it is handed out (see Next), not
						// before: the client may still fail to get it.
						s.pending, s.eof = out, true
						break
					}
				}
				return fail(classify.Outcome{Reason: classify.ConnectionError, Status: resp.StatusCode, Retryable: true, CountsAgainst: true})
			}
			return fail(at.classifyErr(err))
		}
		s.pending, err = s.tr.Event(s.pending, ev)
		if err != nil {
			// An error event (or a malformed one) before anything reached
			// the client: retry or fail over.
			out := classify.Outcome{Reason: classify.UpstreamError, Status: resp.StatusCode, Retryable: true, CountsAgainst: true}
			if errors.Is(err, provider.ErrMalformedEvent) {
				out.Detail = classify.DetailMalformed
			}
			return fail(out)
		}
	}
	if !at.timer.Stop() {
		// The attempt timer fired as the first content arrived: the
		// context is cancelled, the stream cannot go on.
		return fail(classify.Outcome{Reason: classify.UpstreamTimeout, Retryable: true, CountsAgainst: true})
	}
	if s.pending == nil {
		s.pending = []byte{} // handed out as nothing: Next knows it is committed
	}
	if d := r.settings.StreamIdleTimeout; d > 0 && !s.eof {
		s.idle = newIdleWatch(d, func() { at.cancel(errStreamStall) })
	}
	a.FirstByte = time.Since(a.Start)
	a.Duration = a.FirstByte
	a.Outcome = classify.Success
	return &Result{Target: t, Model: preq.Model, Status: http.StatusOK, Stream: s}, *a
}

// readBody reads at most limit bytes; more is errResponseTooLarge.
func readBody(rc io.Reader, limit int64, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if err := readInto(&buf, rc, limit, size); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// answerPool holds the buffers whole answers are read into, handed back by
// Result.Release once the answer is written.
var answerPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledAnswer is the largest answer buffer kept for the next answer.
const maxPooledAnswer = 64 << 10

// readAnswer is readBody into a pooled buffer (see releaseAnswer).
func readAnswer(rc io.Reader, limit int64, size int64) (*bytes.Buffer, error) {
	buf := answerPool.Get().(*bytes.Buffer)
	buf.Reset()
	if err := readInto(buf, rc, limit, size); err != nil {
		releaseAnswer(buf)
		return nil, err
	}
	return buf, nil
}

func releaseAnswer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledAnswer {
		answerPool.Put(buf)
	}
}

// readInto reads at most limit bytes into buf; more is
// errResponseTooLarge. A known length sizes the buffer once, with room to
// spare for what the caller appends (the gateway's metadata).
func readInto(buf *bytes.Buffer, rc io.Reader, limit int64, size int64) error {
	if size > 0 && size <= limit {
		buf.Grow(int(size) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(rc, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("read answer: %w", errResponseTooLarge)
	}
	return nil
}
