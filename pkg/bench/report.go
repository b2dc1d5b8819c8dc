package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is one measured load point: one scenario, one target, one rep.
type Point struct {
	// Scenario is c1, c50, s10 or "variants".
	Scenario string
	// Target is direct, rproxy, kt or a kt variant (kt-otel, ...).
	Target string
	// Rep counts from 1.
	Rep int
	// Concurrency and Stream describe the load.
	Concurrency int
	Stream      bool
	// Requests counts the successful requests in the window; Sent every
	// request sent, warm-up and window edges included.
	Requests int
	Sent     int64
	// Errors counts the failed ones; FirstError describes the first.
	Errors     int
	FirstError string
	// Window is the measurement window's real length.
	Window time.Duration
	// RPS is Requests per second of Window.
	RPS float64
	// Latency is the time to the end of the answer; TTFB the time to the
	// first SSE data line (streams only).
	Latency, TTFB Summary
	// CPU is the target process's CPU time over the window; HasCPU is false
	// for direct (no process) or when /proc could not be read.
	CPU    time.Duration
	HasCPU bool
	// HarnessCPU is the CPU the load generator and upstream used, and
	// UpstreamCPU the upstream's share of it.
	HarnessCPU, UpstreamCPU time.Duration
	// RSSKiB is the target's VmRSS right after the point; -1 when unknown.
	RSSKiB int64
	// BgCPUPct is the CPU used outside the harness during the window, in %
	// of one core; NaN when unknown.
	BgCPUPct float64
}

// CPUPerReq is the target's CPU µs per successful request; NaN when unknown.
func (p Point) CPUPerReq() float64 {
	if !p.HasCPU || p.Requests == 0 {
		return math.NaN()
	}
	return float64(p.CPU) / 1e3 / float64(p.Requests)
}

// BusyPct is the target's CPU over the window in % of one core: near 100
// at c=50 the gateway is the bottleneck, well below it the harness (or the
// machine's other load) is, and the RPS says little about the target.
func (p Point) BusyPct() float64 {
	if !p.HasCPU || p.Window <= 0 {
		return math.NaN()
	}
	return 100 * p.CPU.Seconds() / p.Window.Seconds()
}

// HarnessPerReq is the harness's CPU µs per successful request.
func (p Point) HarnessPerReq() float64 {
	if p.Requests == 0 {
		return math.NaN()
	}
	return float64(p.HarnessCPU) / 1e3 / float64(p.Requests)
}

// UpstreamPerReq is the upstream's CPU µs per successful request.
func (p Point) UpstreamPerReq() float64 {
	if p.Requests == 0 {
		return math.NaN()
	}
	return float64(p.UpstreamCPU) / 1e3 / float64(p.Requests)
}

// VariantResult describes one gateway-variant comparison; its points are
// the "variants" points of its Off and On targets.
type VariantResult struct {
	// Name is the scenario name (failover, telemetry, events, cf).
	Name, Title string
	// Off and On are the compared targets; the labels say what differs.
	Off, On           string
	OffLabel, OnLabel string
	// Skipped, if set, says why the variant was not measured.
	Skipped string
	// Notes are facts learned during the run (e.g. exports received).
	Notes []string
}

// ProcInfo is a target process at the end of the run.
type ProcInfo struct {
	Target string
	PID    int
	// RSSKiB is VmRSS; -1 when unknown.
	RSSKiB int64
	// CPU is utime+stime over the whole life; -1 when unknown.
	CPU time.Duration
	// CPUs is the kernel's Cpus_allowed_list: proof of the pinning.
	CPUs string
}

// Report is everything one run measured; Render prints it.
type Report struct {
	// Started is when the run began (UTC).
	Started time.Time
	// Machine describes CPUs, memory, kernel, Go version and niceness.
	Machine string
	// Pinning says which process ran on which CPU.
	Pinning string
	// Kt is the measured binary.
	Kt string
	// Reps, Duration and Warmup describe each point.
	Reps             int
	Duration, Warmup time.Duration
	// Upstream is mock or sim; Chunks the mock's chunks per stream.
	Upstream string
	Chunks   int
	// Ticks is the clock-tick rate CPU times were read with.
	Ticks int64
	// Scenarios are the base scenarios run (c1, c50, s10).
	Scenarios []string
	// Points are every measured point.
	Points []Point
	// Variants are the gateway-variant comparisons selected.
	Variants []VariantResult
	// Procs describes the target processes at the end.
	Procs []ProcInfo
	// Profile holds the top functions of ProfileTarget's CPU profile, if any.
	Profile, ProfileTarget string
	// Notes are run-wide remarks.
	Notes []string
}

