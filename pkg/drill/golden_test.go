package drill

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/sim"
)

var update = flag.Bool("update", false, "rewrite the report goldens under testdata/")

// recordedRun is a drill that has "run" a stream scenario: answers by the
// primary, a same-target retry after a 500 and after a 429, a stall
// continued on the fallback (the client heard nothing for 262 ms), a stall
// that ended with the in-band error, a cut whose continuation was refused,
// and two streams the primary ended without [DONE].
func recordedRun(t *testing.T, sc Scenario) (*driver, []events.Event) {
	t.Helper()
	d := reportDriver(t, nil)
	d.opts.Scenario, d.opts.StreamShare = sc, 1
	d.cfg.Providers.Failover.StreamIdleTimeoutSeconds = 0.25
	d.overrides = []Override{{Setting: "failover.midstream.enabled", Value: "true", Applied: true}}
	d.simStart = []sim.Stats{{FaultsApplied: map[sim.FaultKind]int64{sim.FaultNoDone: 3}}, {}}
	d.simEnd = []sim.Stats{{FaultsApplied: map[sim.FaultKind]int64{sim.FaultNoDone: 5}}, {}}
	var evs []events.Event
	add := func(id string, r result, ev events.Event) {
		r.requestID, r.stream = id, true
		if r.status == 0 {
			r.status, r.complete = 200, true
		}
		d.results = append(d.results, r)
		ev.RequestID, ev.Stream = id, true
		if ev.Status == 0 {
			ev.Status = 200
		}
		evs = append(evs, ev)
	}
	ok := func(target string, retry int) events.Attempt {
		return events.Attempt{Target: target, Outcome: "ok", Retry: retry}
	}
	ms := time.Millisecond
	for i := range 12 {
		at := time.Duration(i) * 100 * ms
		add("r"+string(rune('a'+i)), result{start: at, end: at + 3*ms, provider: "openai-primary", attempts: 1},
			events.Event{Provider: "openai-primary", Attempts: []events.Attempt{ok("openai-primary", 0)}})
	}
	add("retry-500", result{start: 700 * ms, end: 990 * ms, provider: "openai-primary", attempts: 2},
		events.Event{Provider: "openai-primary", Attempts: []events.Attempt{
			{Target: "openai-primary", Outcome: "upstream_error", Status: 500}, ok("openai-primary", 1)}})
	add("retry-429", result{start: 800 * ms, end: 1900 * ms, provider: "openai-primary", attempts: 2},
		events.Event{Provider: "openai-primary", Attempts: []events.Attempt{
			{Target: "openai-primary", Outcome: "rate_limited", Status: 429}, ok("openai-primary", 1)}})
	add("stall-continued", result{start: 900 * ms, end: 1200 * ms, provider: "openai-primary", attempts: 1, maxGap: 262 * ms},
		events.Event{Provider: "anthropic-fallback", Attempts: []events.Attempt{
			{Target: "openai-primary", Outcome: "upstream_timeout"}, ok("anthropic-fallback", 0)},
			Midstream: &events.Midstream{From: "openai-primary", To: "anthropic-fallback", Chars: 12, Interruption: "stall", Outcome: "ok"}})
	add("stall-ended", result{start: 1000 * ms, end: 1300 * ms, provider: "openai-primary", attempts: 1, maxGap: 251 * ms, complete: false, body: "data: {\"error\":{\"code\":\"stream_stalled\"}}"},
		events.Event{Provider: "openai-primary", Error: "stream_stalled", Attempts: []events.Attempt{{Target: "openai-primary", Outcome: "upstream_timeout"}}})
	add("cut-refused", result{start: 1100 * ms, end: 1110 * ms, provider: "openai-primary", attempts: 1, complete: false, body: "data: {\"error\":{\"code\":\"stream_interrupted\"}}"},
		events.Event{Provider: "openai-primary", Error: "stream_interrupted", Attempts: []events.Attempt{
			{Target: "openai-primary", Outcome: "connection_error"}, {Target: "anthropic-fallback", Outcome: "client_error", Status: 400}},
			Midstream: &events.Midstream{From: "openai-primary", To: "anthropic-fallback", Chars: 12, Interruption: "connection_error", Outcome: "refused"}})
	// The two error answers are 200 streams the client saw broken.
	for i := range d.results {
		if strings.HasPrefix(d.results[i].requestID, "stall-ended") || strings.HasPrefix(d.results[i].requestID, "cut-refused") {
			d.results[i].complete = false
		}
	}
	return d, evs
}

