package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// chunk is an OpenAI chunk frame with id "c1" carrying delta.
func chunk(model, delta string) string {
	return fmt.Sprintf("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n\n", model, delta)
}

func text(model, s string) string { return chunk(model, fmt.Sprintf(`{"content":%q}`, s)) }

func finish(model string) string {
	return fmt.Sprintf("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", model)
}

const done = "data: [DONE]\n\n"

// malformedChunk is a content chunk cut in half, still SSE-framed.
var malformedChunk = text("m", "b")[:60] + "\n\n"

// pause in a script waits before the next frame.
type pause time.Duration

// script streams its steps (strings are frames, pauses wait), then ends as
// end says: "close" (a clean end of body), "hang" (silence until the client
// goes), "reset" (a broken connection).
func script(end string, steps ...any) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, model string) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, s := range steps {
			switch s := s.(type) {
			case string:
				fmt.Fprint(w, s)
				_ = rc.Flush()
			case pause:
				select {
				case <-time.After(time.Duration(s)):
				case <-r.Context().Done():
					return
				}
			}
		}
		switch end {
		case "hang":
			<-r.Context().Done()
		case "reset":
			reset(w, r, model)
		}
	}
}

func openaiCompatible() provider.Adapter { return openai.New("openai_compatible") }

func streamSettings(idle time.Duration, midstream bool) Settings {
	s := settings(2)
	s.StreamIdleTimeout = idle
	s.Midstream = midstream
	s.FirstTokenTimeout = 500 * time.Millisecond
	return s
}

func TestStreamEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		primary  func(http.ResponseWriter, *http.Request, string)
		idle     time.Duration
		want     string // bytes the caller got
		wantErr  bool
		outcome  classify.Outcome
		target   string
		attempts int
	}{
		{
			name:    "finish_reason then end of body without [DONE] is complete",
			primary: script("close", text("m", "Hi"), finish("m")),
			want:    text("m", "Hi") + finish("m") + done, outcome: classify.Success, target: "primary", attempts: 1,
		},
		{
			name:    "end of body without finish_reason is a cut",
			primary: script("close", text("m", "Hi")),
			want:    text("m", "Hi"), wantErr: true, outcome: classify.StreamCut, target: "primary", attempts: 1,
		},
		{
			name:    "cut after N chunks",
			primary: script("reset", text("m", "a"), text("m", "b")),
			want:    text("m", "a") + text("m", "b"), wantErr: true, outcome: classify.StreamCut, target: "primary", attempts: 1,
		},
		{
			name:    "stall after N chunks",
			primary: script("hang", text("m", "a"), text("m", "b")),
			idle:    200 * time.Millisecond,
			want:    text("m", "a") + text("m", "b"), wantErr: true, outcome: classify.Stall, target: "primary", attempts: 1,
		},
		{
			name:    "malformed chunk after content: broken there, never relayed",
			primary: script("close", text("m", "a"), malformedChunk, text("m", "c"), finish("m"), done),
			want:    text("m", "a"), wantErr: true, outcome: classify.Malformed, target: "primary", attempts: 1,
		},
		{
			name:    "malformed chunk before content fails over with nothing sent",
			primary: script("close", chunk("m", `{"role":"assistant","content":""}`), malformedChunk, text("m", "c"), finish("m"), done),
			want:    text("fb", "Hi") + finish("fb") + done, outcome: classify.Success, target: "fallback", attempts: 2,
		},
		{
			name:    "slow chunks within the idle timeout are no stall",
			primary: script("close", text("m", "a"), pause(100*time.Millisecond), text("m", "b"), pause(100*time.Millisecond), finish("m"), done),
			idle:    300 * time.Millisecond,
			want:    text("m", "a") + text("m", "b") + finish("m") + done, outcome: classify.Success, target: "primary", attempts: 1,
		},
		{
			name:    "role-only first chunk then slow content fails over with nothing sent",
			primary: script("close", chunk("m", `{"role":"assistant","content":""}`), pause(2*time.Second), text("m", "late"), finish("m"), done),
			want:    text("fb", "Hi") + finish("fb") + done, outcome: classify.Success, target: "fallback", attempts: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newUpstream(t, tc.primary)
			fb := newUpstream(t, script("close", text("fb", "Hi"), finish("fb"), done))
			pt := newTarget(t, "primary", 1, p.URL, targetOpts{})
			obs := &recObserver{}
			r := New([]*Target{pt, newTarget(t, "fallback", 2, fb.URL, targetOpts{})}, streamSettings(tc.idle, false), obs)
			start := time.Now()
			res, err := r.Do(context.Background(), chatReq(true))
			if err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, res.Stream)
			if got != tc.want {
				t.Errorf("client got\n%q\nwant\n%q", got, tc.want)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %t", err, tc.wantErr)
			}
			if out := res.Stream.Outcome(); out != tc.outcome {
				t.Errorf("outcome %+v, want %+v", out, tc.outcome)
			}
			if res.Target.ID != tc.target || len(obs.ends) != tc.attempts {
				t.Errorf("target %s after %d attempts, want %s after %d", res.Target.ID, len(obs.ends), tc.target, tc.attempts)
			}
			if tc.outcome == classify.Stall && time.Since(start) > 5*time.Second {
				t.Errorf("stall took %v to detect", time.Since(start))
			}
			// The breaker saw the outcome of the stream's own attempt.
			if last := obs.ends[len(obs.ends)-1]; last.Outcome != tc.outcome && tc.target == "primary" {
				t.Errorf("attempt reported %+v, want %+v", last.Outcome, tc.outcome)
			}
		})
	}
}

