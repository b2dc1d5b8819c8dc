package drill

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// Report is a drill's outcome. Times are milliseconds; a nil time means the
// event was not observed.
type Report struct {
	Scenario    Scenario `json:"scenario"`
	RPS         int      `json:"rps"`
	DurationMS  float64  `json:"duration_ms"`
	StreamShare float64  `json:"stream_share"`
	Model       string   `json:"model"`
	// Targets are the target ids in priority order; the first is the primary.
	Targets []string `json:"targets"`
	// FaultStartMS and FaultEndMS bound the outage, from the drill's start.
	FaultStartMS float64 `json:"fault_start_ms"`
	FaultEndMS   float64 `json:"fault_end_ms"`
	// Overrides are the settings the scenario set on the in-process
	// gateway because the configuration left them at their defaults (with
	// --gateway they are listed with applied false: a running gateway keeps
	// its own configuration).
	Overrides []Override `json:"overrides,omitempty"`

	// Sent counts requests sent; Dropped counts ticks skipped because too
	// many requests were in flight (the stack could not keep up).
	Sent    int `json:"sent"`
	Dropped int `json:"dropped"`
	// Succeeded counts 200s whose body arrived whole.
	Succeeded int `json:"succeeded"`
	// ByStatus counts answers by HTTP status ("0" for transport errors).
	ByStatus map[string]int `json:"by_status"`
	// Errors counts client-visible errors by status, plus "transport" and
	// "stream_broken" (a 200 stream that did not end with [DONE]).
	Errors map[string]int `json:"errors"`
	// ErrorsBeforeFault, ErrorsDuringFault and ErrorsAfterFault split the
	// errors by when their request started; ErrorsAfterRecovery counts those
	// started after the primary answered again.
	ErrorsBeforeFault   int `json:"errors_before_fault"`
	ErrorsDuringFault   int `json:"errors_during_fault"`
	ErrorsAfterFault    int `json:"errors_after_fault"`
	ErrorsAfterRecovery int `json:"errors_after_recovery"`
	// AnsweredBy counts successful answers by target.
	AnsweredBy map[string]int `json:"answered_by"`
	// FailoverReasons counts failed-over answers by reason.
	FailoverReasons map[string]int `json:"failover_reasons"`
	// MaxAttemptsSeen is the most attempts (skips included) one request
	// made; AttemptLimit is (1 + failover.retry.max_attempts) targets, each
	// tried 1 + failover.retry.same_target.max_retries times.
	MaxAttemptsSeen int `json:"max_attempts_seen"`
	AttemptLimit    int `json:"attempt_limit"`

	// DetectFallbackMS: from the fault's start to the first answer from a
	// fallback target. BreakerOpenedMS and HealthFlippedMS: to the primary's
	// circuit opening and its /health status turning unhealthy.
	DetectFallbackMS *float64 `json:"detect_fallback_ms"`
	BreakerOpenedMS  *float64 `json:"breaker_opened_ms"`
	HealthFlippedMS  *float64 `json:"health_flipped_ms"`
	// Latency of normal answers (primary, no failover) and of failed-over
	// ones, and what failover added (failed over minus normal).
	NormalP50MS        *float64 `json:"normal_p50_ms"`
	NormalP99MS        *float64 `json:"normal_p99_ms"`
	FailoverP50MS      *float64 `json:"failover_p50_ms"`
	FailoverP99MS      *float64 `json:"failover_p99_ms"`
	FailoverAddedP50MS *float64 `json:"failover_added_p50_ms"`
	FailoverAddedP99MS *float64 `json:"failover_added_p99_ms"`
	// WastedAttempts counts requests that still tried the primary (and failed
	// on it) although /health already showed it open or unhealthy when they
	// started. SimPrimaryAfterKnownBad is the primary simulator's count of
	// chat requests from then until the fault ended (-1 unknown; 0 for a
	// down primary, which sees no requests).
	WastedAttempts          int   `json:"wasted_attempts"`
	SimPrimaryAfterKnownBad int64 `json:"sim_primary_requests_after_known_bad"`
	// RecoverMS: from the fault's end to the first answer from the primary
	// by a request started after it.
	RecoverMS *float64 `json:"recover_ms"`
	// The figures below are read from the gateway's events for this
	// drill's requests (each attempt with its retry number and outcome, the
	// midstream seam, the error code), not inferred by the drill; nil when
	// the events could not be read (Missing says why).
	//
	// Retries counts same-target retries (attempts with a retry number),
	// RetriesByReason by the failure each one repeated, RetriedRequests the
	// requests that made at least one, and AnsweredByRetry the successful
	// answers whose answering attempt was a retry.
	Retries         *int           `json:"retries"`
	RetriesByReason map[string]int `json:"retries_by_reason,omitempty"`
	RetriedRequests *int           `json:"retried_requests"`
	AnsweredByRetry *int           `json:"answered_by_retry"`
	// Continuations counts mid-stream continuations by outcome.
	Continuations *Continuations `json:"continuations"`
	// Stalls counts streams the gateway recorded as stalled (continued from
	// a stall, or ended with the stream_stalled error).
	Stalls *int `json:"stalls"`
	// StreamIdleTimeoutMS is failover.stream_idle_timeout_seconds in
	// effect; nil when stall detection is off.
	StreamIdleTimeoutMS *float64 `json:"stream_idle_timeout_ms"`
	// StallDetectP50MS and StallDetectMaxMS: for each stream recorded as
	// stalled, how long its client heard nothing, from the last frame before
	// the stall to the next frame (the continuation's first text or the
	// in-band error). It is at least the idle timeout; with a continuation
	// it includes the fallback's time to its first content.
	StallDetectP50MS *float64 `json:"stall_detect_p50_ms"`
	StallDetectMaxMS *float64 `json:"stall_detect_max_ms"`
	// StreamsInterrupted counts streams the gateway recorded as cut or
	// stalled (error stream_interrupted or stream_stalled): what the client
	// got was not a complete answer.
	StreamsInterrupted *int `json:"streams_interrupted"`
	// StreamsWithoutDone counts upstream streams that ended complete but
	// without data: [DONE], from the simulators' own counters (the no_done
	// fault); each must be a success, not one of StreamsInterrupted.
	StreamsWithoutDone *int64 `json:"streams_without_done"`

	// EventsWritten counts this drill's own events (its requests carry
	// X-Request-Id drill-<run>-<n>, recorded as the event's request_id), so
	// other traffic on the same gateway is not counted; it should equal
	// Sent. EventsError says why they could not be counted.
	EventsWritten int    `json:"events_written"`
	EventsError   string `json:"events_error,omitempty"`
	// Missing says, for each figure above left out (null), why: not
	// observed during the run (and what would have made it show), or a
	// sample too small to compute it from. Keys are the figures' JSON names.
	Missing map[string]string `json:"missing,omitempty"`
	// ErrorSamples holds a few error bodies, one per kind of error.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Problems lists fault changes that could not be applied.
	Problems []string `json:"problems,omitempty"`
}