// TestReportGolden renders a report with every new figure, table and JSON.
func TestReportGolden(t *testing.T) {
	d, evs := recordedRun(t, Stall)
	rep := d.report(len(d.results), 0, evs, nil)
	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"report.golden.txt": table.Bytes(), "report.golden.json": js.Bytes()} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/drill -run TestReportGolden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs (go test ./pkg/drill -run TestReportGolden -update to accept):\n%s", name, got)
		}
	}
}

// TestRecordedFigures checks the figures read from the events, and that
// each one that cannot be computed says why.
func TestRecordedFigures(t *testing.T) {
	d, evs := recordedRun(t, Stall)
	rep := d.report(len(d.results), 0, evs, nil)
	for name, c := range map[string]struct{ got, want int }{
		"retries":               {*rep.Retries, 2},
		"retried requests":      {*rep.RetriedRequests, 2},
		"answered by retry":     {*rep.AnsweredByRetry, 2},
		"retries after 500":     {rep.RetriesByReason["upstream_error"], 1},
		"retries after 429":     {rep.RetriesByReason["rate_limited"], 1},
		"continuations ok":      {rep.Continuations.OK, 1},
		"continuations refused": {rep.Continuations.Refused, 1},
		"stalls":                {*rep.Stalls, 2},
		"streams interrupted":   {*rep.StreamsInterrupted, 2},
		"without [DONE]":        {int(*rep.StreamsWithoutDone), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", name, c.got, c.want)
		}
	}
	if *rep.StallDetectP50MS != 251 || *rep.StallDetectMaxMS != 262 {
		t.Errorf("stall detection p50 %v max %v, want 251 and 262 (the clients' silences)", *rep.StallDetectP50MS, *rep.StallDetectMaxMS)
	}

	tests := []struct {
		name    string
		change  func(d *driver, evs []events.Event) ([]events.Event, error)
		missing map[string]string
	}{
		{
			name:    "events unreadable",
			change:  func(*driver, []events.Event) ([]events.Event, error) { return nil, errors.New("401 Unauthorized") },
			missing: map[string]string{"retries": "401 Unauthorized", "continuations": "401 Unauthorized", "stall_detect_p50_ms": "401 Unauthorized"},
		},
		{
			name: "simulator counters unreadable",
			change: func(d *driver, evs []events.Event) ([]events.Event, error) {
				d.simErr = errors.New("connection refused")
				return evs, nil
			},
			missing: map[string]string{"streams_without_done": "connection refused"},
		},
		{
			name: "stall detection off",
			change: func(d *driver, evs []events.Event) ([]events.Event, error) {
				d.cfg.Providers.Failover.StreamIdleTimeoutSeconds = 0
				return evs[:12], nil
			},
			missing: map[string]string{"stream_idle_timeout_ms": "stall detection is off", "stall_detect_p50_ms": "stall detection is off"},
		},
		{
			name: "no stall in the stall scenario",
			change: func(d *driver, evs []events.Event) ([]events.Event, error) {
				return evs[:12], nil
			},
			missing: map[string]string{"stall_detect_max_ms": "no stream was recorded as stalled (stream_idle_timeout_seconds 0.25"},
		},
		{
			name: "stalls the client could not time",
			change: func(d *driver, evs []events.Event) ([]events.Event, error) {
				for i := range d.results {
					d.results[i].maxGap = 0
				}
				return evs, nil
			},
			missing: map[string]string{"stall_detect_p50_ms": "2 streams were recorded as stalled"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, evs := recordedRun(t, Stall)
			evs, err := tc.change(d, evs)
			rep := d.report(len(d.results), 0, evs, err)
			for k, want := range tc.missing {
				if !strings.Contains(rep.Missing[k], want) {
					t.Errorf("missing[%s] = %q, want it to say %q", k, rep.Missing[k], want)
				}
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(table.String(), "\n") {
				if strings.HasSuffix(strings.TrimSpace(line), " -") || strings.Contains(line, "  - \n") {
					t.Errorf("a figure is missing without a reason: %q", line)
				}
			}
		})
	}
}
