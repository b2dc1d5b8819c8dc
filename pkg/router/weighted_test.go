package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
)

// memTargets returns in-memory targets t0, t1, … (priority i+1) with the
// given weights.
func memTargets(weights ...int) []*Target {
	ts := fakeTargets(len(weights))
	for i, w := range weights {
		ts[i].Weight = w
	}
	return ts
}

func weightedSettings() Settings {
	s := settings(2)
	s.Strategy = StrategyWeighted
	return s
}

// orderIDs is the request order of r for key, as target ids.
func orderIDs(r *Router, key string) []string {
	var buf [stackPicks]pick
	var ids []string
	for _, p := range r.order(buf[:0], key, time.Now()) {
		ids = append(ids, r.targets[p.rank].ID)
	}
	return ids
}

// keyFor finds a sticky key whose first pick is id.
func keyFor(t *testing.T, r *Router, id string) string {
	t.Helper()
	for i := range 1000 {
		k := fmt.Sprint("key-", i)
		if orderIDs(r, k)[0] == id {
			return k
		}
	}
	t.Fatalf("no key picks %s first", id)
	return ""
}

// openCircuit trips t's breaker with provider failures.
func openCircuit(t *testing.T, tg *Target) {
	t.Helper()
	for range 100 {
		done, skip := tg.Health.Admit(time.Now(), "gpt-4o")
		if skip != classify.None {
			break
		}
		done(classify.Outcome{Reason: classify.UpstreamError, Status: 500, Retryable: true, CountsAgainst: true})
	}
	if tg.Health.Available(time.Now()) {
		t.Fatalf("circuit of %s did not open", tg.ID)
	}
}

func TestStrategy(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", StrategyPriority},
		{"priority", StrategyPriority},
		{"weighted", StrategyWeighted},
		{"bogus", StrategyPriority},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s := settings(1)
			s.Strategy = tc.in
			if got := New(memTargets(1, 1), s, nil).Strategy(); got != tc.want {
				t.Fatalf("Strategy() = %q, want %q", got, tc.want)
			}
		})
	}
}

// The split with sticky keys is a pure function of the keys: deterministic,
// so the tolerance only has to cover the hash's deviation from the ideal
// (one sigma of a 20000-draw binomial is at most 0.35%).
func TestWeightedStickySplit(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []float64
	}{
		{"3:1", []int{3, 1}, []float64{0.75, 0.25}},
		{"1:3", []int{1, 3}, []float64{0.25, 0.75}},
		{"1:1", []int{1, 1}, []float64{0.5, 0.5}},
		{"1:2:1", []int{1, 2, 1}, []float64{0.25, 0.5, 0.25}},
		{"weight 0 first in priority", []int{0, 3, 1}, []float64{0, 0.75, 0.25}},
		{"large weights", []int{9000, 1000}, []float64{0.9, 0.1}},
	}
	const keys = 20000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(memTargets(tc.weights...), weightedSettings(), nil)
			got := make(map[string]int)
			for i := range keys {
				got[orderIDs(r, fmt.Sprint("user-", i))[0]]++
			}
			for i, want := range tc.want {
				id := fmt.Sprint("t", i)
				if share := float64(got[id]) / keys; math.Abs(share-want) > 0.03 {
					t.Errorf("%s first-pick share %.4f, want %.2f ± 0.03 (%v)", id, share, want, got)
				}
			}
		})
	}
}

// Without a sticky key each request draws a random key. The first pick of
// 4000 requests at 3:1 is Binomial(4000, 0.75): sigma = sqrt(4000·0.75·0.25)
// ≈ 27 requests ≈ 0.68%, so ±5% is over 7 sigma (failure odds below 1e-12).
func TestWeightedRandomSplit(t *testing.T) {
	const n = 4000
	r := New(memTargets(3, 1), weightedSettings(), nil)
	got := make(map[string]int)
	for range n {
		res, err := r.Do(context.Background(), chatReq(false))
		if err != nil {
			t.Fatal(err)
		}
		if res.Failover.Triggered || len(res.Attempts) != 1 {
			t.Fatalf("healthy split failed over: %+v", res.Attempts)
		}
		got[res.Target.ID]++
	}
	if share := float64(got["t0"]) / n; math.Abs(share-0.75) > 0.05 {
		t.Fatalf("t0 share %.4f, want 0.75 ± 0.05 (%v)", share, got)
	}
}