// Continuations counts mid-stream continuations (failover.midstream) by
// their recorded outcome.
type Continuations struct {
	// OK: the next target continued the answer; the client got it whole.
	OK int `json:"ok"`
	// Refused: the target does not accept prefill (400).
	Refused int `json:"refused"`
	// Failed: the continuation attempt failed otherwise.
	Failed int `json:"failed"`
	// NotAttempted: no target could take it.
	NotAttempted int `json:"not_attempted"`
}

func (c Continuations) total() int { return c.OK + c.Refused + c.Failed + c.NotAttempted }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func msp(d time.Duration) *float64 {
	v := ms(d)
	return &v
}

// report computes the figures from the recorded results.
func (d *driver) report(sent, dropped int, evs []events.Event, evErr error) *Report {
	written := len(evs)
	d.mu.Lock()
	defer d.mu.Unlock()
	tl := d.timeline
	rep := &Report{
		Scenario: d.opts.Scenario, RPS: d.opts.RPS, DurationMS: ms(d.opts.Duration), StreamShare: d.opts.StreamShare,
		Model: d.model, Targets: d.targets, FaultStartMS: ms(tl.faultStart), FaultEndMS: ms(tl.faultEnd),
		Sent: sent, Dropped: dropped, ByStatus: map[string]int{}, Errors: map[string]int{},
		AnsweredBy: map[string]int{}, FailoverReasons: map[string]int{}, AttemptLimit: d.attemptLimit(),
		EventsWritten: written, ErrorSamples: map[string]string{}, SimPrimaryAfterKnownBad: -1,
		Missing: map[string]string{}, Overrides: d.overrides,
	}
	if evErr != nil {
		rep.EventsError = evErr.Error()
	}
	for _, err := range d.stepErrs {
		rep.Problems = append(rep.Problems, err.Error())
	}
	rs := slices.Clone(d.results)
	slices.SortFunc(rs, func(a, b result) int { return int(a.start - b.start) })

	var fallbackAt, recoverAt time.Duration = -1, -1
	var normal, failed []time.Duration
	for _, r := range rs {
		rep.ByStatus[strconv.Itoa(r.status)]++
		rep.MaxAttemptsSeen = max(rep.MaxAttemptsSeen, r.attempts)
		if r.status == http.StatusOK && r.complete {
			rep.Succeeded++
			rep.AnsweredBy[r.provider]++
			if r.failover {
				rep.FailoverReasons[r.reason]++
				failed = append(failed, r.end-r.start)
			} else if r.provider == d.primary {
				normal = append(normal, r.end-r.start)
			}
			if r.provider != d.primary && r.end >= tl.faultStart && (fallbackAt < 0 || r.end < fallbackAt) {
				fallbackAt = r.end
			}
			if r.provider == d.primary && r.start >= tl.faultEnd && (recoverAt < 0 || r.end < recoverAt) {
				recoverAt = r.end
			}
			if r.primaryBad && r.failover && r.start < tl.faultEnd && attempted(r.reason) {
				rep.WastedAttempts++
			}
			continue
		}
		kind := strconv.Itoa(r.status)
		switch {
		case r.status == 0:
			kind = "transport"
		case r.status == http.StatusOK:
			kind = "stream_broken"
		}
		rep.Errors[kind]++
		if _, ok := rep.ErrorSamples[kind]; !ok {
			rep.ErrorSamples[kind] = truncate(r.body, 500)
		}
		switch {
		case r.start < tl.faultStart:
			rep.ErrorsBeforeFault++
		case r.start < tl.faultEnd:
			rep.ErrorsDuringFault++
		default:
			rep.ErrorsAfterFault++
		}
	}
	for _, r := range rs {
		if recoverAt >= 0 && r.start > recoverAt && !(r.status == http.StatusOK && r.complete) {
			rep.ErrorsAfterRecovery++
		}
	}
	pt := d.primaryTarget()
	hc, cb := pt.HealthCheck, pt.CircuitBreaker
	if fallbackAt >= 0 {
		rep.DetectFallbackMS = msp(fallbackAt - tl.faultStart)
	} else {
		rep.Missing["detect_fallback_ms"] = "no answer came from a fallback target after the fault started"
	}
	switch {
	case d.breakerOpened >= 0:
		rep.BreakerOpenedMS = msp(d.breakerOpened - tl.faultStart)
	case !d.healthRead:
		rep.Missing["breaker_opened_ms"] = "/health?verbose=1 could not be read (an admin token needed?)"
	case cb.Enabled != nil && !*cb.Enabled:
		rep.Missing["breaker_opened_ms"] = d.primary + " has circuit_breaker.enabled: false"
	default:
		rep.Missing["breaker_opened_ms"] = fmt.Sprintf("%s's circuit stayed closed during the fault (it opens after %d failed requests in a row; skipped, slow, rate-limited and context-length ones are not failures)",
			d.primary, cb.ConsecutiveFailures)
	}
	faultLen := tl.faultEnd - tl.faultStart
	switch {
	case d.healthFlipped >= 0:
		rep.HealthFlippedMS = msp(d.healthFlipped - tl.faultStart)
	case !d.healthRead:
		rep.Missing["health_flipped_ms"] = "/health?verbose=1 could not be read (an admin token needed?)"
	case !hc.IsEnabled():
		rep.Missing["health_flipped_ms"] = d.primary + " has health_check.enabled: false"
	default:
		need := time.Duration(float64(hc.UnhealthyThreshold) * hc.IntervalSeconds * float64(time.Second))
		if need > faultLen {
			rep.Missing["health_flipped_ms"] = fmt.Sprintf("the probes need about %s to mark %s unhealthy (unhealthy_threshold %d × interval_seconds %g), longer than the fault (%s)",
				need, d.primary, hc.UnhealthyThreshold, hc.IntervalSeconds, faultLen.Round(time.Millisecond))
		} else {
			rep.Missing["health_flipped_ms"] = "/health never showed " + d.primary + " unhealthy during the fault"
		}
	}
	if recoverAt >= 0 {
		rep.RecoverMS = msp(recoverAt - tl.faultEnd)
	} else {
		left := d.opts.Duration - tl.faultEnd
		rep.Missing["recover_ms"] = fmt.Sprintf("no request started after the fault ended was answered by %s in the %s left of the run (it gets traffic again after healthy_threshold %d × interval_seconds %g of passing probes once unhealthy, and after circuit_breaker.open_seconds %g once its circuit opened)",
			d.primary, left.Round(time.Millisecond), hc.HealthyThreshold, hc.IntervalSeconds, cb.OpenSeconds)
	}
	if d.knownBadStats >= 0 && d.faultEndStats >= d.knownBadStats {
		rep.SimPrimaryAfterKnownBad = d.faultEndStats - d.knownBadStats
	}
	if len(normal) > 0 {
		rep.NormalP50MS, rep.NormalP99MS = msp(quantile(normal, 0.5)), msp(quantile(normal, 0.99))
	} else {
		rep.Missing["normal_p50_ms"] = "no answer came from " + d.primary + " without failover"
		rep.Missing["normal_p99_ms"] = rep.Missing["normal_p50_ms"]
	}
	if len(failed) > 0 {
		rep.FailoverP50MS, rep.FailoverP99MS = msp(quantile(failed, 0.5)), msp(quantile(failed, 0.99))
	} else {
		rep.Missing["failover_p50_ms"] = "no answer was failed over"
		rep.Missing["failover_p99_ms"] = rep.Missing["failover_p50_ms"]
	}
	d.recorded(rep, rs, evs, evErr)
	rep.FailoverAddedP50MS = added(rep.Missing, "failover_added_p50_ms", normal, failed, 0.5, minSamplesP50)
	rep.FailoverAddedP99MS = added(rep.Missing, "failover_added_p99_ms", normal, failed, 0.99, minSamplesP99)
	if len(rep.Missing) == 0 {
		rep.Missing = nil
	}
	return rep
}

