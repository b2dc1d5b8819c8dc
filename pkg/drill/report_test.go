package drill

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/events"
)

// reportDriver is a driver that has "run": a 3 s drill with the fault from
// 0.6 s to 1.8 s, the tutorial's probe defaults (30 s interval), and the
// given answers.
func reportDriver(t *testing.T, results []result) *driver {
	t.Helper()
	cfg, _, err := LoadTargets("tutorial.yaml", []byte(`version: '1'
providers:
  targets:
    - {id: openai-primary, provider: openai, secret_key_ref: {env: OPENAI_API_KEY}}
    - {id: anthropic-fallback, provider: anthropic, secret_key_ref: {env: ANTHROPIC_API_KEY}}
  failover:
    model_mapping: {gpt-4o-mini: claude-sonnet-4-20250514}
`))
	if err != nil {
		t.Fatal(err)
	}
	return &driver{
		opts: Options{Scenario: PrimaryDown, RPS: 50, Duration: 3 * time.Second}, cfg: cfg,
		targets: []string{"openai-primary", "anthropic-fallback"}, primary: "openai-primary", model: "gpt-4o-mini",
		timeline:      timeline{faultStart: 600 * time.Millisecond, faultEnd: 1800 * time.Millisecond},
		breakerOpened: -1, healthFlipped: -1, knownBadStats: -1, faultEndStats: -1, healthRead: true,
		results: results,
	}
}

func answers(n int, provider string, failover bool, start, latency time.Duration) []result {
	var rs []result
	for i := range n {
		s := start + time.Duration(i)*time.Millisecond
		rs = append(rs, result{start: s, end: s + latency, status: 200, complete: true, provider: provider, failover: failover, attempts: 1, reason: map[bool]string{true: "connection_error"}[failover]})
	}
	return rs
}

// eventsFor is one plain event per result, as the gateway records a
// request that made one attempt.
func eventsFor(rs []result) []events.Event {
	evs := make([]events.Event, len(rs))
	for i, r := range rs {
		evs[i] = events.Event{RequestID: r.requestID, Status: r.status, Provider: r.provider,
			Attempts: []events.Attempt{{Target: r.provider, Outcome: "ok"}}}
	}
	return evs
}

// negativeFigure matches a figure printed as a negative duration.
var negativeFigure = regexp.MustCompile(`(^|\s)-\d`)

// TestReportNeverNegativeAndSaysWhy checks that a figure the run could not
// give is left out with its reason, and that no duration is negative: with
// failed-over answers faster than normal ones (a down primary refuses at
// once) or too few of them, "failover added" used to print -1.7ms.
func TestReportNeverNegativeAndSaysWhy(t *testing.T) {
	slowNormal := append(answers(150, "openai-primary", false, 0, 10*time.Millisecond), answers(2, "openai-primary", false, 2*time.Second, 50*time.Millisecond)...)
	tests := []struct {
		name    string
		results []result
		missing map[string]string // key → part of the reason
		present []string
	}{
		{
			name:    "failed over faster than normal",
			results: append(slowNormal, answers(120, "anthropic-fallback", true, 700*time.Millisecond, 5*time.Millisecond)...),
			missing: map[string]string{
				"failover_added_p50_ms": "not slower than normal",
				"failover_added_p99_ms": "not slower than normal",
				"health_flipped_ms":     "interval_seconds 30",
				"breaker_opened_ms":     "stayed closed",
			},
			present: []string{"detect_fallback_ms"},
		},
		{
			name:    "too few failed-over answers",
			results: append(slowNormal, answers(3, "anthropic-fallback", true, 700*time.Millisecond, 9*time.Millisecond)...),
			missing: map[string]string{
				"failover_added_p50_ms": "too few answers",
				"failover_added_p99_ms": "too few answers",
			},
		},
		{
			name:    "primary never back",
			results: append(answers(20, "openai-primary", false, 0, 10*time.Millisecond), answers(20, "anthropic-fallback", true, time.Second, 5*time.Millisecond)...),
			missing: map[string]string{"recover_ms": "healthy_threshold 2 × interval_seconds 30"},
		},
		{
			name:    "nothing failed over",
			results: slowNormal,
			missing: map[string]string{
				"detect_fallback_ms":    "no answer came from a fallback",
				"failover_p50_ms":       "no answer was failed over",
				"failover_added_p50_ms": "too few answers",
			},
			present: []string{"recover_ms"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := reportDriver(t, tc.results).report(len(tc.results), 0, eventsFor(tc.results), nil)
			for _, v := range []*float64{rep.DetectFallbackMS, rep.BreakerOpenedMS, rep.HealthFlippedMS, rep.RecoverMS,
				rep.NormalP50MS, rep.NormalP99MS, rep.FailoverP50MS, rep.FailoverP99MS, rep.FailoverAddedP50MS, rep.FailoverAddedP99MS} {
				if v != nil && *v < 0 {
					t.Errorf("negative figure %v in %+v", *v, rep)
				}
			}
			for k, want := range tc.missing {
				if !strings.Contains(rep.Missing[k], want) {
					t.Errorf("missing[%s] = %q, want it to say %q", k, rep.Missing[k], want)
				}
			}
			for _, k := range tc.present {
				if why, ok := rep.Missing[k]; ok {
					t.Errorf("%s reported missing (%s)", k, why)
				}
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(table.String(), "\n") {
				if negativeFigure.MatchString(line) {
					t.Errorf("negative figure in %q", line)
				}
				if strings.HasSuffix(strings.TrimSpace(line), " -") || (strings.Contains(line, "- / -") && !strings.Contains(line, "(")) {
					t.Errorf("a figure is missing without a reason: %q", line)
				}
			}
			if t.Failed() {
				t.Logf("\n%s", table.String())
			}
		})
	}
}