func TestStickyKeyStable(t *testing.T) {
	mk := func(reverse bool) *Router {
		ts := memTargets(3, 1, 2, 0)
		if reverse {
			slices.Reverse(ts) // list order does not matter, priorities do
		}
		return New(ts, weightedSettings(), nil)
	}
	r1, r2 := mk(false), mk(true)
	for i := range 500 {
		key := fmt.Sprint("user-", i)
		want := orderIDs(r1, key)
		for range 3 {
			if got := orderIDs(r1, key); !slices.Equal(got, want) {
				t.Fatalf("key %s: order %v then %v", key, want, got)
			}
		}
		if got := orderIDs(r2, key); !slices.Equal(got, want) {
			t.Fatalf("key %s: router 1 %v, router 2 %v", key, want, got)
		}
	}
	// Pinned orders: the hash (xxhash of the key and of the target id) is
	// the same in every process and release; a change here moves users.
	golden := map[string]string{
		"user-1":     "t2 t0 t1 t3",
		"user-2":     "t1 t2 t0 t3",
		"alice":      "t0 t2 t1 t3",
		"bob":        "t0 t1 t2 t3",
		"tenant-a/9": "t1 t0 t2 t3",
	}
	for key, want := range golden {
		if got := strings.Join(orderIDs(r1, key), " "); got != want {
			t.Errorf("key %q: order %q, want %q", key, got, want)
		}
	}
	// Through Do: the same key always lands on the same target.
	req := chatReq(false)
	req.StickyKey = "user-1"
	for _, r := range []*Router{r1, r2, r1, r2} {
		res, err := r.Do(context.Background(), req)
		if err != nil || res.Target.ID != "t2" || res.Failover.Triggered {
			t.Fatalf("Do with key user-1: %+v %v", res, err)
		}
	}
}

// Rendezvous hashing: removing a target only moves the keys it had, and
// leaves the relative order of the others unchanged.
func TestWeightedRemoveTarget(t *testing.T) {
	weights := []int{1, 2, 1, 3}
	full := New(memTargets(weights...), weightedSettings(), nil)
	for removed := range weights {
		t.Run(fmt.Sprint("without t", removed), func(t *testing.T) {
			rest := slices.Delete(memTargets(weights...), removed, removed+1)
			less := New(rest, weightedSettings(), nil)
			gone := fmt.Sprint("t", removed)
			moved, had := 0, 0
			for i := range 5000 {
				key := fmt.Sprint("user-", i)
				before, after := orderIDs(full, key), orderIDs(less, key)
				if before[0] == gone {
					had++
				}
				if before[0] != after[0] {
					moved++
					if before[0] != gone {
						t.Fatalf("key %s moved %s -> %s though %s was removed", key, before[0], after[0], gone)
					}
				}
				if want := slices.DeleteFunc(before, func(id string) bool { return id == gone }); !slices.Equal(after, want) {
					t.Fatalf("key %s: order %v, want %v", key, after, want)
				}
			}
			if moved != had || had == 0 {
				t.Fatalf("moved %d keys, %d were on %s", moved, had, gone)
			}
		})
	}
}