// metric extracts one number from a point; NaN when it has none.
type metric func(Point) float64

func msOf(f func(Point) time.Duration) metric {
	return func(p Point) float64 { return float64(f(p)) / 1e6 }
}

// perRep returns a metric's value for each rep (NaN where the point is
// missing), so that values of two targets in the same rep can be paired.
func (r *Report) perRep(scenario, target string, m metric) []float64 {
	out := make([]float64, r.Reps)
	for i := range out {
		out[i] = math.NaN()
	}
	for _, p := range r.Points {
		if p.Scenario == scenario && p.Target == target && p.Rep >= 1 && p.Rep <= r.Reps {
			out[p.Rep-1] = m(p)
		}
	}
	return out
}

func (r *Report) points(scenario, target string) []Point {
	var out []Point
	for _, p := range r.Points {
		if p.Scenario == scenario && p.Target == target {
			out = append(out, p)
		}
	}
	return out
}

// repMedian is the median over reps of f(the rep's value in each series),
// leaving out a rep where any series has no value.
func repMedian(f func(xs []float64) float64, series ...[]float64) float64 {
	n := -1
	for _, s := range series {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	v := make([]float64, 0, max(n, 0))
	xs := make([]float64, len(series))
	for i := range max(n, 0) {
		ok := true
		for j, s := range series {
			xs[j] = s[i]
			ok = ok && !isNaN(s[i])
		}
		if ok {
			v = append(v, f(xs))
		}
	}
	return median(v)
}

// pairMedian is the median over reps of f(a[i], b[i]) where both exist.
func pairMedian(a, b []float64, f func(a, b float64) float64) float64 {
	return repMedian(func(x []float64) float64 { return f(x[0], x[1]) }, a, b)
}

// tripleMedian is the median over reps of f(a[i], b[i], c[i]).
func tripleMedian(a, b, c []float64, f func(a, b, c float64) float64) float64 {
	return repMedian(func(x []float64) float64 { return f(x[0], x[1], x[2]) }, a, b, c)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// deltaRatio is (x−direct)/(ref−direct): how much x adds relative to what
// ref adds. When ref added nothing measurable (noise put it at or below
// direct) there is no ratio.
func deltaRatio(x, ref, direct float64) float64 {
	if ref-direct <= 0 {
		return math.NaN()
	}
	return (x - direct) / (ref - direct)
}

// Formatting: "—" for anything unknown.
func fmtF(x float64, prec int) string {
	if isNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

func fmtSigned(x float64) string {
	if isNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return fmt.Sprintf("%+.0f", x)
}

func fmtX(x float64) string {
	if isNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "×"
}

func fmtPct(x float64) string {
	if isNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return strconv.FormatFloat(100*x, 'f', 0, 64) + "%"
}

func fmtMiB(kib int64) string {
	if kib < 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64)
}

func maxOf(xs []float64) float64 {
	m := math.NaN()
	for _, x := range xs {
		if !isNaN(x) && (isNaN(m) || x > m) {
			m = x
		}
	}
	return m
}

func countReps(xs []float64) int {
	n := 0
	for _, x := range xs {
		if !isNaN(x) {
			n++
		}
	}
	return n
}

// table writes a markdown table.
type table struct {
	w    io.Writer
	cols int
}

func newTable(w io.Writer, head ...string) *table {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	return &table{w: w, cols: len(head)}
}

func (t *table) row(cells ...string) {
	for len(cells) < t.cols {
		cells = append(cells, "")
	}
	fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | "))
}

// baseTargets is the row order of the base tables.
func baseTargets() []string { return []string{targetDirect, targetRProxy, targetKt} }

// Render writes the report as markdown.
func Render(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	r.renderHeader(ew)
	for _, sc := range r.Scenarios {
		switch sc {
		case ScenarioC1:
			r.renderC1(ew)
		case ScenarioC50:
			r.renderC50(ew)
		case ScenarioS10:
			r.renderS10(ew)
		}
	}
	if len(r.Variants) > 0 {
		r.renderVariants(ew)
	}
	r.renderTargets(ew)
	r.renderProcs(ew)
	if r.Profile != "" {
		fmt.Fprintf(ew, "### CPU profile of %s at c=50 (perf, one extra unreported point)\n\n```\n%s\n```\n\n", r.ProfileTarget, strings.TrimRight(r.Profile, "\n"))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(ew, "Notes:")
		for _, n := range r.Notes {
			fmt.Fprintln(ew, "- "+n)
		}
		fmt.Fprintln(ew)
	}
	return ew.err
}

// errWriter keeps the first write error so the renderers can ignore it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}

func (r *Report) renderHeader(w io.Writer) {
	fmt.Fprintf(w, "## ktbench — gateway overhead, %s\n\n", r.Started.UTC().Format("2006-01-02T15:04Z"))
	fmt.Fprintf(w, "Machine: %s.\n", r.Machine)
	fmt.Fprintf(w, "Pinning: %s. Upstream: %s", r.Pinning, r.Upstream)
	if r.Upstream == UpstreamMock {
		fmt.Fprintf(w, " (pre-rendered answers, %d SSE content chunks, no delay)", r.Chunks)
	} else {
		fmt.Fprint(w, " (pkg/sim, zero latency)")
	}
	fmt.Fprintf(w, ". kt: `%s`.\n", r.Kt)
	fmt.Fprintf(w, "Reps: %d × (%s + %s warm-up) per point, targets interleaved within each rep, in reverse order every other rep; cells are medians over reps; "+
		"× columns are per-rep ratios (median) against rproxy in the same rep; spread = (max−min)/median.\n", r.Reps, r.Duration, r.Warmup)
	fmt.Fprintf(w, "CPU = utime+stime of the target process from /proc over the window (%d ticks/s); "+
		"target busy = that CPU in %% of one core (well under 100%% at c=50: the harness or other load limited the point, so its RPS says little); "+
		"harness = load generator + upstream; bg CPU = CPU used outside the harness during the window, %% of one core (high = contaminated point).\n\n", r.Ticks)
}

func (r *Report) renderC1(w io.Writer) {
	const sc = ScenarioC1
	fmt.Fprintf(w, "### Non-streaming, concurrency 1 (latency; Δ = minus direct, in µs)\n\n")
	t := newTable(w, "target", "reps", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "Δp50 µs", "Δp99 µs", "Δp50 ×rproxy", "Δp99 ×rproxy", "p50 spread", "errors", "bg CPU max")
	p50 := msOf(func(p Point) time.Duration { return p.Latency.P50 })
	p99 := msOf(func(p Point) time.Duration { return p.Latency.P99 })
	d50, d99 := r.perRep(sc, targetDirect, p50), r.perRep(sc, targetDirect, p99)
	r50, r99 := r.perRep(sc, targetRProxy, p50), r.perRep(sc, targetRProxy, p99)
	for _, name := range baseTargets() {
		v50, v99 := r.perRep(sc, name, p50), r.perRep(sc, name, p99)
		if countReps(v50) == 0 {
			continue
		}
		x50, x99 := "—", "—"
		if name != targetDirect {
			x50 = fmtX(tripleMedian(v50, r50, d50, deltaRatio))
			x99 = fmtX(tripleMedian(v99, r99, d99, deltaRatio))
		}
		t.row(name, strconv.Itoa(countReps(v50)),
			fmtF(median(v50), 3), fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P90 }))), 3),
			fmtF(median(v99), 3), fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P999 }))), 3),
			fmtSigned(1e3*pairMedian(v50, d50, sub)), fmtSigned(1e3*pairMedian(v99, d99, sub)),
			x50, x99, fmtPct(spread(v50)), r.errCell(sc, name), fmtBg(r.perRep(sc, name, bgOf)))
	}
	fmt.Fprintln(w)
}