// recorded fills the figures read from the events and the simulators'
// counters.
func (d *driver) recorded(rep *Report, rs []result, evs []events.Event, evErr error) {
	fo := d.cfg.Providers.Failover
	if fo == nil {
		fo = &config.Failover{}
	}
	if fo.StreamIdleTimeoutSeconds > 0 {
		rep.StreamIdleTimeoutMS = msp(secs(fo.StreamIdleTimeoutSeconds))
	} else {
		rep.Missing["stream_idle_timeout_ms"] = "failover.stream_idle_timeout_seconds is 0: stall detection is off"
	}
	switch {
	case d.simErr != nil:
		rep.Missing["streams_without_done"] = "the simulators' /stats could not be read: " + d.simErr.Error()
	case len(d.simStart) != len(d.simEnd):
		rep.Missing["streams_without_done"] = "the simulators' /stats could not be read after the run"
	default:
		var n int64
		for i := range d.simEnd {
			n += d.simEnd[i].FaultsApplied[sim.FaultNoDone] - d.simStart[i].FaultsApplied[sim.FaultNoDone]
		}
		rep.StreamsWithoutDone = &n
	}
	if len(evs) == 0 {
		why := "no event of this drill's requests was read"
		if evErr != nil {
			why = "the gateway's events could not be read: " + evErr.Error()
		}
		for _, k := range []string{"retries", "retried_requests", "answered_by_retry", "continuations", "stalls", "stall_detect_p50_ms", "stall_detect_max_ms", "streams_interrupted"} {
			rep.Missing[k] = why
		}
		return
	}
	byID := make(map[string]result, len(rs))
	for _, r := range rs {
		byID[r.requestID] = r
	}
	var retries, retried, byRetry, stalls, interrupted int
	var cont Continuations
	var gaps []time.Duration
	rep.RetriesByReason = map[string]int{}
	for _, ev := range evs {
		n := 0
		for i, a := range ev.Attempts {
			if a.Retry == 0 {
				continue
			}
			n++
			// A retry repeats the failure of the attempt before it, on
			// the same target.
			if i > 0 {
				rep.RetriesByReason[ev.Attempts[i-1].Outcome]++
			}
		}
		retries += n
		if n > 0 {
			retried++
		}
		if ev.Status == http.StatusOK && ev.Error == "" {
			for i := len(ev.Attempts) - 1; i >= 0; i-- {
				if a := ev.Attempts[i]; a.Outcome == "ok" && !a.Skipped {
					if a.Retry > 0 {
						byRetry++
					}
					break
				}
			}
		}
		if m := ev.Midstream; m != nil {
			switch m.Outcome {
			case "ok":
				cont.OK++
			case "refused":
				cont.Refused++
			case "not_attempted":
				cont.NotAttempted++
			default:
				cont.Failed++
			}
		}
		if ev.Error == "stream_interrupted" || ev.Error == "stream_stalled" {
			interrupted++
		}
		if ev.Error == "stream_stalled" || (ev.Midstream != nil && ev.Midstream.Interruption == string(classify.DetailStall)) {
			stalls++
			if r, ok := byID[ev.RequestID]; ok && r.maxGap > 0 {
				gaps = append(gaps, r.maxGap)
			}
		}
	}
	if len(rep.RetriesByReason) == 0 {
		rep.RetriesByReason = nil
	}
	rep.Retries, rep.RetriedRequests, rep.AnsweredByRetry = &retries, &retried, &byRetry
	rep.Continuations, rep.Stalls, rep.StreamsInterrupted = &cont, &stalls, &interrupted
	if len(gaps) > 0 {
		rep.StallDetectP50MS, rep.StallDetectMaxMS = msp(quantile(gaps, 0.5)), msp(slices.Max(gaps))
		return
	}
	var why string
	switch {
	case stalls > 0:
		why = fmt.Sprintf("%d streams were recorded as stalled, but no frame after the stall reached the client to time it", stalls)
	case fo.StreamIdleTimeoutSeconds <= 0:
		why = rep.Missing["stream_idle_timeout_ms"]
	case d.opts.StreamShare <= 0:
		why = "no streaming requests were sent (--stream-share 0)"
	case d.opts.Scenario != Stall:
		why = "no stream stalled (the stall scenario makes the primary's streams stall)"
	default:
		why = fmt.Sprintf("no stream was recorded as stalled (stream_idle_timeout_seconds %g, fault %s)",
			fo.StreamIdleTimeoutSeconds, (d.timeline.faultEnd - d.timeline.faultStart).Round(time.Millisecond))
	}
	rep.Missing["stall_detect_p50_ms"], rep.Missing["stall_detect_max_ms"] = why, why
}