// TestStreamSlowReaderIsNoStall: the idle timeout bounds the upstream's
// silence while the stream waits on it, not the time the caller spends
// writing to a slow client between reads; a slow client must not be
// counted as a stalled provider.
func TestStreamSlowReaderIsNoStall(t *testing.T) {
	p := newUpstream(t, script("close", text("m", "a"), pause(50*time.Millisecond), text("m", "b"), pause(50*time.Millisecond), text("m", "c"), finish("m"), done))
	pt := newTarget(t, "primary", 1, p.URL, targetOpts{})
	r := New([]*Target{pt}, streamSettings(200*time.Millisecond, false), nil)
	res, err := r.Do(context.Background(), chatReq(true))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for {
		b, err := res.Stream.Next()
		got += string(b)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		time.Sleep(500 * time.Millisecond) // a client that reads slowly
	}
	res.Stream.Close()
	if want := text("m", "a") + text("m", "b") + text("m", "c") + finish("m") + done; got != want {
		t.Errorf("client got\n%q\nwant\n%q", got, want)
	}
	if out := res.Stream.Outcome(); out != classify.Success {
		t.Errorf("outcome %+v, want success", out)
	}
}

// TestStreamEmptyAnswerNotWritten: an answer with no content (only a
// finish_reason, no [DONE]) is complete once handed out and the caller came
// back; a caller that got it but never came back (its write failed) is a
// cancellation, not a success.
func TestStreamEmptyAnswerNotWritten(t *testing.T) {
	for _, back := range []bool{true, false} {
		t.Run(fmt.Sprintf("came back %t", back), func(t *testing.T) {
			p := newUpstream(t, script("close", finish("m")))
			r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{})}, streamSettings(0, false), nil)
			res, err := r.Do(context.Background(), chatReq(true))
			if err != nil {
				t.Fatal(err)
			}
			b, err := res.Stream.Next()
			if err != nil || !strings.HasSuffix(string(b), done) {
				t.Fatalf("first bytes %q, %v; want the finish chunk and [DONE]", b, err)
			}
			want := classify.Outcome{Reason: classify.Canceled}
			if back {
				if _, err := res.Stream.Next(); !errors.Is(err, io.EOF) {
					t.Fatalf("after [DONE]: %v, want EOF", err)
				}
				want = classify.Success
			}
			res.Stream.Close()
			if out := res.Stream.Outcome(); out != want {
				t.Errorf("outcome %+v, want %+v", out, want)
			}
		})
	}
}