func (r *Report) renderC50(w io.Writer) {
	const sc = ScenarioC50
	fmt.Fprintf(w, "### Non-streaming, concurrency 50 (throughput; RSS after the point, last rep)\n\n")
	t := newTable(w, "target", "reps", "RPS", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "CPU µs/req", "target busy", "harness (upstream) µs/req", "RPS ×rproxy", "CPU ×rproxy", "RPS spread", "RSS MiB", "errors", "bg CPU max")
	rrps, rcpu := r.perRep(sc, targetRProxy, rpsOf), r.perRep(sc, targetRProxy, Point.CPUPerReq)
	for _, name := range append(baseTargets(), targetKtMetrics) {
		rps := r.perRep(sc, name, rpsOf)
		if countReps(rps) == 0 {
			continue
		}
		cpu := r.perRep(sc, name, Point.CPUPerReq)
		xr, xc := "—", "—"
		if name != targetDirect {
			xr, xc = fmtX(pairMedian(rps, rrps, ratio)), fmtX(pairMedian(cpu, rcpu, ratio))
		}
		t.row(name, strconv.Itoa(countReps(rps)), fmtF(median(rps), 0),
			fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P50 }))), 3),
			fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P90 }))), 3),
			fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P99 }))), 3),
			fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P999 }))), 3),
			fmtF(median(cpu), 1), fmtBusy(r.perRep(sc, name, Point.BusyPct)),
			fmtF(median(r.perRep(sc, name, Point.HarnessPerReq)), 1)+" ("+fmtF(median(r.perRep(sc, name, Point.UpstreamPerReq)), 1)+")",
			xr, xc, fmtPct(spread(rps)), r.lastRSS(sc, name), r.errCell(sc, name), fmtBg(r.perRep(sc, name, bgOf)))
	}
	fmt.Fprintln(w)
}