// Sample sizes below which what failover added is not reported: a
// difference of two medians of a handful of requests is noise, and the
// nearest-rank p99 of fewer than 100 requests is just their maximum.
const (
	minSamplesP50 = 10
	minSamplesP99 = 100
)

// added is the q-quantile of failed-over answers minus that of normal ones,
// or nil with the reason in missing[key] when a sample is too small or the
// difference is not positive (latencies are measured on the monotonic
// clock, so a negative difference means only that failed-over answers were
// not slower at that quantile, not that failover saved time).
func added(missing map[string]string, key string, normal, failed []time.Duration, q float64, minN int) *float64 {
	if len(normal) < minN || len(failed) < minN {
		missing[key] = fmt.Sprintf("too few answers to compare (%d normal, %d failed over; %d of each needed)", len(normal), len(failed), minN)
		return nil
	}
	qf, qn := quantile(failed, q), quantile(normal, q)
	if qf < qn {
		missing[key] = fmt.Sprintf("failed-over answers were not slower than normal ones at this quantile (%s vs %s)", fmtMS(msp(qf)), fmtMS(msp(qn)))
		return nil
	}
	return msp(qf - qn)
}

// attempted reports whether a failover reason means the primary was really
// tried (rather than skipped as known bad).
func attempted(reason string) bool {
	switch classify.Reason(reason) {
	case "", classify.CircuitOpen, classify.ProviderUnhealthy:
		return false
	}
	// A rate-limit cooldown skip is reported as rate_limited too; counted,
	// as the header cannot tell them apart.
	return true
}

