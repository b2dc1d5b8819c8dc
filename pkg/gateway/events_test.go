package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/events"
)

func getEvents(t *testing.T, h *harness, query string) (int, []events.Event) {
	t.Helper()
	resp, err := http.Get(h.srv.URL + "/v1/events?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var evs []events.Event
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
	return resp.StatusCode, evs
}

// TestOneEventPerRequest sends a success, a failover, a 4xx and a 503 and
// checks each produced exactly one event with the right facts.
func TestOneEventPerRequest(t *testing.T) {
	var fail atomic.Bool
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, m string) {
		if fail.Load() {
			failWith(401)(w, r, m)
			return
		}
		okAnswer(w, r, m)
	}, okAnswer)
	h.post(t, tutorialReq) // 1: primary
	fail.Store(true)
	h.post(t, tutorialReq)               // 2: failover auth_error
	h.post(t, `{"model":"gpt-4o-mini"}`) // 3: 400 from the gateway
	h.post(t, strings.Repeat("x", 5000)) // 4: 413
	var evs []events.Event
	waitUntil(t, "4 events", func() bool { _, evs = getEvents(t, h, "last=10"); return len(evs) == 4 })
	type want struct {
		status   int
		provider string
		failover bool
		reason   string
		errCode  string
	}
	wants := []want{
		{200, "openai-primary", false, "", ""},
		{200, "openai-fallback", true, "auth_error", ""},
		{400, "", false, "", "invalid_request_error"},
		{413, "", false, "", "request_too_large"},
	}
	for i, w := range wants {
		e := evs[i]
		if e.Status != w.status || e.Provider != w.provider || e.Failover.Triggered != w.failover || e.Failover.Reason != w.reason || e.Error != w.errCode {
			t.Fatalf("event %d = %+v, want %+v", i, e, w)
		}
		if !strings.HasPrefix(e.ID, "evt_") || e.RequestID == "" || e.LatencyMS <= 0 || e.GatewayLatencyMS < 0 || e.GatewayLatencyMS > e.LatencyMS {
			t.Fatalf("event %d basics: %+v", i, e)
		}
	}
	if e := evs[1]; len(e.Attempts) != 2 || e.Attempts[0].Outcome != "auth_error" || e.Attempts[0].Status != 401 ||
		e.Attempts[1].Outcome != "ok" || e.Model != "gpt-4o" || e.RequestedModel != "gpt-4o-mini" || e.Usage.TotalTokens != 22 || e.CostUSD <= 0 {
		t.Fatalf("failover event: %+v", e)
	}
	// Filters.
	if _, evs = getEvents(t, h, "failover=true"); len(evs) != 1 || evs[0].Provider != "openai-fallback" {
		t.Fatalf("failover filter: %+v", evs)
	}
	if _, evs = getEvents(t, h, "provider=openai-primary"); len(evs) != 1 {
		t.Fatalf("provider filter: %+v", evs)
	}
	if code, _ := getEvents(t, h, "lats=3"); code != 400 {
		t.Fatalf("unknown parameter: %d", code)
	}
	// No prompt and no key in any event.
	_, evs = getEvents(t, h, "")
	b, _ := json.Marshal(evs)
	for _, secret := range []string{"capital of France", primaryKey, fallbackKey} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("event contains %q: %s", secret, b)
		}
	}
}

func TestEventStreamFollow(t *testing.T) {
	h := newHarness(t, okAnswer, okAnswer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/v1/events/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, ":") {
		t.Fatalf("no opening comment: %q", line)
	}
	h.post(t, tutorialReq)
	got := make(chan events.Event, 1)
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var e events.Event
				if json.Unmarshal([]byte(data), &e) == nil {
					got <- e
				}
				return
			}
		}
	}()
	select {
	case e := <-got:
		if e.Provider != "openai-primary" || e.Status != 200 {
			t.Fatalf("followed event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on the follow stream")
	}
}