func (r *Report) renderS10(w io.Writer) {
	const sc = ScenarioS10
	fmt.Fprintf(w, "### Streaming, concurrency 10 (TTFB = first `data:` line; total = through `[DONE]`; Δ = minus direct, in µs)\n\n")
	t := newTable(w, "target", "reps", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms", "total p99 ms", "streams/s", "ΔTTFB p50 µs", "Δtotal p50 µs", "ΔTTFB − rproxy's µs", "CPU µs/stream", "CPU ×rproxy", "errors", "bg CPU max")
	ttfb := msOf(func(p Point) time.Duration { return p.TTFB.P50 })
	total := msOf(func(p Point) time.Duration { return p.Latency.P50 })
	dT, dTot := r.perRep(sc, targetDirect, ttfb), r.perRep(sc, targetDirect, total)
	rT, rcpu := r.perRep(sc, targetRProxy, ttfb), r.perRep(sc, targetRProxy, Point.CPUPerReq)
	for _, name := range baseTargets() {
		vT := r.perRep(sc, name, ttfb)
		if countReps(vT) == 0 {
			continue
		}
		cpu := r.perRep(sc, name, Point.CPUPerReq)
		xT, xc := "—", "—"
		if name != targetDirect {
			// (x−direct) − (rproxy−direct) = x − rproxy, paired by rep.
			xT = fmtSigned(1e3 * pairMedian(vT, rT, sub))
			xc = fmtX(pairMedian(cpu, rcpu, ratio))
		}
		t.row(name, strconv.Itoa(countReps(vT)), fmtF(median(vT), 3),
			fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.TTFB.P99 }))), 3),
			fmtF(median(r.perRep(sc, name, total)), 3),
			fmtF(median(r.perRep(sc, name, msOf(func(p Point) time.Duration { return p.Latency.P99 }))), 3),
			fmtF(median(r.perRep(sc, name, rpsOf)), 0),
			fmtSigned(1e3*pairMedian(vT, dT, sub)), fmtSigned(1e3*pairMedian(r.perRep(sc, name, total), dTot, sub)),
			xT, fmtF(median(cpu), 1), xc, r.errCell(sc, name), fmtBg(r.perRep(sc, name, bgOf)))
	}
	fmt.Fprintln(w)
}

