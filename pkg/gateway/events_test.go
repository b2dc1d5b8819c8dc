package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
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

// TestAnswerBuffersReused: answers are read into pooled buffers, handed
// back once written. Concurrent requests with answers of different sizes
// each get their own answer, and with include_bodies on every event keeps
// its own response body (those buffers are never handed back).
func TestAnswerBuffersReused(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request, model string) {
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.Unmarshal(b, &req)
		w.Header().Set("Content-Type", "application/json")
		answer, _ := json.Marshal(req.Messages[len(req.Messages)-1].Content)
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, model, answer)
	}
	for _, bodies := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_bodies=%v", bodies), func(t *testing.T) {
			h := newHarnessWith(t, echo, echo, harnessOptions{mutate: func(f *config.File) { f.Events.IncludeBodies = bodies }})
			const workers, each = 4, 15
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						// Lengths vary so that a short answer lands in a
						// buffer a longer one used before.
						msg := fmt.Sprintf("w%d-r%d-%s", w, i, strings.Repeat("x", (w*53+i*97)%700))
						body, _ := json.Marshal(map[string]any{"model": "gpt-4o-mini", "messages": []map[string]string{{"role": "user", "content": msg}}})
						resp, got := h.post(t, string(body))
						var out struct {
							Choices []struct{ Message struct{ Content string } }
							Meta    struct {
								RequestID string `json:"request_id"`
							} `json:"keeptrusts_metadata"`
						}
						if err := json.Unmarshal(got, &out); err != nil || resp.StatusCode != 200 || len(out.Choices) != 1 || out.Choices[0].Message.Content != msg || out.Meta.RequestID == "" {
							t.Errorf("request %s: status %d, answer %.120s (%v)", msg[:6], resp.StatusCode, got, err)
						}
					}
				})
			}
			wg.Wait()
			if !bodies {
				return
			}
			var evs []events.Event
			waitUntil(t, "all events", func() bool { _, evs = getEvents(t, h, "last=100"); return len(evs) == workers*each })
			for _, e := range evs {
				var req, res struct {
					Messages []struct{ Content string }
					Choices  []struct{ Message struct{ Content string } }
				}
				if json.Unmarshal(e.RequestBody, &req) != nil || json.Unmarshal(e.ResponseBody, &res) != nil ||
					len(req.Messages) != 1 || len(res.Choices) != 1 || res.Choices[0].Message.Content != req.Messages[0].Content {
					t.Fatalf("event %s: response body %.120s does not answer request body %.120s", e.ID, e.ResponseBody, e.RequestBody)
				}
			}
		})
	}
}
