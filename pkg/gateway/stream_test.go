package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
)

func sseText(model, s string) string {
	return fmt.Sprintf("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", model, s)
}

func sseFinish(model string) string {
	return fmt.Sprintf("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", model)
}

// sseScript streams frames, then ends: "close", "hang" (until the client
// goes) or "reset" (the connection is hijacked and closed mid-body).
func sseScript(end string, frames ...string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, f := range frames {
			fmt.Fprint(w, f)
			_ = rc.Flush()
		}
		switch end {
		case "hang":
			<-r.Context().Done()
		case "reset":
			if c, _, err := rc.Hijack(); err == nil {
				_ = c.Close()
			}
		}
	}
}

// TestStreamRelayEnds holds what the client of a stream receives and what
// the event says when the upstream ends cleanly without [DONE], is cut,
// stalls, or is cut and continued by the fallback.
func TestStreamRelayEnds(t *testing.T) {
	const req = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	for _, tc := range []struct {
		name      string
		primary   func(http.ResponseWriter, *http.Request, string)
		midstream bool
		want      string
		status    int
		errCode   string
		attempts  []string
		seam      *events.Midstream
	}{
		{
			name:    "no [DONE] after a finish_reason: complete, [DONE] sent",
			primary: sseScript("close", sseText("m", "Hi"), sseFinish("m")),
			want:    sseText("m", "Hi") + sseFinish("m") + "data: [DONE]\n\n", status: 200, attempts: []string{"ok"},
		},
		{
			name:    "cut: in-band error, stream_interrupted",
			primary: sseScript("reset", sseText("m", "Hel")),
			want:    sseText("m", "Hel") + `data: {"error":{"message":"The upstream provider openai-primary closed the stream early.","type":"server_error","param":null,"code":"stream_interrupted"}}` + "\n\n",
			status:  200, errCode: "stream_interrupted", attempts: []string{"connection_error"},
		},
		{
			name:    "stall: in-band error, stream_stalled",
			primary: sseScript("hang", sseText("m", "Hel")),
			want:    sseText("m", "Hel") + `data: {"error":{"message":"The upstream provider openai-primary stalled: no data within the stream idle timeout.","type":"server_error","param":null,"code":"stream_stalled"}}` + "\n\n",
			status:  200, errCode: "stream_stalled", attempts: []string{"upstream_timeout"},
		},
		{
			name:    "malformed chunk: not relayed, in-band error, stream_interrupted",
			primary: sseScript("close", sseText("m", "Hel"), sseText("m", "lo")[:50]+"\n\n", sseText("m", " there"), sseFinish("m"), "data: [DONE]\n\n"),
			want:    sseText("m", "Hel") + `data: {"error":{"message":"The upstream provider openai-primary sent a malformed stream event.","type":"server_error","param":null,"code":"stream_interrupted"}}` + "\n\n",
			status:  200, errCode: "stream_interrupted", attempts: []string{"upstream_error"},
		},
		{
			name:      "cut and continued: one answer",
			primary:   sseScript("reset", sseText("m", "Hello "), sseText("m", "wor")),
			midstream: true,
			want:      sseText("m", "Hello ") + sseText("m", "wor") + sseText("m", "ld") + sseFinish("m") + "data: [DONE]\n\n",
			status:    200, attempts: []string{"connection_error", "ok"},
			seam: &events.Midstream{From: "openai-primary", To: "openai-fallback", Chars: 9, Interruption: "stream_cut", Outcome: "ok"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessWith(t, tc.primary, sseScript("close", sseText("fb", "ld"), sseFinish("fb"), "data: [DONE]\n\n"), harnessOptions{mutate: func(f *config.File) {
				f.Providers.Failover.StreamIdleTimeoutSeconds = 0.2
				f.Providers.Failover.Midstream.Enabled = tc.midstream
				yes := true
				f.Providers.Targets[1].Capabilities.Prefill = &yes
			}})
			resp, body := h.post(t, req)
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Fatalf("client got %d\n%s\nwant\n%s", resp.StatusCode, body, tc.want)
			}
			var evs []events.Event
			waitUntil(t, "the event", func() bool { _, evs = getEvents(t, h, "last=1"); return len(evs) == 1 })
			ev := evs[0]
			var outs []string
			for _, a := range ev.Attempts {
				outs = append(outs, a.Outcome)
			}
			if ev.Status != tc.status || ev.Error != tc.errCode || fmt.Sprint(outs) != fmt.Sprint(tc.attempts) {
				t.Errorf("event status %d error %q attempts %v, want %d %q %v", ev.Status, ev.Error, outs, tc.status, tc.errCode, tc.attempts)
			}
			if fmt.Sprint(ev.Midstream) != fmt.Sprint(tc.seam) {
				t.Errorf("event midstream %+v, want %+v", ev.Midstream, tc.seam)
			}
		})
	}
}

// TestStreamClientLeavesAfterDone: a client that hangs up right after
// [DONE] got the whole answer; the event says so.
func TestStreamClientLeavesAfterDone(t *testing.T) {
	h := newHarness(t, sseScript("hang", sseText("m", "Hi"), sseFinish("m"), "data: [DONE]\n\n"), okAnswer)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.HasSuffix(got.String(), "data: [DONE]\n\n") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read: %v after %q", err, got.String())
		}
	}
	_ = resp.Body.Close()
	var evs []events.Event
	waitUntil(t, "the event", func() bool { _, evs = getEvents(t, h, "last=1"); return len(evs) == 1 })
	if ev := evs[0]; ev.Status != 200 || ev.Error != "" || ev.Attempts[0].Outcome != "ok" {
		t.Errorf("event %d %q %+v, want a success", ev.Status, ev.Error, ev.Attempts)
	}
}