// quantile returns the q-quantile (nearest rank) of ds; ds is sorted.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)+1)) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("scenario", fmt.Sprintf("%s (fault %s → %s)", r.Scenario, fmtMS(&r.FaultStartMS), fmtMS(&r.FaultEndMS)))
	row("load", fmt.Sprintf("%d rps for %s, %.0f%% streaming, model %s", r.RPS, fmtMS(&r.DurationMS), r.StreamShare*100, r.Model))
	row("targets", strings.Join(r.Targets, " → "))
	row("config overrides", r.overridesRow())
	row("requests sent", fmt.Sprintf("%d (dropped ticks: %d)", r.Sent, r.Dropped))
	row("succeeded", fmt.Sprintf("%d (%s)", r.Succeeded, pct(r.Succeeded, r.Sent)))
	row("answered by status", counts(r.ByStatus))
	row("answered by target", counts(r.AnsweredBy))
	row("client-visible errors", counts(r.Errors))
	row("  before / during / after fault", fmt.Sprintf("%d / %d / %d (after recovery: %d)", r.ErrorsBeforeFault, r.ErrorsDuringFault, r.ErrorsAfterFault, r.ErrorsAfterRecovery))
	row("failovers by reason", counts(r.FailoverReasons))
	row("attempts per request", fmt.Sprintf("max %d (limit %d)", r.MaxAttemptsSeen, r.AttemptLimit))
	row("time to detect: fallback answer", r.fig("detect_fallback_ms", r.DetectFallbackMS))
	row("time to detect: breaker opened", r.fig("breaker_opened_ms", r.BreakerOpenedMS))
	row("time to detect: health flipped", r.fig("health_flipped_ms", r.HealthFlippedMS))
	row("latency normal p50 / p99", fmtMS(r.NormalP50MS)+" / "+fmtMS(r.NormalP99MS)+r.why("normal_p50_ms"))
	row("latency failed over p50 / p99", fmtMS(r.FailoverP50MS)+" / "+fmtMS(r.FailoverP99MS)+r.why("failover_p50_ms"))
	row("failover added p50", r.fig("failover_added_p50_ms", r.FailoverAddedP50MS))
	row("failover added p99", r.fig("failover_added_p99_ms", r.FailoverAddedP99MS))
	sim := "unknown"
	if r.SimPrimaryAfterKnownBad >= 0 {
		sim = strconv.FormatInt(r.SimPrimaryAfterKnownBad, 10)
	}
	row("attempts wasted on known-bad primary", fmt.Sprintf("%d (primary sim saw %s requests)", r.WastedAttempts, sim))
	row("time to recover", r.fig("recover_ms", r.RecoverMS))
	row("same-target retries", r.retriesRow())
	row("mid-stream continuations", r.continuationsRow())
	row("stalls detected", r.countRow("stalls", r.Stalls)+r.idleNote())
	row("stall detection p50 / max", r.stallRow())
	row("streams interrupted", r.countRow("streams_interrupted", r.StreamsInterrupted))
	row("upstream streams without [DONE]", r.count64Row("streams_without_done", r.StreamsWithoutDone))
	ev := fmt.Sprintf("%d of %d sent", r.EventsWritten, r.Sent)
	if r.EventsError != "" {
		ev += " (" + r.EventsError + ")"
	}
	row("events written", ev)
	for _, k := range slices.Sorted(maps.Keys(r.ErrorSamples)) {
		row("error sample "+k, strings.ReplaceAll(r.ErrorSamples[k], "\n", " "))
	}
	for _, p := range r.Problems {
		row("problem", p)
	}
	return tw.Flush()
}