// The parts of the order that do not depend on the hash: weight-0 targets
// after weighted ones in priority order, unavailable targets last in their
// relative order.
func TestWeightedOrderRules(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		down    []int
		want    string
	}{
		{name: "weight 0 never first", weights: []int{0, 1}, want: "t1 t0"},
		{name: "weight 0 in priority order", weights: []int{0, 5, 0, 0}, want: "t1 t0 t2 t3"},
		{name: "weight 0 picked when the weighted are down", weights: []int{0, 1, 0}, down: []int{1}, want: "t0 t2 t1"},
		{name: "unavailable weighted last", weights: []int{1, 1000}, down: []int{1}, want: "t0 t1"},
		{name: "all down keep split order", weights: []int{0, 1}, down: []int{0, 1}, want: "t1 t0"},
		{name: "down weight 0 after up weight 0", weights: []int{1, 0, 0}, down: []int{1}, want: "t0 t2 t1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := memTargets(tc.weights...)
			for _, i := range tc.down {
				openCircuit(t, ts[i])
			}
			r := New(ts, weightedSettings(), nil)
			for i := range 200 {
				if got := strings.Join(orderIDs(r, fmt.Sprint("user-", i)), " "); got != tc.want {
					t.Fatalf("order %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// An unhealthy target is out of the split: its share goes to the others
// without a failover, and it is reached (as a skip) only after they failed.
func TestWeightedUnhealthyExcluded(t *testing.T) {
	tests := []struct {
		name     string
		sick     func(t *testing.T, tg *Target)
		otherOK  bool
		wantSkip classify.Reason
	}{
		{name: "probe unhealthy", sick: func(_ *testing.T, tg *Target) {
			tg.Health.RecordProbe(time.Now(), 0, errors.New("down"))
		}, otherOK: true},
		{name: "circuit open", sick: openCircuit, otherOK: true},
		{name: "probe unhealthy reached last", sick: func(_ *testing.T, tg *Target) {
			tg.Health.RecordProbe(time.Now(), 0, errors.New("down"))
		}, wantSkip: classify.ProviderUnhealthy},
		{name: "circuit open reached last", sick: openCircuit, wantSkip: classify.CircuitOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sickUp := newUpstream(t, answer)
			h := status(500)
			if tc.otherOK {
				h = answer
			}
			other := newUpstream(t, h)
			a := newTarget(t, "a", 1, sickUp.URL, targetOpts{probe: true, weight: 3, breakerFailures: 1})
			b := newTarget(t, "b", 2, other.URL, targetOpts{weight: 1})
			r := New([]*Target{a, b}, weightedSettings(), nil)
			key := keyFor(t, r, "a") // a's key while healthy
			tc.sick(t, a)
			req := chatReq(false)
			for _, k := range []string{key, "", "user-1", "user-2"} {
				req.StickyKey = k
				res, err := r.Do(context.Background(), req)
				if tc.otherOK {
					if err != nil || res.Target.ID != "b" || res.Failover.Triggered || len(res.Attempts) != 1 || res.Model != mapping["gpt-4o-mini"] {
						t.Fatalf("key %q: %+v %v", k, res, err)
					}
					continue
				}
				var re *Error
				if !errors.As(err, &re) || len(re.Attempts) != 2 {
					t.Fatalf("key %q: want *Error with 2 attempts, got %v", k, err)
				}
				first, last := re.Attempts[0], re.Attempts[1]
				if first.Target != "b" || first.Outcome.Reason != classify.UpstreamError ||
					last.Target != "a" || !last.Skipped || last.Outcome.Reason != tc.wantSkip ||
					re.Failover.OriginalProvider != "b" {
					t.Fatalf("key %q: attempts %+v failover %+v", k, re.Attempts, re.Failover)
				}
			}
			if sickUp.calls.Load() != 0 {
				t.Fatalf("unhealthy target called %d times", sickUp.calls.Load())
			}
		})
	}
}

// A failing pick fails over inside the split; model mapping follows the
// rank rule: mapped everywhere but on the highest-priority target.
func TestWeightedFailover(t *testing.T) {
	const mapped = "claude-sonnet-4-20250514"
	tests := []struct {
		first, next           string
		firstModel, nextModel string
	}{
		{first: "primary", next: "secondary", firstModel: "gpt-4o-mini", nextModel: mapped},
		{first: "secondary", next: "primary", firstModel: mapped, nextModel: "gpt-4o-mini"},
	}
	for _, tc := range tests {
		t.Run(tc.first+" fails", func(t *testing.T) {
			bad := newUpstream(t, status(500))
			good := newUpstream(t, answer)
			url := map[string]string{tc.first: bad.URL, tc.next: good.URL}
			obs := &recObserver{}
			r := New([]*Target{
				newTarget(t, "secondary", 2, url["secondary"], targetOpts{weight: 1}),
				newTarget(t, "primary", 1, url["primary"], targetOpts{weight: 1}),
			}, weightedSettings(), obs)
			req := chatReq(false)
			req.StickyKey = keyFor(t, r, tc.first)
			res, err := r.Do(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Target.ID != tc.next || res.Model != tc.nextModel || len(res.Attempts) != 2 {
				t.Fatalf("answered by %s with %s, attempts %+v", res.Target.ID, res.Model, res.Attempts)
			}
			if f := res.Failover; !f.Triggered || f.OriginalProvider != tc.first || f.Reason != classify.UpstreamError {
				t.Fatalf("failover %+v", f)
			}
			if got := <-bad.models; got != tc.firstModel {
				t.Fatalf("%s was sent model %s, want %s", tc.first, got, tc.firstModel)
			}
			want := []string{
				"start 1 " + tc.first,
				"end 1 " + tc.first + " upstream_error ctx=1",
				fmt.Sprintf("failover %s->%s upstream_error %s->%s", tc.first, tc.next, tc.firstModel, tc.nextModel),
				"start 2 " + tc.next,
				"end 2 " + tc.next + "  ctx=2",
			}
			if strings.Join(obs.calls, "\n") != strings.Join(want, "\n") {
				t.Fatalf("observer calls:\n%s\nwant:\n%s", strings.Join(obs.calls, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Failover off with weighted: the split still applies, and exactly one
// target is tried.
func TestWeightedNoFailover(t *testing.T) {
	tests := []struct{ first, model string }{
		{"primary", "gpt-4o-mini"},
		{"secondary", "claude-sonnet-4-20250514"},
	}
	for _, tc := range tests {
		t.Run(tc.first, func(t *testing.T) {
			p, s := newUpstream(t, status(500)), newUpstream(t, status(500))
			set := weightedSettings()
			set.Failover = false
			r := New([]*Target{
				newTarget(t, "primary", 1, p.URL, targetOpts{weight: 1}),
				newTarget(t, "secondary", 2, s.URL, targetOpts{weight: 1}),
			}, set, nil)
			if len(r.Targets()) != 2 {
				t.Fatalf("weighted router kept %d targets", len(r.Targets()))
			}
			req := chatReq(false)
			req.StickyKey = keyFor(t, r, tc.first)
			_, err := r.Do(context.Background(), req)
			var re *Error
			if !errors.As(err, &re) || len(re.Attempts) != 1 || re.Attempts[0].Target != tc.first || re.Attempts[0].Model != tc.model {
				t.Fatalf("want one attempt on %s with %s, got %v", tc.first, tc.model, err)
			}
			if n := p.calls.Load() + s.calls.Load(); n != 1 {
				t.Fatalf("%d upstream calls, want 1", n)
			}
		})
	}
}

// The priority strategy ignores weights and sticky keys.
func TestPriorityIgnoresWeights(t *testing.T) {
	r := New(memTargets(1, 1000), settings(1), nil)
	if r.Strategy() != StrategyPriority {
		t.Fatalf("strategy %s", r.Strategy())
	}
	req := chatReq(false)
	for i := range 50 {
		req.StickyKey = fmt.Sprint("user-", i)
		res, err := r.Do(context.Background(), req)
		if err != nil || res.Target.ID != "t0" || res.Model != "gpt-4o-mini" {
			t.Fatalf("key %s: %+v %v", req.StickyKey, res, err)
		}
	}
}

func TestUnitHashOpenInterval(t *testing.T) {
	for _, k := range []uint64{0, 1, math.MaxUint64, 0xdeadbeef} {
		for _, id := range []uint64{0, 1, math.MaxUint64} {
			if u := unitHash(k, id); !(u > 0 && u < 1) || math.IsInf(-1/math.Log(u), 0) {
				t.Fatalf("unitHash(%d, %d) = %v", k, id, u)
			}
		}
	}
	// The extremes of the mapping itself.
	for _, h := range []uint64{0, math.MaxUint64} {
		if u := (float64(h>>12) + 0.5) / (1 << 52); !(u > 0 && u < 1) {
			t.Fatalf("h=%x maps to %v", h, u)
		}
	}
}
