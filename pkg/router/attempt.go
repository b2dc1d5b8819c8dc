package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// maxErrorBody bounds how much of an upstream error answer is read.
const maxErrorBody = 64 << 10

// errResponseTooLarge marks an answer above Settings.MaxResponseBytes.
var errResponseTooLarge = errors.New("upstream answer exceeds max_response_body_bytes")

// attempt makes one try against t. Every exit reports the outcome through
// done exactly once, except a stream's success, which is reported by the
// Stream when it ends. budget is what is left of the request's time.
func (r *Router) attempt(ctx context.Context, t *Target, model string, req *Request, budget time.Duration, done health.Done) (*Result, Attempt) {
	a := Attempt{Target: t.ID, Kind: t.Adapter.Kind(), Model: model, Start: time.Now()}
	timeout := r.settings.AttemptTimeout
	if req.Stream && r.settings.FirstTokenTimeout > 0 {
		timeout = min(timeout, r.settings.FirstTokenTimeout)
	}
	timeout = min(timeout, budget)

	actx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(timeout, func() { cancel(errAttemptTimeout) })
	finish := func(out classify.Outcome) {
		timer.Stop()
		cancel(nil)
		done(out)
		a.Outcome = out
		a.Duration = time.Since(a.Start)
	}

	preq := &provider.Request{Body: req.Body, Model: model, Stream: req.Stream, Header: req.Header}
	if t.ForwardClientAuth {
		preq.APIKey = req.ClientAuth
	}
	hreq, err := t.Adapter.ChatRequest(actx, t.Endpoint, preq)
	if err != nil {
		var re *provider.RequestError
		if errors.As(err, &re) {
			finish(classify.Outcome{Reason: classify.ClientError, Status: http.StatusBadRequest})
			body := provider.ErrorJSON(re.Message+" (target "+t.ID+")", provider.ErrTypeInvalidRequest, re.Param, "unsupported_parameter")
			return &Result{Target: t, Model: model, Status: http.StatusBadRequest, Body: body}, a
		}
		finish(classify.Outcome{Reason: classify.UpstreamError, Retryable: true})
		return nil, a
	}
	resp, err := t.Client.Do(hreq)
	if err != nil {
		finish(r.classifyErr(ctx, actx, err))
		return nil, a
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := readBody(resp.Body, maxErrorBody)
		_ = resp.Body.Close()
		out := classify.Status(resp.StatusCode, resp.Header)
		finish(out)
		if out.Reason != classify.ClientError {
			return nil, a
		}
		return &Result{Target: t, Model: model, Status: resp.StatusCode, Body: t.Adapter.ErrorBody(resp.StatusCode, body)}, a
	}
	if !req.Stream {
		return r.finishWhole(ctx, actx, t, preq, resp, &a, finish)
	}
	return r.startStream(ctx, actx, t, preq, resp, &a, timer, cancel, done)
}

func (r *Router) finishWhole(ctx, actx context.Context, t *Target, preq *provider.Request, resp *http.Response, a *Attempt, finish func(classify.Outcome)) (*Result, Attempt) {
	body, err := readBody(resp.Body, r.settings.MaxResponseBytes)
	_ = resp.Body.Close()
	if err != nil {
		if errors.Is(err, errResponseTooLarge) {
			finish(classify.Outcome{Reason: classify.UpstreamError, Status: resp.StatusCode})
		} else {
			finish(r.classifyErr(ctx, actx, err))
		}
		return nil, *a
	}
	pr, err := t.Adapter.ChatResponse(body, preq)
	if err != nil {
		// The provider said 2xx but sent something we cannot use.
		finish(classify.Outcome{Reason: classify.UpstreamError, Status: resp.StatusCode, Retryable: true, CountsAgainst: true})
		return nil, *a
	}
	finish(classify.Success)
	a.Usage, a.ResponseModel, a.FinishReasons = pr.Usage, pr.Model, pr.FinishReasons
	model := pr.Model
	if model == "" {
		model = preq.Model
	}
	return &Result{Target: t, Model: model, Status: http.StatusOK, Body: pr.Body, Usage: pr.Usage}, *a
}

// startStream reads the upstream stream until it has the first bytes for the
// client. Until then a failure may still fail over; once the Stream is
// returned the response is committed.
func (r *Router) startStream(ctx, actx context.Context, t *Target, preq *provider.Request, resp *http.Response, a *Attempt, timer *time.Timer, cancel context.CancelCauseFunc, done health.Done) (*Result, Attempt) {
	fail := func(out classify.Outcome) (*Result, Attempt) {
		_ = resp.Body.Close()
		timer.Stop()
		cancel(nil)
		done(out)
		a.Outcome = out
		a.Duration = time.Since(a.Start)
		return nil, *a
	}
	s := &Stream{
		target: t,
		body:   resp.Body,
		rd:     sse.NewReader(resp.Body),
		tr:     t.Adapter.NewStream(preq),
		cancel: cancel,
		done:   done,
		ctx:    ctx,
	}
	for len(s.pending) == 0 {
		ev, err := s.rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if ctx.Err() == nil && context.Cause(actx) == nil {
					return fail(classify.Outcome{Reason: classify.ConnectionError, Status: resp.StatusCode, Retryable: true, CountsAgainst: true})
				}
			}
			return fail(r.classifyErr(ctx, actx, err))
		}
		s.pending, err = s.tr.Event(s.pending, ev)
		if err != nil {
			// An error event before anything reached the client: fail over.
			return fail(classify.Outcome{Reason: classify.UpstreamError, Status: resp.StatusCode, Retryable: true, CountsAgainst: true})
		}
	}
	if !timer.Stop() {
		// The attempt timer fired while the first event arrived: the
		// context is cancelled, the stream cannot go on.
		return fail(classify.Outcome{Reason: classify.UpstreamTimeout, Retryable: true, CountsAgainst: true})
	}
	a.Outcome = classify.Success
	a.Duration = time.Since(a.Start)
	return &Result{Target: t, Model: preq.Model, Status: http.StatusOK, Stream: s}, *a
}

// classifyErr classifies a transport error, telling the attempt's own
// timeout apart from the client going away.
func (r *Router) classifyErr(ctx, actx context.Context, err error) classify.Outcome {
	if ctx.Err() == nil && errors.Is(context.Cause(actx), errAttemptTimeout) {
		return classify.Outcome{Reason: classify.UpstreamTimeout, Retryable: true, CountsAgainst: true}
	}
	return classify.Error(ctx, err)
}

// readBody reads at most limit bytes; more is errResponseTooLarge.
func readBody(rc io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("read answer: %w", errResponseTooLarge)
	}
	return buf.Bytes(), nil
}
