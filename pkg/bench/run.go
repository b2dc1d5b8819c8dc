package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario names accepted by Options.Scenarios.
const (
	// ScenarioC1 is non-streaming at concurrency 1: latency added.
	ScenarioC1 = "c1"
	// ScenarioC50 is non-streaming at concurrency 50: throughput and CPU.
	ScenarioC50 = "c50"
	// ScenarioS10 is streaming at concurrency 10: TTFB and total time.
	ScenarioS10 = "s10"
	// ScenarioFailover compares the gateway with a dead primary whose
	// breaker is open against the gateway with one target.
	ScenarioFailover = "failover"
	// ScenarioTelemetry compares OTLP export to a local sink against none.
	ScenarioTelemetry = "telemetry"
	// ScenarioTelemetrySampled is ScenarioTelemetry with one trace in ten
	// sampled (OTEL_TRACES_SAMPLER_ARG=0.1): the documented lever.
	ScenarioTelemetrySampled = "telemetry-sampled"
	// ScenarioMetrics compares the metrics alone (the Prometheus endpoint:
	// recording, no export) against no telemetry.
	ScenarioMetrics = "metrics"
	// ScenarioEvents compares the event log on against off.
	ScenarioEvents = "events"
	// ScenarioContentFilter compares a flagging content filter against none.
	ScenarioContentFilter = "cf"
)

// Scenarios returns every scenario name, in the order they run.
func Scenarios() []string {
	return []string{ScenarioC1, ScenarioC50, ScenarioS10, ScenarioFailover, ScenarioMetrics, ScenarioTelemetry, ScenarioTelemetrySampled, ScenarioEvents, ScenarioContentFilter}
}

// Upstream kinds accepted by Options.Upstream.
const (
	// UpstreamMock is the harness's own minimal upstream (NewMock).
	UpstreamMock = "mock"
	// UpstreamSim is the project's simulator (pkg/sim) with zero latency.
	UpstreamSim = "sim"
)

