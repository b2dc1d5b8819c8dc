package sim

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
)

func TestAdminAPI(t *testing.T) {
	h := newHarness(t, Options{Kind: KindAnthropic})
	var f Fault
	if code := h.admin(http.MethodPut, "/fault", `{"kind":"error","status":529,"count":1}`, &f); code != 200 {
		t.Fatalf("PUT /fault: %d", code)
	}
	if want := (Fault{Kind: FaultError, Status: 529, Count: 1}); f != want {
		t.Errorf("PUT answer %+v, want %+v", f, want)
	}
	var got Fault
	h.admin(http.MethodGet, "/fault", "", &got)
	if got != f {
		t.Errorf("GET /fault %+v, want %+v", got, f)
	}
	if status, _, _ := h.chat(validChat(KindAnthropic, false)); status != 529 {
		t.Errorf("chat under fault: %d", status)
	}
	h.admin(http.MethodGet, "/fault", "", &got)
	if got.Kind != FaultNone {
		t.Errorf("fault after its count: %+v", got)
	}
	if status, _, _ := h.chat(validChat(KindAnthropic, true)); status != 200 {
		t.Errorf("chat after the fault: %d", status)
	}

	var st Stats
	if code := h.admin(http.MethodGet, "/stats", "", &st); code != 200 {
		t.Fatalf("GET /stats: %d", code)
	}
	if st.ChatRequests != 2 || st.StreamRequests != 1 || st.ByStatus[529] != 1 || st.ByStatus[200] != 1 ||
		st.FaultsApplied[FaultError] != 1 || st.ByModel["claude-sonnet-4-20250514"] != 2 {
		t.Errorf("stats %+v", st)
	}
	var zero Stats
	if code := h.admin(http.MethodPost, "/stats/reset", "", &zero); code != 200 || zero.ChatRequests != 0 || len(zero.ByStatus) != 0 {
		t.Errorf("POST /stats/reset: %d %+v", code, zero)
	}

	t.Run("delay as duration string", func(t *testing.T) {
		h := h.in(t)
		var f Fault
		if code := h.admin(http.MethodPut, "/fault", `{"kind":"slow_first_token","delay":"1500ms"}`, &f); code != 200 || f.Delay.Milliseconds() != 1500 {
			t.Errorf("PUT: %d %+v", code, f)
		}
		if code := h.admin(http.MethodDelete, "/fault", "", &f); code != 200 || f.Kind != FaultNone {
			t.Errorf("DELETE: %d %+v", code, f)
		}
	})
	t.Run("bad faults are refused", func(t *testing.T) {
		h := h.in(t)
		for _, body := range []string{
			`{"kind":"error"`,
			`{"kind":"explode"}`,
			`{"kind":"error","stauts":500}`,
			`{"kind":"error","status":200}`,
			`{"kind":"slow_stream","delay":"soon"}`,
			`{"kind":"slow_stream","delay":2}`,
			`{"kind":"rate_limit","after_chunks":2}`,
			`{"kind":"down","count":1}`,
		} {
			if code := h.admin(http.MethodPut, "/fault", body, nil); code != 400 {
				t.Errorf("PUT %s: %d, want 400", body, code)
			}
		}
		if f := h.sim.Fault(); f.Kind != FaultNone {
			t.Errorf("a refused fault was applied: %+v", f)
		}
	})
	t.Run("down and up", func(t *testing.T) {
		h := h.in(t)
		if code := h.admin(http.MethodPut, "/fault", `{"kind":"down"}`, nil); code != 200 {
			t.Fatalf("PUT down: %d", code)
		}
		h.client.CloseIdleConnections()
		if _, err := h.sendProbe(context.Background()); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("probe while down: %v", err)
		}
		// The admin API stays up during the outage.
		if code := h.admin(http.MethodDelete, "/fault", "", nil); code != 200 {
			t.Fatalf("DELETE: %d", code)
		}
		if got := h.statusOf(h.sendProbe(context.Background())); got != 200 {
			t.Errorf("probe after up: %d", got)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		h := h.in(t)
		var hz struct {
			Status string `json:"status"`
			Kind   Kind   `json:"kind"`
			Fault  Fault  `json:"fault"`
		}
		if code := h.admin(http.MethodGet, "/healthz", "", &hz); code != 200 || hz.Status != "ok" || hz.Kind != KindAnthropic || hz.Fault.Kind != FaultNone {
			t.Errorf("healthz: %d %+v", code, hz)
		}
	})
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		kind   Kind
		suffix string
	}{{KindOpenAI, "/v1"}, {KindAnthropic, ""}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			h := newHarness(t, Options{Kind: tc.kind})
			if got, want := h.srv.BaseURL(), h.srv.URL()+tc.suffix; got != want {
				t.Errorf("BaseURL %q, want %q", got, want)
			}
		})
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:80": "127.0.0.1:80",
		"0.0.0.0:80":   "127.0.0.1:80",
		"[::]:80":      "[::1]:80",
		":80":          "127.0.0.1:80",
		"[::1]:80":     "[::1]:80",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
