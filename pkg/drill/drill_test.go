package drill

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/pkg/classify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "drill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScenarios drives every scenario for a few seconds at 50 rps against an
// in-process stack and checks the report's invariants.
func TestScenarios(t *testing.T) {
	cfg := testConfig(t)
	for _, sc := range Scenarios() {
		t.Run(string(sc), func(t *testing.T) {
			var progress bytes.Buffer
			rep, err := Run(context.Background(), Options{
				Data: cfg, File: "drill.yaml", Scenario: sc, RPS: 50, Duration: 3 * time.Second,
				Progress: &progress,
			})
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", table.String())
			if rep.Sent < 100 || rep.Sent > 150 {
				t.Errorf("sent %d requests, want 100..150 (50 rps for 3 s, capped at 150)", rep.Sent)
			}
			if rep.EventsWritten != rep.Sent {
				t.Errorf("events written %d, requests sent %d", rep.EventsWritten, rep.Sent)
			}
			if rep.MaxAttemptsSeen > rep.AttemptLimit {
				t.Errorf("a request made %d attempts, limit %d", rep.MaxAttemptsSeen, rep.AttemptLimit)
			}
			if len(rep.Problems) > 0 {
				t.Errorf("fault changes failed: %v", rep.Problems)
			}
			if progress.Len() == 0 {
				t.Error("no progress lines")
			}
			if rep.RecoverMS == nil {
				t.Error("the primary never answered again after the fault")
			}
			checkRecorded(t, rep)
			if check := scenarioChecks[sc]; check != nil {
				check(t, rep)
			}
			if sc.OneTargetHealthy() {
				if rep.Succeeded != rep.Sent {
					t.Errorf("%d of %d requests succeeded with a healthy fallback: %v %v", rep.Succeeded, rep.Sent, rep.Errors, rep.ErrorSamples)
				}
				if !answeredByPrimaryOnly[sc] && (rep.DetectFallbackMS == nil || rep.AnsweredBy["anthropic-fallback"] == 0) {
					t.Error("no request was answered by the fallback during the fault")
				}
				return
			}
			// all-down: 503s only during the outage.
			if rep.ErrorsDuringFault == 0 || rep.Errors["503"] != rep.ErrorsBeforeFault+rep.ErrorsDuringFault+rep.ErrorsAfterFault {
				t.Errorf("want 503s during the outage only: %v", rep.Errors)
			}
			if rep.ErrorsBeforeFault != 0 || rep.ErrorsAfterRecovery != 0 {
				t.Errorf("errors outside the outage: %d before, %d after recovery", rep.ErrorsBeforeFault, rep.ErrorsAfterRecovery)
			}
		})
	}
}

// answeredByPrimaryOnly are the scenarios whose fault the primary absorbs
// itself: nothing need reach the fallback.
var answeredByPrimaryOnly = map[Scenario]bool{NoDone: true, Transient: true}

// checkRecorded checks what holds in every scenario for the figures read
// from the events: present, and never negative.
func checkRecorded(t *testing.T, rep *Report) {
	t.Helper()
	for k, v := range map[string]*int{"retries": rep.Retries, "retried_requests": rep.RetriedRequests,
		"answered_by_retry": rep.AnsweredByRetry, "stalls": rep.Stalls, "streams_interrupted": rep.StreamsInterrupted} {
		switch {
		case v == nil:
			t.Errorf("%s missing: %s", k, rep.Missing[k])
		case *v < 0:
			t.Errorf("%s = %d", k, *v)
		}
	}
	if rep.Continuations == nil {
		t.Errorf("continuations missing: %s", rep.Missing["continuations"])
	}
	if rep.StreamsWithoutDone == nil || *rep.StreamsWithoutDone < 0 {
		t.Errorf("streams_without_done = %v (%s)", rep.StreamsWithoutDone, rep.Missing["streams_without_done"])
	}
	if rep.Retries != nil && (*rep.AnsweredByRetry > *rep.RetriedRequests || *rep.RetriedRequests > *rep.Retries) {
		t.Errorf("answered by retry %d, retried requests %d, retries %d: each at most the next", *rep.AnsweredByRetry, *rep.RetriedRequests, *rep.Retries)
	}
	if rep.StallDetectP50MS == nil && rep.Missing["stall_detect_p50_ms"] == "" {
		t.Error("stall detection missing without a reason")
	}
	if len(rep.Overrides) > 0 && !rep.Overrides[0].Applied {
		t.Errorf("overrides not applied to the in-process stack: %+v", rep.Overrides)
	}
}

