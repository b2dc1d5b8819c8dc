package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// chatFor is a valid request of kind k for model, ending with the given
// messages (role, text pairs); stream selects streaming.
func chatFor(k Kind, model string, stream bool, msgs ...string) string {
	var parts []string
	for i := 0; i+1 < len(msgs); i += 2 {
		c, _ := json.Marshal(msgs[i+1])
		parts = append(parts, fmt.Sprintf(`{"role":%q,"content":%s}`, msgs[i], c))
	}
	b := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[%s]`, model, stream, strings.Join(parts, ","))
	if k == KindAnthropic {
		b += `,"max_tokens":200`
	}
	return b + "}"
}

// defaultModel is the model validChat names for k.
func defaultModel(k Kind) string {
	if k == KindAnthropic {
		return "claude-sonnet-4-20250514"
	}
	return "gpt-4o-mini"
}

// streamText is the text the content deltas of evs carry, and whether a
// finishing frame (finish_reason / message_delta) and the closing sentinel
// ([DONE] / message_stop) were among them.
func streamText(t *testing.T, k Kind, evs []sse.Event) (text string, finished, closed bool) {
	t.Helper()
	for _, ev := range evs {
		if k == KindOpenAI {
			if sse.IsDone(ev.Data) {
				closed = true
				continue
			}
			var c struct {
				Choices []struct {
					Delta struct {
						Content *string `json:"content"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				t.Fatalf("frame %s: %v", ev.Data, err)
			}
			for _, ch := range c.Choices {
				if ch.Delta.Content != nil {
					text += *ch.Delta.Content
				}
				finished = finished || ch.FinishReason != nil
			}
			continue
		}
		switch string(ev.Name) {
		case "message_delta":
			finished = true
		case "message_stop":
			closed = true
		case "content_block_delta":
			var d struct {
				Delta struct {
					Text string `json:"text"`
				} `json:"delta"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatalf("frame %s: %v", ev.Data, err)
			}
			text += d.Delta.Text
		}
	}
	return text, finished, closed
}

// streamResult is what a client read from a stream before it ended.
type streamResult struct {
	status int
	evs    []sse.Event
	err    error
}

// openStream posts body and reads its events in the background, sending
// each on the returned channel; the result comes when the body ends or the
// context is cancelled.
func (h *harness) openStream(ctx context.Context, body string) (<-chan sse.Event, <-chan streamResult) {
	h.t.Helper()
	k := h.sim.Kind()
	resp, err := h.do(ctx, http.MethodPost, chatPath(k), body, authHeaders(k, testKey))
	evc, done := make(chan sse.Event, 64), make(chan streamResult, 1)
	if err != nil {
		done <- streamResult{err: err}
		return evc, done
	}
	go func() {
		defer resp.Body.Close()
		res := streamResult{status: resp.StatusCode}
		rd := sse.NewReader(resp.Body)
		for {
			ev, err := rd.Next()
			if err != nil {
				res.err = err
				break
			}
			cp := sse.Event{Name: append([]byte(nil), ev.Name...), Data: append([]byte(nil), ev.Data...)}
			res.evs = append(res.evs, cp)
			evc <- cp
		}
		done <- res
	}()
	return evc, done
}

// recvN waits for n events.
func recvN(t *testing.T, evc <-chan sse.Event, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-evc:
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d events, want %d", i, n)
		}
	}
}

// fullAnswer is the answer text validChat gets.
const fullAnswer = "The capital of France is Paris."

// finishAt is the index of the frame that finishes validChat's stream
// (OpenAI: the finish_reason chunk; Anthropic: message_delta, after the
// content_block_stop), the cap of the faults that break a stream.
func finishAt(k Kind) int {
	n := lifecycleFrames(k) + len(words(fullAnswer))
	if k == KindAnthropic {
		n++
	}
	return n
}

// lifecycleFrames is how many frames come before the first content delta.
func lifecycleFrames(k Kind) int {
	if k == KindAnthropic {
		return 3 // message_start, content_block_start, ping
	}
	return 1 // the role-only chunk
}

func TestFaultStall(t *testing.T) {
	for _, k := range kinds {
		for _, n := range []int{0, 2, 100} {
			t.Run(fmt.Sprintf("%s/stream/after_%d", k, n), func(t *testing.T) {
				h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultStall, AfterChunks: n}})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				evc, done := h.openStream(ctx, validChat(k, true))
				// 100 is past the end: capped below the finishing frame.
				want := min(n, finishAt(k))
				recvN(t, evc, want)
				waitFor(t, "stall held", func() bool {
					st := h.sim.Stats()
					return st.InFlight == 1 && st.FaultsApplied[FaultStall] == 1
				})
				cancel()
				res := <-done
				if !errors.Is(res.err, context.Canceled) || len(res.evs) != want {
					t.Fatalf("%d events, end %v; want %d and the client's cancel", len(res.evs), res.err, want)
				}
				if _, finished, _ := streamText(t, k, res.evs); finished {
					t.Error("a stalled stream sent its finishing frame")
				}
				waitFor(t, "handler returned after the client left", func() bool { return h.sim.Stats().InFlight == 0 })
			})
		}
		t.Run(string(k)+"/non-stream", func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultStall}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := h.sendChat(ctx, false)
			if err != nil {
				t.Fatalf("headers: %v", err)
			}
			defer resp.Body.Close()
			buf := make([]byte, resp.ContentLength)
			n, err := io.ReadAtLeast(resp.Body, buf, int(resp.ContentLength/2))
			if err != nil || int64(n) != resp.ContentLength/2 {
				t.Fatalf("read %d of %d bytes: %v", n, resp.ContentLength, err)
			}
			cancel()
			if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
				t.Errorf("rest of the body: %v, want the client's cancel", err)
			}
			waitFor(t, "handler returned", func() bool { return h.sim.Stats().InFlight == 0 })
		})
	}
}

func TestFaultNoDone(t *testing.T) {
	for _, k := range kinds {
		for _, usage := range []bool{false, true} {
			if usage && k == KindAnthropic {
				continue
			}
			t.Run(fmt.Sprintf("%s/include_usage=%v", k, usage), func(t *testing.T) {
				h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultNoDone, Count: 1}})
				// Non-stream answers are untouched and do not use the count.
				if status, _, body := h.chat(validChat(k, false)); status != 200 || !json.Valid(body) {
					t.Fatalf("non-stream: %d %s", status, body)
				}
				body := validChat(k, true)
				if usage {
					body = withFields(body, `"stream_options":{"include_usage":true}`)
				}
				_, done := h.openStream(context.Background(), body)
				res := <-done
				if !errors.Is(res.err, io.EOF) {
					t.Fatalf("end of body: %v, want a clean end", res.err)
				}
				text, finished, closed := streamText(t, k, res.evs)
				if text != fullAnswer || !finished || closed {
					t.Errorf("text %q finished %v sentinel %v; want the whole answer, finished, no sentinel", text, finished, closed)
				}
				last := res.evs[len(res.evs)-1]
				switch {
				case k == KindAnthropic && string(last.Name) != "message_delta",
					k == KindOpenAI && usage && !bytes.Contains(last.Data, []byte(`"usage":{"prompt_tokens"`)),
					k == KindOpenAI && !usage && !bytes.Contains(last.Data, []byte(`"finish_reason":"stop"`)):
					t.Errorf("last frame %s %s", last.Name, last.Data)
				}
				// Count 1 is used up: the next stream is whole.
				_, done = h.openStream(context.Background(), validChat(k, true))
				if _, _, closed := streamText(t, k, (<-done).evs); !closed {
					t.Error("the stream after the count has no sentinel")
				}
			})
		}
	}
}

func TestFaultMalformed(t *testing.T) {
	for _, k := range kinds {
		for _, n := range []int{0, 2, 100} {
			t.Run(fmt.Sprintf("%s/stream/at_%d", k, n), func(t *testing.T) {
				h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultMalformed, AfterChunks: n}})
				_, done := h.openStream(context.Background(), validChat(k, true))
				res := <-done
				if !errors.Is(res.err, io.EOF) {
					t.Fatalf("end: %v", res.err)
				}
				h.sim.SetFault(Fault{})
				_, done = h.openStream(context.Background(), validChat(k, true))
				whole := (<-done).evs
				if len(res.evs) != len(whole) {
					t.Fatalf("%d frames, want %d (the broken one replaces its frame)", len(res.evs), len(whole))
				}
				// Ids are random but of a fixed length, and the two
				// streams may start in different seconds.
				ids := regexp.MustCompile(`(chatcmpl-|msg_01)[A-Za-z0-9]+|"created":[0-9]+`)
				var bad []int
				for i, ev := range res.evs {
					if !sse.IsDone(ev.Data) && !json.Valid(ev.Data) {
						bad = append(bad, i)
						if !bytes.HasPrefix(ids.ReplaceAll(whole[i].Data, []byte("ID")), ids.ReplaceAll(ev.Data, []byte("ID"))) || string(ev.Name) != string(whole[i].Name) {
							t.Errorf("broken frame %q is not the start of %q", ev.Data, whole[i].Data)
						}
					}
				}
				want := min(n, finishAt(k))
				if len(bad) != 1 || bad[0] != want {
					t.Errorf("malformed frames at %v, want [%d]", bad, want)
				}
			})
		}
		t.Run(string(k)+"/non-stream", func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultMalformed}})
			resp, err := h.sendChat(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || int64(len(b)) != resp.ContentLength || json.Valid(b) || !bytes.HasPrefix(b, []byte("{")) {
				t.Errorf("status %d, %d bytes of %d, err %v, body %s; want a short, invalid JSON body", resp.StatusCode, len(b), resp.ContentLength, err, b)
			}
		})
	}
}

func TestFaultCut(t *testing.T) {
	for _, k := range kinds {
		for _, n := range []int{0, 3, 100} {
			t.Run(fmt.Sprintf("%s/stream/after_%d", k, n), func(t *testing.T) {
				h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultCut, AfterChunks: n}})
				_, done := h.openStream(context.Background(), validChat(k, true))
				res := <-done
				want := min(n, finishAt(k))
				if !errors.Is(res.err, io.ErrUnexpectedEOF) || len(res.evs) != want {
					t.Fatalf("%d events, end %v; want %d and an unexpected EOF", len(res.evs), res.err, want)
				}
				text, finished, _ := streamText(t, k, res.evs)
				if finished || !strings.HasPrefix(fullAnswer, text) {
					t.Errorf("text %q, finished %v", text, finished)
				}
				waitFor(t, "handler returned", func() bool { return h.sim.Stats().InFlight == 0 })
				if st := h.sim.Stats(); st.Resets != 0 || st.ByStatus[200] != 1 {
					t.Errorf("a cut is a close, not a reset: %+v", st)
				}
			})
		}
		t.Run(string(k)+"/non-stream", func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultCut}})
			resp, err := h.sendChat(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(b)) != resp.ContentLength/2 {
				t.Errorf("read %d of %d bytes, %v; want half and an unexpected EOF", len(b), resp.ContentLength, err)
			}
		})
	}
}

func TestFaultSlowFirstContent(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k)+"/stream", func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultSlowFirstContent, Delay: time.Hour}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			evc, done := h.openStream(ctx, validChat(k, true))
			recvN(t, evc, lifecycleFrames(k))
			cancel()
			res := <-done
			if !errors.Is(res.err, context.Canceled) || len(res.evs) != lifecycleFrames(k) {
				t.Fatalf("%d events, end %v", len(res.evs), res.err)
			}
			if text, _, _ := streamText(t, k, res.evs); text != "" {
				t.Errorf("content before the delay: %q", text)
			}
			if k == KindAnthropic {
				for i, name := range []string{"message_start", "content_block_start", "ping"} {
					if string(res.evs[i].Name) != name {
						t.Errorf("frame %d is %s, want %s", i, res.evs[i].Name, name)
					}
				}
			} else if !bytes.Contains(res.evs[0].Data, []byte(`"role":"assistant","content":""`)) {
				t.Errorf("first frame %s, want the role-only chunk", res.evs[0].Data)
			}
			// Short delay: the whole answer.
			h.sim.SetFault(Fault{Kind: FaultSlowFirstContent, Delay: time.Millisecond})
			_, done = h.openStream(context.Background(), validChat(k, true))
			if text, _, closed := streamText(t, k, (<-done).evs); text != fullAnswer || !closed {
				t.Errorf("after a short delay: %q, closed %v", text, closed)
			}
		})
		t.Run(string(k)+"/non-stream", func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Fault: Fault{Kind: FaultSlowFirstContent, Delay: time.Hour}})
			blocked(t, h, FaultSlowFirstContent, func(ctx context.Context) (*http.Response, error) { return h.sendChat(ctx, false) })
		})
	}
}

// normaliseBody blanks what differs per request (Anthropic's request_id).
func normaliseBody(b []byte) []byte {
	return regexp.MustCompile(`"request_id":"req_[A-Za-z0-9]+"`).ReplaceAll(b, []byte(`"request_id":"req_X"`))
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file (run with -update to create): %v", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func TestRefusalFaults(t *testing.T) {
	prefilled := func(k Kind, stream bool) string {
		return chatFor(k, defaultModel(k), stream, "user", "What is the capital of France?", "assistant", "The capital")
	}
	cases := []struct {
		name  string
		fault Fault
		body  func(k Kind, stream bool) string
	}{
		{"context_length", Fault{Kind: FaultContextLength}, validChat},
		{"context_length_window", Fault{Kind: FaultContextLength, ContextWindow: 10}, func(k Kind, stream bool) string {
			return chatFor(k, defaultModel(k), stream, "user", strings.Repeat("long prompt ", 10))
		}},
		{"content_policy", Fault{Kind: FaultContentPolicy}, validChat},
		{"content_filter", Fault{Kind: FaultContentPolicy, Code: CodeContentFilter}, validChat},
		{"refuse_prefill", Fault{Kind: FaultRefusePrefill}, prefilled},
	}
	for _, k := range kinds {
		for _, tc := range cases {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/stream=%v", k, tc.name, stream), func(t *testing.T) {
					h := newHarness(t, Options{Kind: k, ExpectKey: testKey, Fault: tc.fault})
					status, hdr, body := h.chat(tc.body(k, stream))
					if status != 400 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
						t.Fatalf("status %d %q: %s", status, hdr.Get("Content-Type"), body)
					}
					if tc.fault.Code != CodeContentFilter || k == KindAnthropic {
						decodeError(t, k, body)
					}
					golden(t, fmt.Sprintf("errors/%s_%s.json", k, tc.name), normaliseBody(body))
					// A wrong key is refused first: these faults act after the checks.
					if status, _, _ := h.call(http.MethodPost, chatPath(k), tc.body(k, stream), authHeaders(k, "sk-wrong")); status != 401 {
						t.Errorf("wrong key under the fault: %d", status)
					}
					// Probes are untouched.
					if got := h.statusOf(h.sendProbe(context.Background())); got != 200 {
						t.Errorf("probe: %d", got)
					}
				})
			}
		}
	}
}

// TestConditionalFaultsSpareOtherRequests checks that refuse_prefill and a
// context_length with a window act only on the requests they are about, and
// that only those use up the count.
func TestConditionalFaultsSpareOtherRequests(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			m := defaultModel(k)
			h.sim.SetFault(Fault{Kind: FaultRefusePrefill, Count: 1})
			if status, _, body := h.chat(validChat(k, false)); status != 200 {
				t.Fatalf("no prefill: %d %s", status, body)
			}
			pre := chatFor(k, m, false, "user", "What is the capital of France?", "assistant", "The")
			for i, want := range []int{400, 200} {
				if status, _, body := h.chat(pre); status != want {
					t.Errorf("prefill %d: %d %s, want %d", i, status, body, want)
				}
			}
			h.sim.SetFault(Fault{Kind: FaultContextLength, ContextWindow: 50, Count: 1})
			if status, _, _ := h.chat(validChat(k, false)); status != 200 {
				t.Errorf("short prompt: %d", status)
			}
			long := chatFor(k, m, false, "user", strings.Repeat("word ", 200))
			status, _, body := h.chat(long)
			if status != 400 {
				t.Fatalf("long prompt: %d", status)
			}
			// 1000 characters ≈ 250 tokens, + 3 per message + 3.
			want := map[Kind]string{KindOpenAI: "your messages resulted in 256 tokens", KindAnthropic: "prompt is too long: 256 tokens > 50 maximum"}[k]
			if !strings.Contains(string(body), want) {
				t.Errorf("body %s, want %q", body, want)
			}
			if status, _, _ := h.chat(long); status != 200 {
				t.Errorf("after the count: %d", status)
			}
		})
	}
}

func TestModelScopedFaults(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			h.sim.SetFaults(
				Fault{Kind: FaultError, Status: 502},
				Fault{Kind: FaultError, Status: 503, Model: "model-a"},
				Fault{Kind: FaultNone, Model: "model-b"},
				Fault{Kind: FaultRateLimit, RetryAfterSeconds: 2, Count: 1, Model: "model-c"},
			)
			chat := func(model string) int {
				status, _, _ := h.chat(chatFor(k, model, false, "user", "hi"))
				return status
			}
			for i, tc := range []struct {
				model string
				want  int
			}{
				{"model-a", 503}, {"model-b", 200}, {"model-other", 502},
				{"model-c", 429}, {"model-c", 502}, // once, then the simulator-wide fault
				{"model-a", 503},
			} {
				if got := chat(tc.model); got != tc.want {
					t.Errorf("request %d for %s: %d, want %d", i, tc.model, got, tc.want)
				}
			}
			// Probes name no model: only the simulator-wide fault.
			if got := h.statusOf(h.sendProbe(context.Background())); got != 502 {
				t.Errorf("probe: %d", got)
			}
			if _, ok := h.sim.ModelFault("model-c"); ok {
				t.Error("model-c's fault survived its count")
			}
			h.sim.ClearModelFault("model-a")
			if got := chat("model-a"); got != 502 {
				t.Errorf("model-a after clearing its fault: %d", got)
			}
			st := h.sim.Stats()
			for model, want := range map[string]int64{"model-a": 3, "model-b": 1, "model-c": 2, "model-other": 1} {
				if got := st.Models[model].Attempts; got != want {
					t.Errorf("attempts of %s: %d, want %d", model, got, want)
				}
			}
			if ms := st.Models["model-c"]; ms.ByStatus[429] != 1 || ms.ByStatus[502] != 1 || ms.FaultsApplied[FaultRateLimit] != 1 || ms.FaultsApplied[FaultError] != 1 {
				t.Errorf("model-c stats: %+v", ms)
			}
		})
	}
	t.Run("stream faults per model", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindOpenAI})
		h.sim.SetFaults(Fault{Kind: FaultCut, AfterChunks: 2, Model: "gpt-4o"}, Fault{Kind: FaultNoDone, Model: "gpt-4o-mini"})
		_, done := h.openStream(context.Background(), chatFor(KindOpenAI, "gpt-4o", true, "user", "What is the capital of France?"))
		if res := <-done; len(res.evs) != 2 || !errors.Is(res.err, io.ErrUnexpectedEOF) {
			t.Errorf("gpt-4o: %d events, %v", len(res.evs), res.err)
		}
		_, done = h.openStream(context.Background(), chatFor(KindOpenAI, "gpt-4o-mini", true, "user", "What is the capital of France?"))
		res := <-done
		if text, finished, closed := streamText(t, KindOpenAI, res.evs); text != fullAnswer || !finished || closed || !errors.Is(res.err, io.EOF) {
			t.Errorf("gpt-4o-mini: %q finished %v [DONE] %v end %v", text, finished, closed, res.err)
		}
	})
}

// TestOnceUnderConcurrency fires many concurrent requests per model at
// faults with a count: each fault must act exactly count times, per model.
func TestOnceUnderConcurrency(t *testing.T) {
	const perModel = 24
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k})
			// A model's fault, once used up, leaves the model to the
			// simulator-wide fault: its 503s may land on any model.
			h.sim.SetFaults(
				Fault{Kind: FaultError, Status: 503, Count: 2},
				Fault{Kind: FaultError, Status: 500, Count: 1, Model: "m-500"},
				Fault{Kind: FaultRateLimit, RetryAfterSeconds: 1, Count: 1, Model: "m-429"},
			)
			models := []string{"m-500", "m-429", "m-wide"}
			type result struct {
				model  string
				status int
			}
			results := make(chan result, perModel*len(models))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, m := range models {
				for range perModel {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						resp, err := h.do(context.Background(), http.MethodPost, chatPath(k), chatFor(k, m, false, "user", "hi"), authHeaders(k, testKey))
						if err != nil {
							t.Errorf("%s: %v", m, err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						results <- result{m, resp.StatusCode}
					}()
				}
			}
			close(start)
			wg.Wait()
			close(results)
			got := map[string]map[int]int{}
			for r := range results {
				if got[r.model] == nil {
					got[r.model] = map[int]int{}
				}
				got[r.model][r.status]++
			}
			if got["m-500"][500] != 1 || got["m-429"][429] != 1 || got["m-wide"][500]+got["m-wide"][429] != 0 {
				t.Errorf("statuses per model %v: want one 500 for m-500, one 429 for m-429", got)
			}
			n503, n200 := 0, 0
			for _, m := range models {
				n503 += got[m][503]
				n200 += got[m][200]
			}
			if n503 != 2 || n200 != len(models)*perModel-4 {
				t.Errorf("statuses per model %v: want two 503 in all, the rest 200", got)
			}
			st := h.sim.Stats()
			for _, m := range models {
				if st.Models[m].Attempts != perModel {
					t.Errorf("attempts of %s: %d, want %d", m, st.Models[m].Attempts, perModel)
				}
			}
			if fs := h.sim.Faults(); len(fs) != 1 || fs[0].Kind != FaultNone {
				t.Errorf("faults after their counts: %+v", fs)
			}
		})
	}
}

func TestPrefillContinuation(t *testing.T) {
	const q = "Tell me about the sea"
	for _, k := range kinds {
		full := map[Kind]string{KindOpenAI: "Simulated openai answer to: " + q, KindAnthropic: "Simulated anthropic answer to: " + q}[k]
		for _, stream := range []bool{false, true} {
			for _, prefill := range []string{"Simulated", full[:len(full)/2], strings.TrimSpace(full[:len(full)-3]), full, "Something else entirely"} {
				t.Run(fmt.Sprintf("%s/stream=%v/%s", k, stream, prefill), func(t *testing.T) {
					h := newHarness(t, Options{Kind: k})
					m := defaultModel(k)
					status, _, body := h.chat(chatFor(k, m, stream, "user", q, "assistant", prefill))
					if status != 200 {
						t.Fatalf("status %d: %s", status, body)
					}
					var a answer
					switch {
					case k == KindOpenAI && stream:
						a = parseOpenAIStream(t, m, body, false)
					case k == KindOpenAI:
						a = parseOpenAICompletion(t, m, body)
					case stream:
						a = parseAnthropicStream(t, m, body)
					default:
						a = parseAnthropicMessage(t, m, body)
					}
					// The documented rule (docs/sim.md): the rest of the full
					// answer when the prefill is a prefix of it, else all of it.
					want := full
					if strings.HasPrefix(full, prefill) {
						want = full[len(prefill):]
					}
					if a.text != want {
						t.Errorf("continuation %q, want %q", a.text, want)
					}
					if st := h.sim.Stats().Models[m]; st.Prefills != 1 {
						t.Errorf("prefills counted: %d", st.Prefills)
					}
				})
			}
		}
	}
	t.Run("anthropic refuses trailing white space", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindAnthropic})
		status, _, body := h.chat(chatFor(KindAnthropic, "claude-sonnet-4-20250514", false, "user", q, "assistant", "Simulated "))
		if e := decodeError(t, KindAnthropic, body); status != 400 || e.Error.Message != "messages: final assistant content cannot end with trailing whitespace" {
			t.Errorf("%d %s", status, body)
		}
	})
	t.Run("tools offered: the continuation is text", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindOpenAI})
		body := withFields(chatFor(KindOpenAI, "gpt-4o", false, "user", "weather in Paris?", "assistant", "Simulated"), `"tools":[`+oaWeatherTool+`]`)
		status, _, resp := h.chat(body)
		if a := parseOpenAICompletion(t, "gpt-4o", resp); status != 200 || a.toolName != "" || a.text != " openai answer to: weather in Paris?" {
			t.Errorf("%d %+v", status, a)
		}
	})
}

// TestStitchedAnswer is the continuation a gateway does: an answer cut
// after some frames, continued on another simulator of the same kind with
// the delivered text as prefill, stitches back to the whole answer byte for
// byte, whatever the cut point.
func TestStitchedAnswer(t *testing.T) {
	for _, k := range kinds {
		primary := newHarness(t, Options{Kind: k})
		fallback := newHarness(t, Options{Kind: k})
		m := defaultModel(k)
		for n := lifecycleFrames(k) + 1; n < lifecycleFrames(k)+len(words(fullAnswer)); n++ {
			t.Run(fmt.Sprintf("%s/cut_after_%d", k, n), func(t *testing.T) {
				primary.sim.SetFault(Fault{Kind: FaultCut, AfterChunks: n, Model: m})
				_, done := primary.in(t).openStream(context.Background(), chatFor(k, m, true, "user", "What is the capital of France?"))
				got, _, _ := streamText(t, k, (<-done).evs)
				// As Anthropic requires, the prefill carries no trailing white space.
				prefill := strings.TrimRight(got, " ")
				status, _, body := fallback.in(t).chat(chatFor(k, m, false, "user", "What is the capital of France?", "assistant", prefill))
				var a answer
				if k == KindAnthropic {
					a = parseAnthropicMessage(t, m, body)
				} else {
					a = parseOpenAICompletion(t, m, body)
				}
				if status != 200 || prefill+a.text != fullAnswer {
					t.Errorf("stitched %q + %q, want %q", prefill, a.text, fullAnswer)
				}
			})
		}
	}
}