// TestStreamCompleteWhenCallerCameBack: once the caller asked for more after
// the end marker (it wrote it), a client that goes away is no cancellation.
func TestStreamCompleteWhenCallerCameBack(t *testing.T) {
	for _, back := range []bool{true, false} {
		t.Run(fmt.Sprintf("came back %t", back), func(t *testing.T) {
			// [DONE] goes out, then the upstream lingers before closing.
			p := newUpstream(t, script("hang", text("m", "Hi"), finish("m"), done))
			pt := newTarget(t, "primary", 1, p.URL, targetOpts{breakerFailures: 1})
			r := New([]*Target{pt}, streamSettings(0, false), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := r.Do(ctx, chatReq(true))
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for !strings.HasSuffix(got, done) {
				b, err := res.Stream.Next()
				if err != nil {
					t.Fatal(err)
				}
				got += string(b)
			}
			if back {
				go func() { time.Sleep(50 * time.Millisecond); cancel() }()
				if _, err := res.Stream.Next(); !errors.Is(err, io.EOF) {
					t.Errorf("after [DONE] and a client hang-up: %v, want EOF", err)
				}
			} else {
				cancel()
			}
			res.Stream.Close()
			want := classify.Success
			if !back {
				want = classify.Outcome{Reason: classify.Canceled}
			}
			if out := res.Stream.Outcome(); out != want {
				t.Errorf("outcome %+v, want %+v", out, want)
			}
			if pt.Health.BreakerState() != "closed" {
				t.Errorf("breaker %s", pt.Health.BreakerState())
			}
		})
	}
}

func TestMidstream(t *testing.T) {
	const prefix = "Hello wor"
	for _, tc := range []struct {
		name     string
		primary  func(http.ResponseWriter, *http.Request, string)
		fallback func(http.ResponseWriter, *http.Request, string)
		prefill  *bool
		want     string
		wantErr  bool
		seam     bool
		outcomes []string
	}{
		{
			name:     "cut after text: the fallback continues",
			primary:  script("reset", chunk("m", `{"role":"assistant","content":""}`), text("m", "Hello "), text("m", "wor")),
			fallback: script("close", chunk("fb", `{"role":"assistant","content":""}`), text("fb", "ld!"), finish("fb"), done),
			want:     chunk("m", `{"role":"assistant","content":""}`) + text("m", "Hello ") + text("m", "wor") + text("m", "ld!") + finish("m") + done,
			seam:     true, outcomes: []string{"connection_error", ""},
		},
		{
			name:     "stall after text: the fallback continues without repeating whitespace",
			primary:  script("hang", text("m", "Hello "), text("m", "wor"), text("m", "ld ")),
			fallback: script("close", text("fb", " again"), finish("fb"), done),
			want:     text("m", "Hello ") + text("m", "wor") + text("m", "ld ") + text("m", "again") + finish("m") + done,
			seam:     true, outcomes: []string{"upstream_timeout", ""},
		},
		{
			name:     "malformed chunk after text: the fallback continues",
			primary:  script("close", text("m", "Hello "), text("m", "wor"), malformedChunk, text("m", "ld!"), finish("m"), done),
			fallback: script("close", text("fb", "ld!"), finish("fb"), done),
			want:     text("m", "Hello ") + text("m", "wor") + text("m", "ld!") + finish("m") + done,
			seam:     true, outcomes: []string{"upstream_error", ""},
		},
		{
			name:     "refused continuation ends with the original interruption",
			primary:  script("reset", text("m", "Hello "), text("m", "wor")),
			fallback: status(400),
			want:     text("m", "Hello ") + text("m", "wor"), wantErr: true,
			seam: true, outcomes: []string{"connection_error", "client_error"},
		},
		{
			name:     "no continuation after a tool-call delta",
			primary:  script("reset", text("m", "Hi"), chunk("m", `{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":""}}]}`)),
			fallback: script("close", text("fb", "x"), finish("fb"), done),
			want:     text("m", "Hi") + chunk("m", `{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":""}}]}`), wantErr: true,
			outcomes: []string{"connection_error"},
		},
		{
			name:     "no continuation on a target without prefill",
			primary:  script("reset", text("m", "Hello "), text("m", "wor")),
			fallback: script("close", text("fb", "x"), finish("fb"), done),
			prefill:  new(bool),
			want:     text("m", "Hello ") + text("m", "wor"), wantErr: true,
			seam: true, outcomes: []string{"connection_error"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newUpstream(t, tc.primary)
			fb := newUpstream(t, tc.fallback)
			ft := newTarget(t, "fallback", 2, fb.URL, targetOpts{})
			ft.Adapter = openaiCompatible()
			ft.Prefill = tc.prefill
			obs := &recObserver{}
			r := New([]*Target{newTarget(t, "primary", 1, p.URL, targetOpts{}), ft}, streamSettings(200*time.Millisecond, true), obs)
			res, err := r.Do(context.Background(), chatReq(true))
			if err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, res.Stream)
			if got != tc.want {
				t.Errorf("client got\n%s\nwant\n%s", got, tc.want)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %t", err, tc.wantErr)
			}
			var outs []string
			for _, a := range res.Stream.Attempts() {
				outs = append(outs, string(a.Outcome.Reason))
			}
			if fmt.Sprint(outs) != fmt.Sprint(tc.outcomes) {
				t.Errorf("attempts %v, want %v", outs, tc.outcomes)
			}
			if (res.Stream.Seam() != nil) != tc.seam {
				t.Errorf("seam %+v, want one: %t", res.Stream.Seam(), tc.seam)
			}
			if tc.wantErr && res.Stream.FailedTarget() != "primary" {
				t.Errorf("failure named %q, want the original interruption on primary", res.Stream.FailedTarget())
			}
			if len(tc.outcomes) > 1 {
				if body := <-fb.bodies; !strings.Contains(body, `{"role":"assistant","content":"`+prefix) {
					t.Errorf("continuation request has no prefill: %s", body)
				}
			}
		})
	}
}
