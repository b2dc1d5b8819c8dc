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

func TestAdminModelFaults(t *testing.T) {
	h := newHarness(t, Options{Kind: KindOpenAI})
	var f Fault
	if code := h.admin(http.MethodPut, "/fault", `{"kind":"error","status":503,"model":"gpt-4o","count":1}`, &f); code != 200 || f.Model != "gpt-4o" || f.Count != 1 {
		t.Fatalf("PUT /fault with model: %d %+v", code, f)
	}
	if code := h.admin(http.MethodGet, "/fault?model=gpt-4o", "", &f); code != 200 || f.Status != 503 {
		t.Errorf("GET /fault?model: %d %+v", code, f)
	}
	if code := h.admin(http.MethodGet, "/fault?model=gpt-4o-mini", "", nil); code != 404 {
		t.Errorf("GET /fault?model of a model without a fault: %d", code)
	}
	var wide Fault
	if h.admin(http.MethodGet, "/fault", "", &wide); wide.Kind != FaultNone {
		t.Errorf("the simulator-wide fault changed: %+v", wide)
	}
	if status, _, _ := h.chat(chatFor(KindOpenAI, "gpt-4o", false, "user", "hi")); status != 503 {
		t.Errorf("gpt-4o: %d", status)
	}
	var ms ModelStats
	if code := h.admin(http.MethodGet, "/stats/models/gpt-4o", "", &ms); code != 200 || ms.Attempts != 1 || ms.ByStatus[503] != 1 {
		t.Errorf("GET /stats/models/gpt-4o: %d %+v", code, ms)
	}
	if code := h.admin(http.MethodGet, "/stats/models/unseen", "", &ms); code != 200 || ms.Attempts != 0 {
		t.Errorf("GET /stats/models/unseen: %d %+v", code, ms)
	}

	var all []Fault
	body := `[{"kind":"rate_limit","retry_after_seconds":2},{"kind":"stall","after_chunks":5,"model":"gpt-4o"},{"kind":"none","model":"gpt-4o-mini"}]`
	if code := h.admin(http.MethodPut, "/faults", body, &all); code != 200 || len(all) != 3 || all[0].Kind != FaultRateLimit || all[1].Model != "gpt-4o" || all[2].Model != "gpt-4o-mini" {
		t.Fatalf("PUT /faults: %d %+v", code, all)
	}
	for _, bad := range []string{
		`[{"kind":"error"},{"kind":"hang"}]`,
		`[{"kind":"stall","model":"a"},{"kind":"cut","model":"a"}]`,
		`[{"kind":"down","model":"a"}]`,
		`{"kind":"error"}`,
	} {
		if code := h.admin(http.MethodPut, "/faults", bad, nil); code != 400 {
			t.Errorf("PUT /faults %s: %d, want 400", bad, code)
		}
	}
	if h.admin(http.MethodGet, "/faults", "", &all); len(all) != 3 {
		t.Errorf("a refused PUT /faults changed the faults: %+v", all)
	}
	if code := h.admin(http.MethodDelete, "/fault?model=gpt-4o", "", &all); code != 200 || len(all) != 2 {
		t.Errorf("DELETE /fault?model: %d %+v", code, all)
	}
	if code := h.admin(http.MethodDelete, "/faults", "", &all); code != 200 || len(all) != 1 || all[0].Kind != FaultNone {
		t.Errorf("DELETE /faults: %d %+v", code, all)
	}
}