// Options configures a harness run. The zero value of a field means its
// default.
type Options struct {
	// Scenarios to run; default all (see Scenarios).
	Scenarios []string
	// Reps is how many times the whole matrix runs, interleaved; the
	// tables show medians. Default 3.
	Reps int
	// Duration is the measurement window per point; default 5s.
	Duration time.Duration
	// Warmup runs before each window, unrecorded; default 1s.
	Warmup time.Duration
	// MaxRequests caps the requests of one point; default 2,000,000.
	MaxRequests int64
	// Kt is the kt binary; "" builds ./cmd/kt of the enclosing module.
	Kt string
	// Upstream is mock (default) or sim.
	Upstream string
	// Chunks is the number of content chunks per mock stream; default 20.
	Chunks int
	// Pin puts the targets on CPU 1 and the harness (load generator and
	// upstream) on CPU 0 with taskset, when there are two CPUs or more and
	// taskset exists.
	Pin bool
	// Profile, if set, records ProfileTarget with `perf record -g` during
	// an extra, unreported c=50 point at the end, writes perf.data there,
	// and adds the top functions to the report.
	Profile string
	// ProfileTarget is the target to profile: kt (default), a variant
	// (kt-otel, kt-noevents, kt-failover, kt-cf) or rproxy.
	ProfileTarget string
	// Self is the command that runs this harness's subcommands (upstream,
	// rproxy); default the running executable.
	Self []string
	// SelfEnv is added to Self's environment (tests use it to make the test
	// binary act as the harness).
	SelfEnv []string
	// KeepWork keeps the scratch directory (configs, logs, event stores).
	KeepWork bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

func (o Options) withDefaults() Options {
	if len(o.Scenarios) == 0 {
		o.Scenarios = Scenarios()
	}
	if o.Reps <= 0 {
		o.Reps = 3
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 2_000_000
	}
	if o.ProfileTarget == "" {
		o.ProfileTarget = targetKt
	}
	if o.Upstream == "" {
		o.Upstream = UpstreamMock
	}
	if o.Chunks <= 0 {
		o.Chunks = 20
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Target names in the report.
const (
	targetDirect     = "direct"
	targetRProxy     = "rproxy"
	targetKt         = "kt"
	targetKtFailover = "kt-failover"
	targetKtOTel     = "kt-otel"
	targetKtOTel10   = "kt-otel-10"
	targetKtMetrics  = "kt-metrics"
	targetKtNoEvents = "kt-noevents"
	targetKtCF       = "kt-cf"
)

// ktTargets are the gateway targets in the order they start and run.
var ktTargets = []string{targetKt, targetKtNoEvents, targetKtFailover, targetKtMetrics, targetKtOTel, targetKtOTel10, targetKtCF}

// scenarioVariants is the Point.Scenario of the gateway-variant points.
const scenarioVariants = "variants"

// variantConcurrency is the load of the variant points: throughput is what
// the telemetry and events targets are stated in.
const variantConcurrency = 50

// scenarioDef is one of the base scenarios, run against direct, rproxy and kt.
type scenarioDef struct {
	name   string
	conc   int
	stream bool
}

func baseScenarios() []scenarioDef {
	return []scenarioDef{{ScenarioC1, 1, false}, {ScenarioC50, 50, false}, {ScenarioS10, 10, true}}
}

// variantDef compares the gateway against itself with one thing changed.
type variantDef struct {
	name, title       string
	off, on           string // target names
	offLabel, onLabel string
}

func variantDefs() []variantDef {
	return []variantDef{
		{ScenarioFailover, "failover path", targetKt, targetKtFailover, "one healthy target", "dead primary skipped (breaker open)"},
		{ScenarioMetrics, "metrics", targetKt, targetKtMetrics, "no telemetry", "Prometheus endpoint (metrics recorded, not scraped)"},
		{ScenarioTelemetry, "telemetry", targetKt, targetKtOTel, "no exporter", "OTLP/HTTP to a local sink"},
		{ScenarioTelemetrySampled, "telemetry, 10% of traces", targetKt, targetKtOTel10, "no exporter", "OTLP/HTTP to a local sink, traces sampled at 0.1"},
		{ScenarioEvents, "events", targetKtNoEvents, targetKt, "events off", "events on"},
		{ScenarioContentFilter, "content filter", targetKt, targetKtCF, "no policy", "content_filter (flag)"},
	}
}

// Request bodies: one short user message, as the peers' harness sends.
const (
	chatBody   = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32}`
	streamBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32,"stream":true}`
	chatPath   = "/v1/chat/completions"
)

// target is one system under test.
type target struct {
	name  string
	url   string // chat completions URL
	pid   int    // 0 for direct: nothing between the client and the upstream
	child *child
}

// bench is one run of the harness.
type bench struct {
	o      Options
	work   string
	env    []string // children's environment
	ticks  int64
	rep    *Report
	kt     string
	up     *child
	sink   *otlpSink
	sinkSv *server

	children []*child
	targets  map[string]*target
}

// Run runs the harness and returns its report. Every process it starts is
// stopped before it returns.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o = o.withDefaults()
	base, variants, err := selectScenarios(o.Scenarios)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, ticks: clockTicks(), targets: map[string]*target{}}
	b.rep = &Report{
		Started:   time.Now().UTC(),
		Machine:   machineLine(),
		Reps:      o.Reps,
		Duration:  o.Duration,
		Warmup:    o.Warmup,
		Upstream:  o.Upstream,
		Chunks:    o.Chunks,
		Scenarios: names(base),
		Ticks:     b.ticks,
	}
	if b.work, err = os.MkdirTemp("", "ktbench-"); err != nil {
		return nil, fmt.Errorf("scratch dir: %w", err)
	}
	defer func() {
		err = errors.Join(err, b.stopAll())
		if o.KeepWork {
			b.logf("kept %s", b.work)
		} else if rerr := os.RemoveAll(b.work); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove scratch dir: %w", rerr))
		}
	}()
	b.env = childEnv(os.Environ(), b.work)

	// Build before pinning: a build confined to one CPU is twice as slow.
	if b.kt, err = b.ktBinary(ctx); err != nil {
		return nil, err
	}
	b.rep.Kt = b.kt
	lgCPU, sutCPU := b.pinning()

	if err := b.startUpstream(ctx, lgCPU); err != nil {
		return nil, err
	}
	if len(base) > 0 {
		b.targets[targetDirect] = &target{name: targetDirect, url: b.up.url + chatPath}
		if err := b.startRProxy(ctx, sutCPU); err != nil {
			return nil, err
		}
	}
	if err := b.startGateways(ctx, sutCPU, len(base) > 0, variants); err != nil {
		return nil, err
	}

	order := baseTargets()
	// c=50 also runs kt with the metrics on beside the bare proxy, when
	// that gateway runs: the CPU target is stated with metrics and events
	// on, and one ratio from the same rep is steadier than a product of two.
	c50order := order
	if _, ok := b.targets[targetKtMetrics]; ok && len(base) > 0 {
		c50order = append(slices.Clone(order), targetKtMetrics)
	}
	vorder := b.variantTargets()
	for r := 1; r <= o.Reps; r++ {
		// Every other rep runs the targets in reverse order, so that
		// whatever drifts during a rep (the event stores growing, a WAL
		// checkpoint, background load) does not always favour the same
		// target of a pair.
		order, c50order, vorder := repOrder(order, r), repOrder(c50order, r), repOrder(vorder, r)
		for _, sc := range base {
			names := order
			if sc.name == ScenarioC50 {
				names = c50order
			}
			for _, name := range names {
				if err := b.point(ctx, sc.name, sc.conc, sc.stream, b.targets[name], r); err != nil {
					return nil, err
				}
			}
		}
		for _, name := range vorder {
			if err := b.point(ctx, scenarioVariants, variantConcurrency, false, b.targets[name], r); err != nil {
				return nil, err
			}
		}
	}
	b.finishVariants()
	if o.Profile != "" {
		if err := b.profile(ctx); err != nil {
			b.rep.Notes = append(b.rep.Notes, "profile: "+err.Error())
		}
	}
	b.procTable()
	return b.rep, nil
}