// scenarioChecks check the figures each scenario is about.
var scenarioChecks = map[Scenario]func(t *testing.T, rep *Report){
	Transient: func(t *testing.T, rep *Report) {
		if *rep.Retries == 0 || *rep.AnsweredByRetry == 0 {
			t.Errorf("retries %d, answered by a retry %d: want both > 0", *rep.Retries, *rep.AnsweredByRetry)
		}
		if rep.RetriesByReason[string(classify.UpstreamError)]+rep.RetriesByReason[string(classify.RateLimited)] == 0 {
			t.Errorf("retries by reason %v: want upstream_error or rate_limited", rep.RetriesByReason)
		}
	},
	Stall: func(t *testing.T, rep *Report) {
		if *rep.Stalls == 0 || rep.Continuations.OK == 0 {
			t.Errorf("stalls %d, continuations %+v: want a stall continued", *rep.Stalls, *rep.Continuations)
		}
		if *rep.StreamsInterrupted != 0 {
			t.Errorf("%d streams recorded as interrupted with a prefill-capable fallback", *rep.StreamsInterrupted)
		}
		if rep.StallDetectP50MS == nil || rep.StreamIdleTimeoutMS == nil {
			t.Fatalf("stall detection %v, idle timeout %v: %v", rep.StallDetectP50MS, rep.StreamIdleTimeoutMS, rep.Missing)
		}
		idle := *rep.StreamIdleTimeoutMS
		// At least the idle timeout (the client heard nothing that long);
		// a generous upper bound: detection plus a continuation's first
		// word on a loaded machine.
		if *rep.StallDetectP50MS < idle || *rep.StallDetectMaxMS < *rep.StallDetectP50MS || *rep.StallDetectMaxMS > idle+5000 {
			t.Errorf("stall detection p50 %v max %v ms, idle timeout %v ms", *rep.StallDetectP50MS, *rep.StallDetectMaxMS, idle)
		}
	},
	Cut: func(t *testing.T, rep *Report) {
		if rep.Continuations.OK == 0 || *rep.StreamsInterrupted != 0 {
			t.Errorf("continuations %+v, streams interrupted %d: want cut streams continued", *rep.Continuations, *rep.StreamsInterrupted)
		}
	},
	NoDone: func(t *testing.T, rep *Report) {
		if *rep.StreamsWithoutDone == 0 || *rep.StreamsInterrupted != 0 {
			t.Errorf("%d upstream streams without [DONE], %d recorded interrupted: want > 0 and 0", *rep.StreamsWithoutDone, *rep.StreamsInterrupted)
		}
		if rep.AnsweredBy["anthropic-fallback"] != 0 || len(rep.FailoverReasons) != 0 {
			t.Errorf("complete streams without [DONE] failed over: %v %v", rep.AnsweredBy, rep.FailoverReasons)
		}
	},
	ContextLength: func(t *testing.T, rep *Report) {
		if rep.FailoverReasons["context_length"] == 0 {
			t.Errorf("failover reasons %v: want context_length", rep.FailoverReasons)
		}
		// A prompt too long for a model is not the target's failure.
		if rep.BreakerOpenedMS != nil {
			t.Errorf("the breaker opened %v ms into a context-length fault", *rep.BreakerOpenedMS)
		}
	},
}

func TestParseScenario(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"primary-down", true}, {"flapping", true}, {"all-down", true}, {"nope", false}, {"", false}} {
		t.Run(tc.in, func(t *testing.T) {
			if _, err := ParseScenario(tc.in); (err == nil) != tc.ok {
				t.Fatalf("ParseScenario(%q) err = %v", tc.in, err)
			}
		})
	}
}

// TestGatewayDrillCountsOnlyItsOwnEvents drives a running stack (--gateway)
// while other clients use the same gateway, as a second drill or a user's
// curl would: the report counts the drill's own events only.
func TestGatewayDrillCountsOnlyItsOwnEvents(t *testing.T) {
	cfg := testConfig(t)
	st, err := StartStack(context.Background(), StackOptions{File: "drill.yaml", Data: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// Other traffic before and during the drill: a bounded number of
	// requests, all answered (so all recorded) while the drill runs.
	const others = 40
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range others {
			resp, err := http.Post(st.GatewayURL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Errorf("other client: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	rep, err := Run(context.Background(), Options{
		Data: cfg, File: "drill.yaml", Scenario: PrimaryDown, RPS: 20, Duration: 2 * time.Second,
		Gateway: st.GatewayURL, SimAdmin: st.AdminURLs,
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent == 0 || rep.EventsWritten != rep.Sent {
		t.Fatalf("events written %d of %d sent (%d other requests on the gateway; %s)", rep.EventsWritten, rep.Sent, others, rep.EventsError)
	}
}

// TestGatewayDrillListsOverridesNotApplied drives a running stack with a
// scenario that needs a setting the configuration leaves off: the running
// gateway keeps its configuration, and the report says the setting was
// needed but not applied.
func TestGatewayDrillListsOverridesNotApplied(t *testing.T) {
	cfg := testConfig(t)
	st, err := StartStack(context.Background(), StackOptions{File: "drill.yaml", Data: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	rep, err := Run(context.Background(), Options{
		Data: cfg, File: "drill.yaml", Scenario: Cut, RPS: 20, Duration: 1500 * time.Millisecond,
		Gateway: st.GatewayURL, SimAdmin: st.AdminURLs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Overrides) != 1 || rep.Overrides[0].Setting != "failover.midstream.enabled" || rep.Overrides[0].Applied {
		t.Fatalf("overrides %+v: want midstream.enabled, not applied", rep.Overrides)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "needed, not applied") {
		t.Errorf("the table does not say the override was not applied:\n%s", table.String())
	}
	// Without continuation a cut stream is a broken answer, recorded so.
	if rep.Continuations == nil || rep.Continuations.OK != 0 || rep.StreamsInterrupted == nil || *rep.StreamsInterrupted == 0 {
		t.Errorf("continuations %+v, streams interrupted %v: want none continued and some interrupted (%v)", rep.Continuations, rep.StreamsInterrupted, rep.Missing)
	}
}
