package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// fakeTransport answers every request in memory with a canned OpenAI answer,
// so that a benchmark measures the router, not the network.
type fakeTransport struct{ body []byte }

func (f fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(f.body)),
		ContentLength: int64(len(f.body)),
		Request:       r,
	}, nil
}

// fakeTargets returns n targets (priority i+1, weight i+1) over fakeTransport.
func fakeTargets(n int) []*Target {
	tr := fakeTransport{body: fmt.Appendf(nil, okBody, "gpt-4o-mini")}
	ts := make([]*Target, n)
	for i := range ts {
		id := fmt.Sprintf("t%d", i)
		ts[i] = &Target{
			ID:       id,
			Priority: i + 1,
			Adapter:  openai.New("openai"),
			Endpoint: &provider.Endpoint{BaseURL: "http://127.0.0.1:1/v1", APIKey: "sk-" + id},
			Client:   &http.Client{Transport: tr},
			Health: health.NewTarget(health.Options{ID: id,
				Breaker: health.BreakerSettings{Enabled: true, ConsecutiveFailures: 5, OpenTimeout: time.Minute, HalfOpenRequests: 1},
			}),
		}
	}
	return ts
}

func benchDo(b *testing.B, r *Router, req *Request) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Do(ctx, req)
		if err != nil || res.Status != http.StatusOK {
			b.Fatalf("Do: %v", err)
		}
	}
}

func BenchmarkDoPriority(b *testing.B) {
	s := Settings{Failover: true, MaxAttempts: 2, ModelMapping: mapping, AttemptTimeout: 5 * time.Second}
	benchDo(b, New(fakeTargets(3), s, nil), chatReq(false))
}

func BenchmarkDoWeighted(b *testing.B) {
	s := Settings{Strategy: StrategyWeighted, Failover: true, MaxAttempts: 2, ModelMapping: mapping, AttemptTimeout: 5 * time.Second}
	for _, tc := range []struct {
		name   string
		sticky string
	}{{"random", ""}, {"sticky", "user-42"}} {
		b.Run(tc.name, func(b *testing.B) {
			req := chatReq(false)
			req.StickyKey = tc.sticky
			benchDo(b, New(fakeTargets(3), s, nil), req)
		})
	}
}

// BenchmarkOrderWeighted measures the weighted ordering alone: no heap
// allocation up to stackPicks targets.
func BenchmarkOrderWeighted(b *testing.B) {
	for _, n := range []int{2, 8, 16} {
		b.Run(fmt.Sprint("targets=", n), func(b *testing.B) {
			r := New(fakeTargets(n), Settings{Strategy: StrategyWeighted, Failover: true}, nil)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				var buf [stackPicks]pick
				if o := r.order(buf[:0], "user-42", now); len(o) != n {
					b.Fatal(len(o))
				}
			}
		})
	}
}