func (r *Report) renderVariants(w io.Writer) {
	const sc = scenarioVariants
	fmt.Fprintf(w, "### Gateway variants (kt against itself; non-streaming, concurrency %d; × and Δ = on against off in the same rep)\n\n", variantConcurrency)
	t := newTable(w, "variant", "config", "target", "reps", "RPS", "p50 ms", "p99 ms", "CPU µs/req", "target busy", "RPS ×off", "CPU ×off", "Δp50 µs", "RSS MiB", "errors", "bg CPU max")
	p50 := msOf(func(p Point) time.Duration { return p.Latency.P50 })
	var notes []string
	for _, v := range r.Variants {
		if v.Skipped != "" {
			t.row(v.Name, "skipped: "+v.Skipped)
			continue
		}
		offRPS, offCPU, off50 := r.perRep(sc, v.Off, rpsOf), r.perRep(sc, v.Off, Point.CPUPerReq), r.perRep(sc, v.Off, p50)
		for i, side := range []struct{ target, label string }{{v.Off, "off: " + v.OffLabel}, {v.On, "on: " + v.OnLabel}} {
			rps, cpu, v50 := r.perRep(sc, side.target, rpsOf), r.perRep(sc, side.target, Point.CPUPerReq), r.perRep(sc, side.target, p50)
			xr, xc, d := "—", "—", "—"
			if i == 1 {
				xr, xc = fmtX(pairMedian(rps, offRPS, ratio)), fmtX(pairMedian(cpu, offCPU, ratio))
				d = fmtSigned(1e3 * pairMedian(v50, off50, sub))
			}
			t.row(v.Name, side.label, side.target, strconv.Itoa(countReps(rps)), fmtF(median(rps), 0), fmtF(median(v50), 3),
				fmtF(median(r.perRep(sc, side.target, msOf(func(p Point) time.Duration { return p.Latency.P99 }))), 3),
				fmtF(median(cpu), 1), fmtBusy(r.perRep(sc, side.target, Point.BusyPct)), xr, xc, d, r.lastRSS(sc, side.target), r.errCell(sc, side.target), fmtBg(r.perRep(sc, side.target, bgOf)))
		}
		for _, n := range v.Notes {
			notes = append(notes, v.Name+": "+n)
		}
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
}

// renderTargets compares the run with issue 8's targets.
func (r *Report) renderTargets(w io.Writer) {
	type check struct{ name, value, target, ok string }
	var cs []check
	verdict := func(ok bool, x float64) string {
		switch {
		case isNaN(x):
			return "—"
		case ok:
			return "yes"
		}
		return "no"
	}
	// Judge the value as printed: 50.0000001 µs is +50 and meets ≤ +50.
	round := func(x float64, unit float64) float64 { return math.Round(x/unit) * unit }
	has := func(sc string) bool {
		for _, s := range r.Scenarios {
			if s == sc {
				return true
			}
		}
		return false
	}
	if has(ScenarioC50) {
		x := round(pairMedian(r.perRep(ScenarioC50, targetKt, Point.CPUPerReq), r.perRep(ScenarioC50, targetRProxy, Point.CPUPerReq), ratio), 0.01)
		v := verdict(x <= 0.7, x)
		if v == "no" && x <= 1 {
			v = "floor only"
		}
		cs = append(cs, check{"c50 CPU/req ×rproxy", fmtX(x), "≤ 0.70× (floor ≤ 1.00×)", v})
		if cpu := r.perRep(ScenarioC50, targetKtMetrics, Point.CPUPerReq); countReps(cpu) > 0 {
			// As the target is stated: metrics and events on.
			x := round(pairMedian(cpu, r.perRep(ScenarioC50, targetRProxy, Point.CPUPerReq), ratio), 0.01)
			vd := verdict(x <= 0.7, x)
			if vd == "no" && x <= 1 {
				vd = "floor only"
			}
			cs = append(cs, check{"c50 CPU/req ×rproxy, metrics on too (kt-metrics)", fmtX(x), "≤ 0.70× (floor ≤ 1.00×)", vd})
		}
		x = round(pairMedian(r.perRep(ScenarioC50, targetKt, rpsOf), r.perRep(ScenarioC50, targetRProxy, rpsOf), ratio), 0.01)
		cs = append(cs, check{"c50 RPS ×rproxy", fmtX(x), "≥ 0.90×", verdict(x >= 0.9, x)})
	}
	if has(ScenarioC1) {
		p50 := msOf(func(p Point) time.Duration { return p.Latency.P50 })
		p99 := msOf(func(p Point) time.Duration { return p.Latency.P99 })
		x := round(tripleMedian(r.perRep(ScenarioC1, targetKt, p50), r.perRep(ScenarioC1, targetRProxy, p50), r.perRep(ScenarioC1, targetDirect, p50), deltaRatio), 0.01)
		cs = append(cs, check{"c1 Δp50 ×rproxy's", fmtX(x), "≤ 1.10×", verdict(x <= 1.1, x)})
		x = round(tripleMedian(r.perRep(ScenarioC1, targetKt, p99), r.perRep(ScenarioC1, targetRProxy, p99), r.perRep(ScenarioC1, targetDirect, p99), deltaRatio), 0.01)
		cs = append(cs, check{"c1 Δp99 ×rproxy's", fmtX(x), "≤ 1.50×", verdict(x <= 1.5, x)})
	}
	if has(ScenarioS10) {
		ttfb := msOf(func(p Point) time.Duration { return p.TTFB.P50 })
		x := round(1e3*pairMedian(r.perRep(ScenarioS10, targetKt, ttfb), r.perRep(ScenarioS10, targetRProxy, ttfb), sub), 1)
		cs = append(cs, check{"s10 ΔTTFB p50 − rproxy's", fmtSigned(x) + " µs", "≤ +50 µs", verdict(x <= 50, x)})
	}
	for _, v := range r.Variants {
		if v.Skipped != "" {
			continue
		}
		var limit float64
		switch v.Name {
		case ScenarioTelemetry:
			limit = 0.90
		case ScenarioEvents:
			limit = 0.95
		case ScenarioMetrics, ScenarioTelemetrySampled:
			// Shown beside the telemetry target, without one of their own.
		default:
			continue
		}
		x := round(pairMedian(r.perRep(scenarioVariants, v.On, rpsOf), r.perRep(scenarioVariants, v.Off, rpsOf), ratio), 0.01)
		if limit == 0 {
			cs = append(cs, check{v.Title + " on: RPS ×off", fmtX(x), "—", "—"})
			continue
		}
		cs = append(cs, check{v.Name + " on: RPS ×off", fmtX(x), "≥ " + fmtX(limit), verdict(x >= limit, x)})
	}
	if has(ScenarioC50) {
		var rss []string
		maxKiB, growth := int64(-1), false
		for i, p := range r.points(ScenarioC50, targetKt) {
			rss = append(rss, fmtMiB(p.RSSKiB))
			maxKiB = max(maxKiB, p.RSSKiB)
			if i > 0 && p.RSSKiB > 0 && p.RSSKiB > r.points(ScenarioC50, targetKt)[i-1].RSSKiB*11/10 {
				growth = true // more than 10% up from the previous rep
			}
		}
		if len(rss) > 0 {
			x := float64(maxKiB)
			if maxKiB < 0 {
				x = math.NaN()
			}
			cs = append(cs, check{"kt RSS after c50, per rep", strings.Join(rss, ", ") + " MiB", "≤ 40 MiB, no growth", verdict(maxKiB <= 40<<10 && !growth, x)})
		}
	}
	var errs int
	var seen bool
	for _, p := range r.Points {
		if strings.HasPrefix(p.Target, targetKt) {
			errs += p.Errors
			seen = true
		}
	}
	if seen {
		cs = append(cs, check{"kt errors, all points", strconv.Itoa(errs), "0", verdict(errs == 0, 0)})
	}
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "### Issue 8 targets (kt against rproxy or itself, same run)\n\n")
	t := newTable(w, "check", "measured", "target", "met")
	for _, c := range cs {
		t.row(c.name, c.value, c.target, c.ok)
	}
	fmt.Fprintln(w)
}

