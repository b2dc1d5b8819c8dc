// Package drill runs scripted outages under bounded load and measures how the
// gateway copes: `kt drill`. It starts kt sim upstreams and a gateway
// in-process (or targets a running stack), sends open-loop traffic at a fixed
// rate, injects a scenario's faults on a timeline through the simulators'
// admin APIs, watches /health?verbose=1, and reports time to detect,
// failover latency added, attempts wasted on a known-bad target, time to
// recover, client-visible errors and events written.
package drill

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/sim"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// Defaults of Options.
const (
	DefaultRPS         = 50
	DefaultDuration    = 60 * time.Second
	DefaultStreamShare = 0.2
	DefaultFlushWait   = 5 * time.Second
	// maxInFlight bounds concurrent requests: beyond it a tick is dropped
	// (and counted) rather than piling up goroutines against a hung stack.
	maxInFlight = 2000
)

// Options configures Run.
type Options struct {
	// File and Data are the gateway configuration (Data wins); required, also
	// with Gateway, to know the targets, timeouts and models.
	File string
	Data []byte
	// Environ is passed to the in-process gateway (see StackOptions).
	Environ []string
	// Scenario is the outage to script.
	Scenario Scenario
	// RPS is the request rate (open loop); 0 means DefaultRPS.
	RPS int
	// Duration is how long load runs; 0 means DefaultDuration.
	Duration time.Duration
	// MaxRequests caps the requests sent; 0 means RPS × Duration.
	MaxRequests int
	// StreamShare is the fraction of streaming requests; negative means
	// none, 0 means the scenario's default: every request for the stream
	// scenarios (Scenario.StreamsOnly), DefaultStreamShare otherwise.
	StreamShare float64
	// Model is the model requested; "" picks a model_mapping key, or the
	// primary's first model, or gpt-4o-mini.
	Model string
	// Gateway, when set, is a running gateway's root URL; SimAdmin then lists
	// its simulators' admin roots in target priority order.
	Gateway  string
	SimAdmin []string
	// Progress receives one line per second while the drill runs; nil for none.
	Progress io.Writer
	// Logger receives the in-process gateway's logs; nil discards them.
	Logger *slog.Logger
	// Telemetry is given to the in-process gateway (see StackOptions).
	Telemetry *telemetry.Telemetry
	// FlushWait bounds the wait for events to be written after the load; 0
	// means DefaultFlushWait.
	FlushWait time.Duration
	// Inspect, when set, is called with the gateway's URL after the report is
	// complete and before an in-process stack stops (tests read /health and
	// the events there).
	Inspect func(gatewayURL string)
}

// result is what one request saw.
type result struct {
	start, end time.Duration
	stream     bool
	status     int // 0: transport error
	provider   string
	failover   bool
	reason     string
	attempts   int
	complete   bool // a 200 whose body arrived whole ([DONE] for streams)
	primaryBad bool // the primary was known bad when the request started
	body       string
	requestID  string
	// maxGap is the longest silence between two SSE frames of a stream
	// after its first frame, as the client saw it: for a stalled stream,
	// the time from its last frame to the continuation or in-band error.
	maxGap time.Duration
}

// Run performs one drill and returns its report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if _, err := ParseScenario(string(opts.Scenario)); err != nil {
		return nil, err
	}
	if opts.RPS <= 0 {
		opts.RPS = DefaultRPS
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = max(1, int(float64(opts.RPS)*opts.Duration.Seconds()))
	}
	switch {
	case opts.StreamShare < 0:
		opts.StreamShare = 0
	case opts.StreamShare == 0 && opts.Scenario.StreamsOnly():
		opts.StreamShare = 1
	case opts.StreamShare == 0:
		opts.StreamShare = DefaultStreamShare
	case opts.StreamShare > 1:
		opts.StreamShare = 1
	}
	if opts.FlushWait <= 0 {
		opts.FlushWait = DefaultFlushWait
	}
	cfg, order, err := LoadTargets(opts.File, opts.Data)
	if err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, errors.New("drill: the configuration has no targets")
	}
	d := &driver{opts: opts, cfg: cfg, runID: randomHex(6)}
	for _, i := range order {
		d.targets = append(d.targets, cfg.Providers.Targets[i].ID)
	}
	d.primary = d.targets[0]
	for _, i := range order {
		// Checked before anything starts, also with --gateway, whose
		// simulators the drill scripts in its primary's format.
		sk, err := simKind(cfg.Providers.Targets[i].Provider)
		if err != nil {
			return nil, fmt.Errorf("drill: providers.targets[%d]: %w", i, err)
		}
		if i == order[0] {
			d.primarySim = sk
		}
	}
	d.model = pickModel(opts.Model, cfg, order[0], d.primarySim)
	// The settings the scenario needs; the fault lasts 40% of the drill.
	d.overrides = opts.Scenario.overrides(cfg.Providers.Failover, opts.Duration*2/5)
	if opts.Gateway == "" {
		environ := slices.Clone(opts.Environ)
		for i := range d.overrides {
			environ = append(environ, d.overrides[i].env())
			d.overrides[i].Applied = true
		}
		st, err := StartStack(ctx, StackOptions{File: opts.File, Data: opts.Data, Environ: environ, Logger: opts.Logger, Telemetry: opts.Telemetry})
		if err != nil {
			return nil, err
		}
		defer func() { _ = st.Close() }()
		d.gateway, d.admins = st.GatewayURL, st.AdminURLs
		// The configuration the gateway runs, overrides applied.
		d.cfg = st.Config
	} else {
		d.gateway, d.admins = strings.TrimRight(opts.Gateway, "/"), opts.SimAdmin
		if len(d.admins) == 0 {
			return nil, errors.New("drill: --gateway needs --sim-admin URLs (the primary's first)")
		}
	}
	rep, err := d.run(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Inspect != nil {
		opts.Inspect(d.gateway)
	}
	return rep, nil
}