// repOrder is the order targets run in during rep r (from 1): as given
// in odd reps, reversed in even ones.
func repOrder(targets []string, r int) []string {
	if r%2 == 1 {
		return targets
	}
	out := slices.Clone(targets)
	slices.Reverse(out)
	return out
}

func names(scs []scenarioDef) []string {
	out := make([]string, len(scs))
	for i, s := range scs {
		out[i] = s.name
	}
	return out
}

// selectScenarios splits the requested names into base scenarios and
// gateway variants, in their canonical order.
func selectScenarios(req []string) ([]scenarioDef, []variantDef, error) {
	want := map[string]bool{}
	for _, s := range req {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(Scenarios(), s) {
			return nil, nil, fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(Scenarios(), ", "))
		}
		want[s] = true
	}
	if len(want) == 0 {
		return nil, nil, errors.New("no scenario selected")
	}
	var base []scenarioDef
	for _, s := range baseScenarios() {
		if want[s.name] {
			base = append(base, s)
		}
	}
	var vs []variantDef
	for _, v := range variantDefs() {
		if want[v.name] {
			vs = append(vs, v)
		}
	}
	return base, vs, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Log, "[ktbench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// harnessPIDs is every process of the harness, this one included.
func (b *bench) harnessPIDs() []int {
	pids := []int{os.Getpid()}
	for _, c := range b.children {
		pids = append(pids, c.pid)
	}
	return pids
}

// point runs one load point and appends it to the report.
func (b *bench) point(ctx context.Context, scenario string, conc int, stream bool, t *target, rep int) error {
	if t.child != nil && !t.child.alive() {
		return fmt.Errorf("%s exited during the run%s", t.name, t.child.logTail())
	}
	p, err := b.measure(ctx, scenario, conc, stream, t, rep, nil)
	if err != nil {
		return err
	}
	b.rep.Points = append(b.rep.Points, p)
	line := fmt.Sprintf("rep %d/%d %-8s %-12s n=%d err=%d rps=%.0f p50=%s p99=%s", rep, b.o.Reps, scenario, t.name,
		p.Requests, p.Errors, p.RPS, fmtMs(p.Latency.P50), fmtMs(p.Latency.P99))
	if stream {
		line += " ttfb50=" + fmtMs(p.TTFB.P50)
	}
	if p.HasCPU {
		line += fmt.Sprintf(" cpu=%.1fµs/req rss=%.1fMiB", p.CPUPerReq(), float64(p.RSSKiB)/1024)
	}
	if p.FirstError != "" {
		line += " first_error=" + strconv.Quote(p.FirstError)
	}
	b.logf("%s", line)
	return ctx.Err()
}

