package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSmoke runs the whole harness in quick mode: it builds kt (unless
// KT_BENCH_KT names a binary), starts the upstream, the bare proxy and every
// gateway variant as processes, runs every scenario once, and checks that
// the points are complete, error-free and that nothing is left running. It
// takes about ten seconds plus the build, so it runs only with
// KT_BENCH_SMOKE=1 and never under -short.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke test skipped under -short")
	}
	if os.Getenv("KT_BENCH_SMOKE") != "1" {
		t.Skip("set KT_BENCH_SMOKE=1 to run the whole harness (builds kt, ~10 s)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	rep, err := Run(ctx, Options{
		Reps: 1, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond,
		Kt:   os.Getenv("KT_BENCH_KT"),
		Self: []string{exe}, SelfEnv: []string{childEnvVar + "=1"},
		Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("harness log:\n%s", log.String())
		}
	}()
	count := map[string]int{}
	for _, p := range rep.Points {
		count[p.Scenario+"/"+p.Target]++
		if p.Errors != 0 {
			t.Errorf("%s %s: %d errors, first %q", p.Scenario, p.Target, p.Errors, p.FirstError)
		}
		// Whether a request fits in a 300 ms window depends on the
		// machine's load; that requests were sent and none failed does not.
		if p.Sent == 0 {
			t.Errorf("%s %s: no request sent", p.Scenario, p.Target)
		}
		if p.Target != targetDirect && (!p.HasCPU || p.RSSKiB <= 0) {
			t.Errorf("%s %s: no CPU or RSS of the target process", p.Scenario, p.Target)
		}
		if p.Stream && p.Requests > 0 && p.TTFB.P50 <= 0 {
			t.Errorf("%s %s: streams without TTFB", p.Scenario, p.Target)
		}
	}
	for _, sc := range []string{ScenarioC1, ScenarioC50, ScenarioS10} {
		tgs := baseTargets()
		if sc == ScenarioC50 {
			tgs = append(tgs, targetKtMetrics) // the metrics variant runs
		}
		for _, tg := range tgs {
			if count[sc+"/"+tg] != 1 {
				t.Errorf("%d points for %s %s, want 1", count[sc+"/"+tg], sc, tg)
			}
		}
	}
	for _, v := range rep.Variants {
		switch {
		case v.Skipped != "" && v.Name == ScenarioEvents && strings.Contains(v.Skipped, "lint"):
			// The events section is optional until the gateway has it.
		case v.Skipped != "":
			t.Errorf("variant %s skipped: %s", v.Name, v.Skipped)
		case count[scenarioVariants+"/"+v.Off] != 1 || count[scenarioVariants+"/"+v.On] != 1:
			t.Errorf("variant %s: %d off and %d on points, want 1 each", v.Name, count[scenarioVariants+"/"+v.Off], count[scenarioVariants+"/"+v.On])
		}
		if v.Name == ScenarioFailover && (len(v.Notes) == 0 || !strings.HasPrefix(v.Notes[0], "breaker open")) {
			t.Errorf("failover variant: the dead primary's breaker did not open: %v", v.Notes)
		}
	}
	if len(rep.Variants) != len(variantDefs()) {
		t.Errorf("%d variants reported, want %d", len(rep.Variants), len(variantDefs()))
	}
	// Every process the harness started is gone.
	for _, p := range rep.Procs {
		if p.PID == os.Getpid() {
			continue
		}
		if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Run: %v", p.Target, p.PID, err)
		}
	}
	var md bytes.Buffer
	if err := Render(&md, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Non-streaming, concurrency 1", "### Streaming, concurrency 10", "### Gateway variants", "### Issue 8 targets"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report without %q", want)
		}
	}
	t.Logf("report:\n%s", md.String())
}