// pickModel chooses the requested model.
func pickModel(model string, cfg *config.File, primary int, primarySim sim.Kind) string {
	if model != "" {
		return model
	}
	if fo := cfg.Providers.Failover; fo != nil {
		keys := make([]string, 0, len(fo.ModelMapping))
		for k := range fo.ModelMapping {
			keys = append(keys, k)
		}
		if len(keys) > 0 {
			// Sorted so that a drill is repeatable.
			slices.Sort(keys)
			return keys[0]
		}
	}
	if ms := cfg.Providers.Targets[primary].Models; len(ms) > 0 {
		return ms[0]
	}
	return sim.DefaultModels(primarySim)[0]
}

// driver holds one drill's state.
type driver struct {
	opts    Options
	cfg     *config.File
	targets []string
	primary string
	model   string
	// primarySim is the simulator kind of the primary, whose stream
	// framing the scenario's faults count in.
	primarySim sim.Kind
	// overrides are the settings the scenario changed (or, with a running
	// gateway, would have changed).
	overrides []Override
	// simStart and simEnd are every simulator's counters before and after
	// the load (nil when unreadable): what the upstreams really did.
	simStart, simEnd []sim.Stats
	simErr           error
	gateway          string
	admins           []string
	client           *http.Client
	admin            *http.Client
	began            time.Time
	timeline         timeline

	primaryBad atomic.Bool
	// runID names this drill's requests: each is sent with X-Request-Id
	// "drill-<runID>-<n>", which the gateway keeps as the event's
	// request_id, so that the events count holds only this drill's own
	// requests (not another drill's or a user's on the same gateway).
	runID string
	seq   atomic.Int64
	// healthRead is set once /health?verbose=1 answered with the primary
	// (a missing detection figure is then not for want of reading it).
	healthRead bool

	mu            sync.Mutex
	results       []result
	breakerOpened time.Duration // -1 until seen after the fault started
	healthFlipped time.Duration
	knownBadStats int64 // primary's chat requests when first known bad; -1 unknown
	faultEndStats int64
	stepErrs      []error
}

func (d *driver) attemptTimeout() time.Duration {
	fo := d.cfg.Providers.Failover
	t := float64(config.DefaultRetryTimeoutSeconds)
	if fo != nil && fo.Retry.TimeoutSeconds > 0 {
		t = fo.Retry.TimeoutSeconds
	}
	if fo != nil && fo.FirstTokenTimeoutSeconds > 0 && fo.FirstTokenTimeoutSeconds < t {
		t = fo.FirstTokenTimeoutSeconds
	}
	return time.Duration(t * float64(time.Second))
}

func (d *driver) maxAttempts() int {
	if fo := d.cfg.Providers.Failover; fo != nil && fo.Retry.MaxAttempts != nil {
		return *fo.Retry.MaxAttempts
	}
	return config.DefaultRetryMaxAttempts
}

// attemptLimit is the most attempts one request may make: every target it
// may try, each with its same-target retries.
func (d *driver) attemptLimit() int {
	retries := config.DefaultSameTargetMaxRetries
	if fo := d.cfg.Providers.Failover; fo != nil {
		retries = fo.Retry.SameTarget.MaxRetries
	}
	return (1 + d.maxAttempts()) * (1 + retries)
}

