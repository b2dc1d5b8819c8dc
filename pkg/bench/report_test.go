package bench

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

// fixturePoint makes a point whose numbers derive from a base latency, so
// that the golden file's medians and ratios can be checked by hand.
func fixturePoint(scenario, target string, rep int, baseUS int, rps float64, cpuUS float64) Point {
	p := Point{
		Scenario: scenario, Target: target, Rep: rep, Concurrency: 1,
		Requests: int(rps * 5), Window: 5 * time.Second, RPS: rps,
		Latency:    Summary{P50: us(baseUS), P90: us(baseUS * 2), P99: us(baseUS * 4), P999: us(baseUS * 8), Max: us(baseUS * 9), Mean: us(baseUS)},
		HarnessCPU: time.Duration(rps*5*30) * time.Microsecond, UpstreamCPU: time.Duration(rps*5*10) * time.Microsecond,
		RSSKiB: -1, BgCPUPct: float64(10 * rep),
	}
	if scenario == ScenarioS10 {
		p.Stream = true
		p.TTFB = Summary{P50: us(baseUS - 20), P99: us(baseUS*3 - 20)}
	}
	if target != targetDirect {
		p.HasCPU = true
		p.CPU = time.Duration(cpuUS*rps*5) * time.Microsecond
		p.RSSKiB = int64(14000 + 512*rep)
	}
	return p
}

func fixtureReport() *Report {
	r := &Report{
		Started:   time.Date(2026, 11, 25, 20, 52, 0, 0, time.UTC),
		Machine:   "2 CPUs (Test CPU), 24 GiB, kernel 6.1.0-test, go1.26.8, nice 0",
		Pinning:   "load generator + upstream cpu0, targets cpu1 (taskset)",
		Kt:        "/tmp/ktbench-x/kt",
		Reps:      2,
		Duration:  5 * time.Second,
		Warmup:    time.Second,
		Upstream:  UpstreamMock,
		Chunks:    20,
		Ticks:     100,
		Scenarios: []string{ScenarioC1, ScenarioC50, ScenarioS10},
	}
	for rep := 1; rep <= 2; rep++ {
		d := rep * 10 // rep 2 is a little slower everywhere
		r.Points = append(r.Points,
			fixturePoint(ScenarioC1, targetDirect, rep, 80+d, 12000, 0),
			fixturePoint(ScenarioC1, targetRProxy, rep, 320+d, 3000, 90),
			fixturePoint(ScenarioC1, targetKt, rep, 300+d, 3200, 80),
			fixturePoint(ScenarioC50, targetDirect, rep, 1800+d, 24000, 0),
			fixturePoint(ScenarioC50, targetRProxy, rep, 4100+d, 10000+float64(100*rep), 85),
			fixturePoint(ScenarioC50, targetKt, rep, 3900+d, 11000, 68),
			fixturePoint(ScenarioC50, targetKtMetrics, rep, 3950+d, 10600, 74+float64(rep)),
			fixturePoint(ScenarioS10, targetDirect, rep, 1700+d, 5300, 0),
			fixturePoint(ScenarioS10, targetRProxy, rep, 2050+d, 4500, 196),
			fixturePoint(ScenarioS10, targetKt, rep, 2100+d, 4400, 180),
			fixturePoint(scenarioVariants, targetKt, rep, 3900+d, 11000, 68),
			fixturePoint(scenarioVariants, targetKtFailover, rep, 4000+d, 10500, 72),
			fixturePoint(scenarioVariants, targetKtMetrics, rep, 3950+d, 10400, 72),
			fixturePoint(scenarioVariants, targetKtOTel10, rep, 4100+d, 10000, 76),
			fixturePoint(scenarioVariants, targetKtOTel, rep, 4300+d, 9900, 80),
		)
	}
	// One failing point, to show the error cell.
	r.Points[len(r.Points)-1].Errors = 3
	r.Points[len(r.Points)-1].FirstError = "status 502: {\"error\"|x}"
	r.Variants = []VariantResult{
		{Name: ScenarioFailover, Title: "failover path", Off: targetKt, On: targetKtFailover, OffLabel: "one healthy target", OnLabel: "dead primary skipped (breaker open)",
			Notes: []string{"breaker open after 6 warm-up requests"}},
		{Name: ScenarioMetrics, Title: "metrics", Off: targetKt, On: targetKtMetrics, OffLabel: "no telemetry", OnLabel: "Prometheus endpoint (metrics recorded, not scraped)"},
		{Name: ScenarioTelemetry, Title: "telemetry", Off: targetKt, On: targetKtOTel, OffLabel: "no exporter", OnLabel: "OTLP/HTTP to a local sink",
			Notes: []string{"the sink received 4 exports (12 KiB)"}},
		{Name: ScenarioTelemetrySampled, Title: "telemetry, 10% of traces", Off: targetKt, On: targetKtOTel10, OffLabel: "no exporter", OnLabel: "OTLP/HTTP to a local sink, traces sampled at 0.1"},
		{Name: ScenarioEvents, Title: "events", Off: targetKtNoEvents, On: targetKt, OffLabel: "events off", OnLabel: "events on",
			Skipped: "events section does not lint: error: events: unknown key"},
	}
	r.Procs = []ProcInfo{
		{Target: targetRProxy, PID: 101, RSSKiB: 13824, CPU: 39050 * time.Millisecond, CPUs: "1"},
		{Target: targetKt, PID: 102, RSSKiB: 15360, CPU: 30 * time.Second, CPUs: "1"},
		{Target: targetKtOTel, PID: 103, RSSKiB: -1, CPU: -1},
	}
	r.ProfileTarget = targetKt
	r.Profile = "perf report (fixture)\n    12.00%  kt  [.] runtime.mallocgc"
	r.Notes = []string{"a run-wide note"}
	return r
}

func TestRenderGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixtureReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/report.golden", buf.Bytes())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -run %s -update to accept):\n--- got ---\n%s", path, t.Name(), got)
	}
}

// TestRenderRatios checks the numbers the targets are judged by against
// values worked out by hand from the fixture.
func TestRenderRatios(t *testing.T) {
	r := fixtureReport()
	p50 := msOf(func(p Point) time.Duration { return p.Latency.P50 })
	// c1: kt adds 220 µs in both reps, rproxy 240: 0.9167×.
	got := tripleMedian(r.perRep(ScenarioC1, targetKt, p50), r.perRep(ScenarioC1, targetRProxy, p50), r.perRep(ScenarioC1, targetDirect, p50), deltaRatio)
	if math.Abs(got-220.0/240) > 1e-9 {
		t.Errorf("c1 Δp50 ratio = %v, want %v", got, 220.0/240)
	}
	// c50 CPU: 68/85 in both reps.
	got = pairMedian(r.perRep(ScenarioC50, targetKt, Point.CPUPerReq), r.perRep(ScenarioC50, targetRProxy, Point.CPUPerReq), ratio)
	if math.Abs(got-68.0/85) > 1e-9 {
		t.Errorf("c50 CPU ratio = %v, want %v", got, 68.0/85)
	}
	// c50 RPS: 11000/10100 and 11000/10200, median of the two.
	got = pairMedian(r.perRep(ScenarioC50, targetKt, rpsOf), r.perRep(ScenarioC50, targetRProxy, rpsOf), ratio)
	if want := (11000.0/10100 + 11000.0/10200) / 2; math.Abs(got-want) > 1e-9 {
		t.Errorf("c50 RPS ratio = %v, want %v", got, want)
	}
}

func TestDeltaRatio(t *testing.T) {
	if got := deltaRatio(300, 200, 100); got != 2 {
		t.Errorf("deltaRatio(300, 200, 100) = %v, want 2", got)
	}
	// rproxy "faster than direct" is noise: no ratio rather than a
	// negative one that would pass any "≤" target.
	for _, ref := range []float64{100, 90} {
		if got := deltaRatio(300, ref, 100); !math.IsNaN(got) {
			t.Errorf("deltaRatio(300, %v, 100) = %v, want NaN", ref, got)
		}
	}
}

func TestRenderMissingData(t *testing.T) {
	// A run with a single c1 point for direct only must still render, with
	// dashes where nothing can be computed.
	r := &Report{Reps: 1, Scenarios: []string{ScenarioC1, ScenarioC50}, Points: []Point{{Scenario: ScenarioC1, Target: targetDirect, Rep: 1, BgCPUPct: math.NaN()}}}
	var buf bytes.Buffer
	if err := Render(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "| direct | 1 | 0.000 |") || strings.Contains(out, "NaN") {
		t.Errorf("unexpected rendering:\n%s", out)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderWriteError(t *testing.T) {
	if err := Render(failingWriter{}, fixtureReport()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Render to a failing writer = %v, want the write error", err)
	}
}