func (r *Report) overridesRow() string {
	if len(r.Overrides) == 0 {
		return "none"
	}
	var parts []string
	applied := true
	for _, o := range r.Overrides {
		parts = append(parts, o.Setting+"="+o.Value)
		applied = applied && o.Applied
	}
	s := strings.Join(parts, " ")
	if !applied {
		s += " (needed, not applied: a running gateway keeps its own configuration)"
	}
	return s
}

func (r *Report) retriesRow() string {
	if r.Retries == nil {
		return "-" + r.why("retries")
	}
	s := fmt.Sprintf("%d on %d requests", *r.Retries, deref(r.RetriedRequests))
	if len(r.RetriesByReason) > 0 {
		s += " (" + counts(r.RetriesByReason) + ")"
	}
	return s + fmt.Sprintf("; answered by a retry: %d", deref(r.AnsweredByRetry))
}

func (r *Report) continuationsRow() string {
	if r.Continuations == nil {
		return "-" + r.why("continuations")
	}
	c := r.Continuations
	return fmt.Sprintf("%d (ok=%d refused=%d failed=%d not_attempted=%d)", c.total(), c.OK, c.Refused, c.Failed, c.NotAttempted)
}

func (r *Report) idleNote() string {
	if r.StreamIdleTimeoutMS == nil {
		return r.why("stream_idle_timeout_ms")
	}
	return " (idle timeout " + fmtMS(r.StreamIdleTimeoutMS) + ")"
}