func (d *driver) run(ctx context.Context) (*Report, error) {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	reqTimeout := d.attemptTimeout()*time.Duration(d.maxAttempts()+1) + 10*time.Second
	if fo := d.cfg.Providers.Failover; fo != nil && fo.RequestTimeoutSeconds > 0 {
		reqTimeout = time.Duration(fo.RequestTimeoutSeconds*float64(time.Second)) + 5*time.Second
	}
	d.client = &http.Client{Transport: tr, Timeout: reqTimeout}
	atr := &http.Transport{}
	defer atr.CloseIdleConnections()
	d.admin = &http.Client{Transport: atr, Timeout: 5 * time.Second}

	for _, a := range d.admins {
		if err := d.clearFaults(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := d.waitReady(ctx); err != nil {
		return nil, err
	}
	d.timeline = d.opts.Scenario.plan(d.opts.Duration, planEnv{
		slow: 2*d.attemptTimeout() + time.Second, targets: len(d.admins), model: d.model, primarySim: d.primarySim,
	})
	d.simStart, d.simErr = d.allStats(ctx)
	d.breakerOpened, d.healthFlipped, d.knownBadStats, d.faultEndStats = -1, -1, -1, -1

	d.began = time.Now()
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); d.watchHealth(lctx) }()
	go func() { defer bg.Done(); d.playTimeline(lctx) }()
	sent, dropped := d.load(lctx)
	stop()
	bg.Wait()
	// Whatever happened, leave the simulators healthy.
	for _, a := range d.admins {
		_ = d.clearFaults(context.Background(), a)
	}
	if d.simErr == nil {
		d.simEnd, d.simErr = d.allStats(ctx)
	}
	evs, evErr := d.readEvents(ctx, sent)
	rep := d.report(sent, dropped, evs, evErr)
	return rep, nil
}

// waitReady polls /readyz: an in-process gateway runs its first probe
// round before it serves.
func (d *driver) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.gateway+"/readyz", nil)
		resp, err := d.admin.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drill: gateway %s not ready: %v", d.gateway, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *driver) now() time.Duration { return time.Since(d.began) }