// measure runs one point; hooks, if set, are called with the window.
func (b *bench) measure(ctx context.Context, scenario string, conc int, stream bool, t *target, rep int, hooks *windowHooks) (Point, error) {
	m := &cpuMeter{ticks: b.ticks, pids: b.harnessPIDs()}
	body, marker := chatBody, []byte(`"chat.completion"`)
	if stream {
		body, marker = streamBody, nil
	}
	cfg := LoadConfig{
		URL: t.url, Body: []byte(body), Stream: stream, Marker: marker,
		Concurrency: conc, Warmup: b.o.Warmup, Duration: b.o.Duration, MaxRequests: b.o.MaxRequests,
		OnWindowStart: m.begin, OnWindowEnd: m.end,
	}
	if hooks != nil {
		cfg.OnWindowStart = func() { hooks.start(); m.begin() }
		cfg.OnWindowEnd = func() { m.end(); hooks.end() }
	}
	res, err := Load(ctx, cfg)
	if err != nil {
		return Point{}, fmt.Errorf("%s %s: %w", scenario, t.name, err)
	}
	p := Point{
		Scenario: scenario, Target: t.name, Rep: rep, Concurrency: conc, Stream: stream,
		Requests: len(res.Latency), Sent: res.Sent, Errors: res.Errors, FirstError: res.FirstError,
		Window: res.Window, RPS: res.RPS(),
		Latency: Summarize(res.Latency), TTFB: Summarize(res.TTFB),
		BgCPUPct: m.bgPct, RSSKiB: -1,
	}
	var harness time.Duration
	for pid, used := range m.used {
		if pid != t.pid {
			harness += used
		}
	}
	p.HarnessCPU, p.UpstreamCPU = harness, m.used[b.up.pid]
	if t.pid != 0 {
		p.CPU, p.HasCPU = m.used[t.pid]
		if rss, err := procRSS(t.pid); err == nil {
			p.RSSKiB = rss
		}
	}
	return p, nil
}

// windowHooks run extra work (a profiler) exactly over a point's window.
type windowHooks struct{ start, end func() }

// procTable records each process's CPUs, final RSS and total CPU.
func (b *bench) procTable() {
	add := func(name string, pid int) {
		pi := ProcInfo{Target: name, PID: pid, RSSKiB: -1, CPU: -1, CPUs: procCPUs(pid)}
		if rss, err := procRSS(pid); err == nil {
			pi.RSSKiB = rss
		}
		if cpu, err := procCPU(pid, b.ticks); err == nil {
			pi.CPU = cpu
		}
		b.rep.Procs = append(b.rep.Procs, pi)
	}
	add("ktbench (load generator)", os.Getpid())
	if b.up != nil {
		add("upstream ("+b.o.Upstream+")", b.up.pid)
	}
	for _, name := range append([]string{targetRProxy}, ktTargets...) {
		if t, ok := b.targets[name]; ok {
			add(name, t.pid)
		}
	}
}

// stopAll stops every child and the sink.
func (b *bench) stopAll() error {
	var errs []error
	for i := len(b.children) - 1; i >= 0; i-- {
		if err := b.children[i].stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", b.children[i].name, err))
		}
	}
	b.children = nil
	if b.sinkSv != nil {
		if err := b.sinkSv.close(); err != nil {
			errs = append(errs, fmt.Errorf("stop otlp sink: %w", err))
		}
		b.sinkSv = nil
	}
	return errors.Join(errs...)
}

func fmtMs(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) + "ms" }

// isNaN is math.IsNaN, short for the renderers.
func isNaN(x float64) bool { return math.IsNaN(x) }
