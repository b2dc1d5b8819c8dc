package router

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// TestAPINotServedSkips: a target whose kind does not serve the request's
// API is skipped with unsupported_request, the next one that does answers,
// and a request no target serves is a 400 naming the path, not a 503.
func TestAPINotServedSkips(t *testing.T) {
	up := newUpstream(t, answer)
	noEmb := newTarget(t, "no-embeddings", 1, up.URL, targetOpts{})
	emb := newTarget(t, "embeddings", 2, up.URL, targetOpts{})
	emb.APIs[provider.APIEmbeddings] = emb.Adapter // serves it (the chat adapter stands in)

	tests := []struct {
		name      string
		targets   []*Target
		wantOK    string // target that answers; "" = refused
		wantSkips int
	}{
		{"served by the fallback", []*Target{noEmb, emb}, "embeddings", 1},
		{"served by nobody", []*Target{noEmb}, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := New(tc.targets, settings(2), nil)
			res, err := rt.Do(context.Background(), embReq())
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			skips := 0
			for _, a := range res.Attempts {
				if a.API != provider.APIEmbeddings {
					t.Errorf("attempt %d API = %v", a.N, a.API)
				}
				if a.Skipped && a.Outcome.Reason == classify.UnsupportedRequest {
					skips++
				}
			}
			if skips != tc.wantSkips {
				t.Errorf("unsupported skips = %d, want %d", skips, tc.wantSkips)
			}
			if tc.wantOK == "" {
				if res.Status != 400 || !strings.Contains(string(res.Body), "/v1/embeddings") {
					t.Fatalf("status %d body %s, want a 400 naming the path", res.Status, res.Body)
				}
				return
			}
			if res.Status != 200 || res.Target.ID != tc.wantOK {
				t.Fatalf("answered by %v (status %d), want %s", res.Target, res.Status, tc.wantOK)
			}
		})
	}
}

// TestPinStaysOnTarget: a pinned request goes only to its target: not to
// a healthier one before it, and not elsewhere when the pinned one fails.
func TestPinStaysOnTarget(t *testing.T) {
	good := newUpstream(t, answer)
	bad := newUpstream(t, status(503))
	first := newTarget(t, "first", 1, good.URL, targetOpts{})
	pinnedOK := newTarget(t, "pinned-ok", 2, good.URL, targetOpts{})
	pinnedDown := newTarget(t, "pinned-down", 3, bad.URL, targetOpts{})
	last := newTarget(t, "last", 4, good.URL, targetOpts{})
	rt := New([]*Target{first, pinnedOK, pinnedDown, last}, settings(3), nil)

	req := chatReq(false)
	req.Pin = "pinned-ok"
	res, err := rt.Do(context.Background(), req)
	if err != nil || res.Target.ID != "pinned-ok" || len(res.Attempts) != 1 || res.Failover.Triggered {
		t.Fatalf("pinned-ok: res %+v err %v", res, err)
	}

	req = chatReq(false)
	req.Pin = "pinned-down"
	_, err = rt.Do(context.Background(), req)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("pinned-down: err %v, want *Error", err)
	}
	if len(re.Attempts) != 1 || re.Attempts[0].Target != "pinned-down" {
		t.Fatalf("pinned-down attempts %+v, want one on pinned-down", re.Attempts)
	}
	if n := bad.calls.Load(); n != 1 {
		t.Errorf("pinned-down upstream calls = %d, want 1", n)
	}
}

// TestEmbeddingsStayOnOneModel: an embeddings request fails over only to
// targets asked for the first choice's model, also when the first choice
// is skipped for its circuit; AllowModelChange lifts the rule.
func TestEmbeddingsStayOnOneModel(t *testing.T) {
	down := newUpstream(t, status(503))
	good := newUpstream(t, answer)
	tests := []struct {
		name      string
		allow     bool
		openFirst bool // the primary's circuit is open: it is skipped, not tried
		wantOK    string
	}{
		{name: "same model answers", wantOK: "same"},
		{name: "same model answers with the primary's circuit open", openFirst: true, wantOK: "same"},
		{name: "allowed: the other model answers", allow: true, wantOK: "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			primary := newTarget(t, "primary", 1, down.URL, targetOpts{breakerFailures: 1})
			other := newTarget(t, "other", 2, good.URL, targetOpts{})
			other.Model = "text-embedding-3-large"
			same := newTarget(t, "same", 3, good.URL, targetOpts{})
			for _, tg := range []*Target{primary, other, same} {
				tg.APIs[provider.APIEmbeddings] = tg.Adapter
			}
			s := settings(2)
			s.AllowModelChange = tc.allow
			rt := New([]*Target{primary, other, same}, s, nil)
			if tc.openFirst {
				// One failure opens the primary's circuit.
				_, _ = rt.Do(context.Background(), embReq())
			}
			res, err := rt.Do(context.Background(), embReq())
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if res.Target.ID != tc.wantOK {
				t.Fatalf("answered by %s, want %s (attempts %+v)", res.Target.ID, tc.wantOK, res.Attempts)
			}
			for _, a := range res.Attempts {
				if a.Target == "other" && !tc.allow && a.Outcome.Reason != classify.UnsupportedRequest {
					t.Errorf("other (another model) was %s, want skipped unsupported_request", a.Outcome.Reason)
				}
			}
		})
	}
}

func embReq() *Request {
	return &Request{API: provider.APIEmbeddings, Body: []byte(`{"model":"text-embedding-3-small","input":"hi"}`), Model: "text-embedding-3-small"}
}