func (r *Report) stallRow() string {
	if r.StallDetectP50MS == nil {
		return "-" + r.why("stall_detect_p50_ms")
	}
	return fmtMS(r.StallDetectP50MS) + " / " + fmtMS(r.StallDetectMaxMS)
}

func (r *Report) countRow(key string, v *int) string {
	if v == nil {
		return "-" + r.why(key)
	}
	return strconv.Itoa(*v)
}

func (r *Report) count64Row(key string, v *int64) string {
	if v == nil {
		return "-" + r.why(key)
	}
	return strconv.FormatInt(*v, 10)
}

func deref(v *int) int {
	if v == nil {
		return 0
	}
	return *v
}

// fig formats a figure, or "-" and why it is missing.
func (r *Report) fig(key string, v *float64) string {
	if v != nil {
		return fmtMS(v)
	}
	return "-" + r.why(key)
}

// why is " (reason)" for a missing figure, "" otherwise.
func (r *Report) why(key string) string {
	if reason := r.Missing[key]; reason != "" {
		return " (" + reason + ")"
	}
	return ""
}

func fmtMS(v *float64) string {
	if v == nil {
		return "-"
	}
	if *v >= 10000 || *v <= -10000 {
		return fmt.Sprintf("%.1fs", *v/1000)
	}
	return fmt.Sprintf("%.1fms", *v)
}

func pct(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(of))
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
