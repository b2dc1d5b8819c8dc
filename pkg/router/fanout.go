package router

import (
	"context"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// fanOut answers n > 1 on a target that returns one choice per call: n
// calls, each admitted by the target's health and reported as an attempt
// of its own (so breakers and spans see every call), their choices merged
// into one answer with usage summed. done is the first call's admission.
// The calls before the last are appended to *attempts; the returned
// Attempt is the last one, or the first failure or refusal, which Do
// handles like any failed or skipped attempt (the merged answer is all or
// nothing).
//
// The calls go out in rounds of as many as the breaker admits at once.
// Closed, that is all n in one round. Half-open, the breaker lets a few
// trials through (half_open_requests, one by default) and done is one of
// them: holding all n admissions first would be refused and skip a target
// that is ready to be tried. So the admitted calls go first, as the
// trials; once they succeed (closing the circuit) the rest follow. A
// failed trial ends the request's use of the target after one call, as
// for a request without n.
func (r *Router) fanOut(ctx context.Context, t *Target, model string, req *Request, n int, attempts *[]Attempt, deadline time.Time, done health.Done) (*Result, Attempt) {
	results := make([]*Result, 0, n)
	release := func() {
		for _, res := range results {
			res.Release()
		}
	}
	held := []health.Done{done}
	for len(results) < n {
		dones, skip := admitUpTo(t, model, held, n-len(results))
		held = nil
		if len(dones) == 0 {
			// Refused after a round went through: the circuit opened (or a
			// cooldown began) meanwhile. The target is left as skipped.
			release()
			a := Attempt{N: len(*attempts) + 1, Route: r.settings.Route, API: req.API, Target: t.ID, Kind: t.Adapter.Kind(), Model: model,
				Outcome: classify.Skipped(skip), Skipped: true, Start: time.Now()}
			r.observer.EndAttempt(ctx, &a)
			return nil, a
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			for _, d := range dones {
				d(classify.Outcome{Reason: classify.Canceled}) // not the target's fault
			}
			release()
			a := Attempt{N: len(*attempts) + 1, Route: r.settings.Route, API: req.API, Target: t.ID, Kind: t.Adapter.Kind(), Model: model,
				Outcome: classify.Outcome{Reason: classify.UpstreamTimeout}, Skipped: true, Start: time.Now()}
			r.observer.EndAttempt(ctx, &a)
			return nil, a
		}
		k := len(dones)
		rs := make([]*Result, k)
		as := make([]Attempt, k)
		base := len(*attempts) + 1
		var wg sync.WaitGroup
		for i := range k {
			wg.Go(func() {
				rs[i], as[i] = r.attempt(ctx, t, model, req, base+i, Retry{}, remaining, dones[i])
			})
		}
		wg.Wait()
		for i := range k {
			if !as[i].Outcome.OK() {
				*attempts = append(*attempts, as[:i]...)
				*attempts = append(*attempts, as[i+1:]...)
				release()
				for j, res := range rs {
					if j != i {
						res.Release()
					}
				}
				// Renumber so that the failure follows the calls before it.
				as[i].N = len(*attempts) + 1
				return rs[i], as[i]
			}
		}
		results = append(results, rs...)
		*attempts = append(*attempts, as...)
	}
	last := (*attempts)[len(*attempts)-1]
	*attempts = (*attempts)[:len(*attempts)-1]
	merged := mergeChoices(results)
	release()
	return merged, last
}

// admitUpTo adds admissions of t to dones until it holds want or t
// refuses one; the refusal's reason is returned with them.
func admitUpTo(t *Target, model string, dones []health.Done, want int) ([]health.Done, classify.Reason) {
	for len(dones) < want {
		d, skip := t.Health.Admit(time.Now(), model)
		if skip != classify.None {
			return dones, skip
		}
		dones = append(dones, d)
	}
	return dones, classify.None
}

// mergeChoices joins single-choice answers into one: the first answer's
// fields, every answer's choices renumbered 0..n-1, usage summed.
func mergeChoices(results []*Result) *Result {
	first := results[0]
	choices := make([]byte, 0, 256*len(results))
	choices = append(choices, '[')
	var usage provider.Usage
	var prompt, completion int64
	idx := 0
	for _, res := range results {
		usage.InputTokens += res.Usage.InputTokens
		usage.OutputTokens += res.Usage.OutputTokens
		usage.CacheReadTokens += res.Usage.CacheReadTokens
		usage.CacheCreationTokens += res.Usage.CacheCreationTokens
		prompt += gjson.GetBytes(res.Body, "usage.prompt_tokens").Int()
		completion += gjson.GetBytes(res.Body, "usage.completion_tokens").Int()
		gjson.GetBytes(res.Body, "choices").ForEach(func(_, c gjson.Result) bool {
			raw, err := sjson.Set(c.Raw, "index", idx)
			if err != nil {
				raw = c.Raw
			}
			if idx > 0 {
				choices = append(choices, ',')
			}
			choices = append(choices, raw...)
			idx++
			return true
		})
	}
	choices = append(choices, ']')
	body, err := sjson.SetRawBytes(append([]byte(nil), first.Body...), "choices", choices)
	if err != nil {
		body = append([]byte(nil), first.Body...)
	}
	if gjson.GetBytes(body, "usage").Exists() {
		body, _ = sjson.SetBytes(body, "usage.prompt_tokens", prompt)
		body, _ = sjson.SetBytes(body, "usage.completion_tokens", completion)
		body, _ = sjson.SetBytes(body, "usage.total_tokens", prompt+completion)
	}
	return &Result{Target: first.Target, Model: first.Model, Status: first.Status, Body: body, Usage: usage}
}