// load sends requests open-loop at the configured rate until the duration
// or the request cap is reached, then waits for the answers.
func (d *driver) load(ctx context.Context) (sent, dropped int) {
	interval := time.Second / time.Duration(d.opts.RPS)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	end := time.NewTimer(d.opts.Duration)
	defer end.Stop()
	var wg sync.WaitGroup
	var inflight atomic.Int64
	share := d.opts.StreamShare
loop:
	for sent+dropped < d.opts.MaxRequests {
		select {
		case <-ctx.Done():
			break loop
		case <-end.C:
			break loop
		case <-progress.C:
			d.printProgress(sent, inflight.Load())
		case <-tick.C:
			// Open loop: catch up on the requests due by now, so that a
			// slow tick (a ticker drops them) does not lower the rate.
			due := min(int(d.now().Seconds()*float64(d.opts.RPS))+1, d.opts.MaxRequests)
			for ; sent+dropped < due; sent++ {
				if inflight.Load() >= maxInFlight {
					dropped++
					sent--
					continue
				}
				// Deterministic mix: request i streams when the running
				// share crosses an integer.
				stream := int(float64(sent+1)*share) > int(float64(sent)*share)
				inflight.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer inflight.Add(-1)
					r := d.send(stream)
					d.mu.Lock()
					d.results = append(d.results, r)
					d.mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	return sent, dropped
}

func (d *driver) printProgress(sent int, inflight int64) {
	if d.opts.Progress == nil {
		return
	}
	d.mu.Lock()
	var ok, failed, fallback int
	for _, r := range d.results {
		switch {
		case r.status == http.StatusOK && r.complete:
			ok++
			if r.provider != d.primary {
				fallback++
			}
		default:
			failed++
		}
	}
	d.mu.Unlock()
	phase := "normal"
	switch t := d.now(); {
	case t >= d.timeline.faultEnd:
		phase = "recovered"
	case t >= d.timeline.faultStart:
		phase = "fault"
	}
	state := "ok"
	if d.primaryBad.Load() {
		state = "known-bad"
	}
	fmt.Fprintf(d.opts.Progress, "t=%4.1fs phase=%-9s sent=%d in_flight=%d ok=%d fallback=%d errors=%d primary=%s\n",
		d.now().Seconds(), phase, sent, inflight, ok, fallback, failed, state)
}

// send performs one chat request and records what it saw.
func (d *driver) send(stream bool) result {
	r := result{start: d.now(), stream: stream, primaryBad: d.primaryBad.Load()}
	defer func() { r.end = d.now() }()
	body := `{"model":` + strconv.Quote(d.model) + `,"messages":[{"role":"user","content":"What is the capital of France?"}]`
	if stream {
		body += `,"stream":true`
	}
	req, err := http.NewRequest(http.MethodPost, d.gateway+"/v1/chat/completions", strings.NewReader(body+"}"))
	if err != nil {
		r.body = err.Error()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	r.requestID = d.requestPrefix() + strconv.FormatInt(d.seq.Add(1), 10)
	req.Header.Set("X-Request-Id", r.requestID)
	resp, err := d.client.Do(req)
	if err != nil {
		r.body = err.Error()
		r.end = d.now()
		return r
	}
	defer resp.Body.Close()
	var b []byte
	if stream && resp.StatusCode == http.StatusOK {
		b, r.maxGap, err = readFrames(resp.Body)
	} else {
		b, err = io.ReadAll(resp.Body)
	}
	r.end = d.now()
	r.status = resp.StatusCode
	h := resp.Header
	r.provider = h.Get("X-Keeptrusts-Provider")
	r.failover = h.Get("X-Keeptrusts-Failover") == "true"
	r.reason = h.Get("X-Keeptrusts-Failover-Reason")
	r.attempts, _ = strconv.Atoi(h.Get("X-Keeptrusts-Attempts"))
	if r.attempts == 0 {
		// Error answers carry the attempts in their metadata only.
		r.attempts = int(gjson.GetBytes(b, "keeptrusts_metadata.attempts.#").Int())
	}
	switch {
	case err != nil:
		r.body = err.Error()
	case r.status != http.StatusOK:
		r.body = string(b)
	case stream:
		r.complete = bytes.HasSuffix(b, []byte("data: [DONE]\n\n"))
		if !r.complete {
			r.body = string(b)
		}
	default:
		r.complete = true
	}
	return r
}

// readFrames reads an SSE body whole and measures the longest silence
// between two frames after the first (the time from the end of one frame's
// line to the arrival of the next frame's first line).
func readFrames(body io.Reader) ([]byte, time.Duration, error) {
	var out bytes.Buffer
	br := bufio.NewReader(body)
	var last time.Time
	var gap time.Duration
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if bytes.HasPrefix(line, []byte("data:")) || bytes.HasPrefix(line, []byte("event:")) {
				now := time.Now()
				if !last.IsZero() && bytes.HasPrefix(line, []byte("data:")) {
					gap = max(gap, now.Sub(last))
				}
				// An Anthropic frame's event: line and its data: line
				// come together; the gap runs from the data line.
				if bytes.HasPrefix(line, []byte("data:")) {
					last = now
				}
			}
			out.Write(line)
		}
		if err == io.EOF {
			return out.Bytes(), gap, nil
		}
		if err != nil {
			return out.Bytes(), gap, err
		}
	}
}

// watchHealth polls /health?verbose=1 and records when the primary's
// breaker opened and its health flipped after the fault started.
func (d *driver) watchHealth(ctx context.Context) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		state, healthy, ok := d.primaryHealth(ctx)
		if !ok {
			continue
		}
		d.mu.Lock()
		d.healthRead = true
		d.mu.Unlock()
		bad := state == "open" || !healthy
		was := d.primaryBad.Swap(bad)
		now := d.now()
		if now < d.timeline.faultStart {
			continue
		}
		d.mu.Lock()
		if state == "open" && d.breakerOpened < 0 {
			d.breakerOpened = now
		}
		if !healthy && d.healthFlipped < 0 {
			d.healthFlipped = now
		}
		first := bad && !was && d.knownBadStats < 0
		d.mu.Unlock()
		if first {
			if st, err := d.stats(ctx, d.admins[0]); err == nil {
				d.mu.Lock()
				d.knownBadStats = st.ChatRequests
				d.mu.Unlock()
			}
		}
	}
}

// primaryHealth reads the primary's circuit state and health.
func (d *driver) primaryHealth(ctx context.Context) (state string, healthy, ok bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.gateway+"/health?verbose=1", nil)
	resp, err := d.admin.Do(req)
	if err != nil {
		return "", false, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", false, false
	}
	p := gjson.GetBytes(b, "providers."+gjsonEscape(d.primary))
	if !p.Exists() {
		return "", false, false
	}
	return p.Get("circuit.state").String(), p.Get("status").String() == "healthy", true
}