func (r *Report) renderProcs(w io.Writer) {
	if len(r.Procs) == 0 {
		return
	}
	fmt.Fprintf(w, "### Processes after the run\n\n")
	t := newTable(w, "process", "pid", "CPUs allowed", "RSS MiB (VmRSS)", "CPU s (utime+stime, whole life)")
	for _, p := range r.Procs {
		cpu := "—"
		if p.CPU >= 0 {
			cpu = fmtF(p.CPU.Seconds(), 2)
		}
		cpus := p.CPUs
		if cpus == "" {
			cpus = "—"
		}
		t.row(p.Target, strconv.Itoa(p.PID), cpus, fmtMiB(p.RSSKiB), cpu)
	}
	fmt.Fprintln(w)
}

func sub(a, b float64) float64 { return a - b }

func rpsOf(p Point) float64 { return p.RPS }

func bgOf(p Point) float64 { return p.BgCPUPct }

func fmtBusy(xs []float64) string {
	m := median(xs)
	if isNaN(m) {
		return "—"
	}
	return strconv.FormatFloat(m, 'f', 0, 64) + "%"
}

func fmtBg(xs []float64) string {
	m := maxOf(xs)
	if isNaN(m) {
		return "—"
	}
	return strconv.FormatFloat(m, 'f', 0, 64) + "%"
}

// errCell sums a target's errors over reps, with the first error's text
// when there is one.
func (r *Report) errCell(scenario, target string) string {
	n, first := 0, ""
	for _, p := range r.points(scenario, target) {
		n += p.Errors
		if first == "" {
			first = p.FirstError
		}
	}
	if n == 0 {
		return "0"
	}
	if len(first) > 80 {
		first = first[:80] + "…"
	}
	return fmt.Sprintf("%d (%s)", n, strings.ReplaceAll(first, "|", `\|`))
}

// lastRSS is the target's RSS after its last point of a scenario.
func (r *Report) lastRSS(scenario, target string) string {
	ps := r.points(scenario, target)
	if len(ps) == 0 {
		return "—"
	}
	last := ps[0]
	for _, p := range ps {
		if p.Rep > last.Rep {
			last = p
		}
	}
	return fmtMiB(last.RSSKiB)
}
