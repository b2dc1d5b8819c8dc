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
// calls at once, each admitted by the target's health and reported as an
// attempt of its own (so breakers and spans see every call), their choices
// merged into one answer with usage summed. done is the first call's
// admission. The calls before the last are appended to *attempts; the
// returned Attempt is the last one, or the first failure, which Do handles
// like any failed attempt (the merged answer is all or nothing).
func (r *Router) fanOut(ctx context.Context, t *Target, model string, req *Request, n int, attempts *[]Attempt, deadline time.Time, done health.Done) (*Result, Attempt) {
	dones := make([]health.Done, 0, n)
	dones = append(dones, done)
	for len(dones) < n {
		d, skip := t.Health.Admit(time.Now(), model)
		if skip != classify.None {
			// The circuit opened meanwhile: give the admissions back and
			// treat the target as skipped.
			for _, d := range dones {
				d(classify.Outcome{Reason: classify.Canceled})
			}
			return nil, Attempt{N: len(*attempts) + 1, Route: r.settings.Route, Target: t.ID, Kind: t.Adapter.Kind(), Model: model,
				Outcome: classify.Skipped(skip), Skipped: true, Start: time.Now()}
		}
		dones = append(dones, d)
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		for _, d := range dones {
			d(classify.Outcome{Reason: classify.Canceled})
		}
		return nil, Attempt{N: len(*attempts) + 1, Route: r.settings.Route, Target: t.ID, Kind: t.Adapter.Kind(), Model: model,
			Outcome: classify.Outcome{Reason: classify.UpstreamTimeout}}
	}
	results := make([]*Result, n)
	as := make([]Attempt, n)
	base := len(*attempts) + 1
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], as[i] = r.attempt(ctx, t, model, req, base+i, Retry{}, remaining, dones[i])
		})
	}
	wg.Wait()
	for i := range n {
		if !as[i].Outcome.OK() {
			*attempts = append(*attempts, as[:i]...)
			*attempts = append(*attempts, as[i+1:]...)
			for _, res := range results {
				res.Release()
			}
			// Renumber so that the failure follows the calls before it.
			as[i].N = len(*attempts) + 1
			return results[i], as[i]
		}
	}
	*attempts = append(*attempts, as[:n-1]...)
	merged := mergeChoices(results)
	for _, res := range results {
		res.Release()
	}
	return merged, as[n-1]
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