// gjsonEscape escapes a target id for a gjson path.
func gjsonEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`.*?|#@\!=<>%`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// playTimeline applies the scenario's fault changes at their offsets.
func (d *driver) playTimeline(ctx context.Context) {
	for _, s := range d.timeline.steps {
		wait := s.at - d.now()
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if s.at == d.timeline.faultEnd && s.target <= 0 && d.faultEndStats < 0 {
			if st, err := d.stats(ctx, d.admins[0]); err == nil {
				d.mu.Lock()
				d.faultEndStats = st.ChatRequests
				d.mu.Unlock()
			}
		}
		admins := d.admins
		if s.target >= 0 {
			if s.target >= len(d.admins) {
				continue
			}
			admins = d.admins[s.target : s.target+1]
		}
		for _, a := range admins {
			if err := d.setFault(ctx, a, s.fault); err != nil {
				d.mu.Lock()
				d.stepErrs = append(d.stepErrs, err)
				d.mu.Unlock()
			}
		}
	}
}

// clearFaults removes every fault of a simulator, its model-scoped ones
// included.
func (d *driver) clearFaults(ctx context.Context, admin string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(admin, "/")+"/faults", nil)
	if err != nil {
		return fmt.Errorf("drill: clear faults: %w", err)
	}
	resp, err := d.admin.Do(req)
	if err != nil {
		return fmt.Errorf("drill: clear faults on %s: %w", admin, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("drill: clear faults on %s: %s: %s", admin, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// allStats reads every simulator's counters, in target order.
func (d *driver) allStats(ctx context.Context) ([]sim.Stats, error) {
	out := make([]sim.Stats, 0, len(d.admins))
	for _, a := range d.admins {
		st, err := d.stats(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (d *driver) setFault(ctx context.Context, admin string, f sim.Fault) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("drill: encode fault: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(admin, "/")+"/fault", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("drill: set fault: %w", err)
	}
	resp, err := d.admin.Do(req)
	if err != nil {
		return fmt.Errorf("drill: set fault on %s: %w", admin, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("drill: set fault on %s: %s: %s", admin, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

func (d *driver) stats(ctx context.Context, admin string) (sim.Stats, error) {
	var st sim.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(admin, "/")+"/stats", nil)
	if err != nil {
		return st, fmt.Errorf("drill: stats: %w", err)
	}
	resp, err := d.admin.Do(req)
	if err != nil {
		return st, fmt.Errorf("drill: stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("drill: stats: %w", err)
	}
	return st, nil
}

// primaryTarget is the primary's configuration (defaults applied).
func (d *driver) primaryTarget() config.Target {
	for _, t := range d.cfg.Providers.Targets {
		if t.ID == d.primary {
			return t
		}
	}
	return config.Target{}
}

// requestPrefix starts the request id of every request this drill sends.
func (d *driver) requestPrefix() string { return "drill-" + d.runID + "-" }

// readEvents reads this drill's own events (by their request_id) recorded
// since the drill began, polling until there are as many as requests sent
// or FlushWait passes (events are written off the request path, in
// batches).
func (d *driver) readEvents(ctx context.Context, want int) ([]events.Event, error) {
	// Event ids are ULIDs; one with the drill's start time and no entropy
	// sorts before every event of the drill.
	var cursor ulid.ULID
	_ = cursor.SetTime(ulid.Timestamp(d.began.Add(-time.Millisecond)))
	start := events.IDPrefix + cursor.String()
	deadline := time.Now().Add(d.opts.FlushWait)
	for {
		evs, err := d.eventsFrom(ctx, start)
		if err != nil || len(evs) >= want || time.Now().After(deadline) {
			return evs, err
		}
		select {
		case <-ctx.Done():
			return evs, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *driver) eventsFrom(ctx context.Context, after string) ([]events.Event, error) {
	var own []events.Event
	prefix := d.requestPrefix()
	for {
		q := url.Values{events.ParamAfter: {after}, events.ParamLast: {strconv.Itoa(events.MaxAfter)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.gateway+"/v1/events?"+q.Encode(), nil)
		if err != nil {
			return own, fmt.Errorf("drill: events: %w", err)
		}
		resp, err := d.admin.Do(req)
		if err != nil {
			return own, fmt.Errorf("drill: events: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return own, fmt.Errorf("drill: events: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return own, fmt.Errorf("drill: events: %s", resp.Status)
		}
		var page []events.Event
		if err := json.Unmarshal(b, &page); err != nil {
			return own, fmt.Errorf("drill: events: %w", err)
		}
		for _, ev := range page {
			if strings.HasPrefix(ev.RequestID, prefix) {
				own = append(own, ev)
			}
		}
		if len(page) < events.MaxAfter {
			return own, nil
		}
		after = page[len(page)-1].ID
	}
}
