package drill

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// Scenario names a scripted outage.
type Scenario string

// The scenarios. Every one runs normal traffic for the first 20% of the
// drill, the fault for the next 40%, and recovered traffic for the rest.
const (
	// PrimaryDown closes the primary's listener (connection refused).
	PrimaryDown Scenario = "primary-down"
	// PrimarySlow delays the primary's first token beyond the attempt timeout.
	PrimarySlow Scenario = "primary-slow"
	// Primary429 rate-limits the primary with a Retry-After header.
	Primary429 Scenario = "primary-429"
	// Flapping takes the primary down and up again every few seconds.
	Flapping Scenario = "flapping"
	// AllDown takes every target down: the gateway can only answer 503.
	AllDown Scenario = "all-down"
	// Transient makes the primary's model answer one request with a 500
	// every sixth of the fault, then one with a 429 (Retry-After: 1): each
	// is absorbed by a same-target retry (failover.retry.same_target).
	Transient Scenario = "transient"
	// Stall makes the primary's streams go silent after a few words: the
	// gateway detects the stall (failover.stream_idle_timeout_seconds) and
	// continues the answer on the fallback (failover.midstream).
	Stall Scenario = "stall"
	// Cut closes the primary's streams after a few words (no finish, no
	// [DONE]): the answer is continued on the fallback.
	Cut Scenario = "cut"
	// NoDone makes the primary end complete streams without data: [DONE]
	// (as several OpenAI-compatible servers do): they must count as
	// successes.
	NoDone Scenario = "no-done"
	// ContextLength makes the primary refuse every prompt as too long for
	// its context window: the request moves to the larger-context fallback
	// (failover.on_context_length_exceeded: failover).
	ContextLength Scenario = "context-length"
)

// Scenarios lists every scenario, for help texts and validation.
func Scenarios() []Scenario {
	return []Scenario{PrimaryDown, PrimarySlow, Primary429, Flapping, AllDown, Transient, Stall, Cut, NoDone, ContextLength}
}

// ParseScenario checks a scenario name given by a user.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios() {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scenario %q (want one of %v)", s, Scenarios())
}

// OneTargetHealthy reports whether at least one target stays healthy
// throughout, so that every request must succeed.
func (s Scenario) OneTargetHealthy() bool { return s != AllDown }

// StreamsOnly reports whether the scenario's fault is about streams, so
// that its load is all streaming unless a share is asked for.
func (s Scenario) StreamsOnly() bool { return s == Stall || s == Cut || s == NoDone }

// Override is a configuration setting a scenario needs to show what it is
// about, applied to an in-process stack as a KT_ environment override.
type Override struct {
	// Setting is the dotted configuration path, as under providers.
	Setting string `json:"setting"`
	// Value is what the drill sets it to.
	Value string `json:"value"`
	// Applied is false when the drill drives a running gateway (--gateway),
	// which keeps its own configuration.
	Applied bool `json:"applied"`
}

// env is the KT_ variable assignment that applies o (the loader sends it
// to wherever the file put its failover section).
func (o Override) env() string {
	return "KT_PROVIDERS__" + strings.ToUpper(strings.ReplaceAll(o.Setting, ".", "__")) + "=" + o.Value
}

// minIdleTimeout is the shortest stream idle timeout the stall scenario
// sets: shorter ones would call a loaded machine's scheduling delay a
// stall.
const minIdleTimeout = 250 * time.Millisecond

// overrides lists the settings the scenario needs that fo leaves at their
// defaults (off, or for the idle timeout too long to see a stall within a
// fault of length faultLen). A setting the configuration changed is kept:
// the drill then shows what that configuration does.
func (s Scenario) overrides(fo *config.Failover, faultLen time.Duration) []Override {
	if fo == nil {
		fo = &config.Failover{}
	}
	var out []Override
	add := func(setting, value string) { out = append(out, Override{Setting: setting, Value: value}) }
	switch s {
	case Transient:
		if fo.Retry.SameTarget.MaxRetries == config.DefaultSameTargetMaxRetries {
			add("failover.retry.same_target.max_retries", "1")
		}
	case Stall:
		if idle := fo.StreamIdleTimeoutSeconds; idle == 0 || (idle == config.DefaultStreamIdleTimeoutSeconds && secs(idle) > faultLen/3) {
			// A sixth of the fault leaves room for several stalls, each
			// detected, continued and followed by more traffic.
			add("failover.stream_idle_timeout_seconds", strconv.FormatFloat(max(faultLen/6, minIdleTimeout).Round(time.Millisecond).Seconds(), 'f', -1, 64))
		}
		if !fo.Midstream.Enabled {
			add("failover.midstream.enabled", "true")
		}
	case Cut:
		if !fo.Midstream.Enabled {
			add("failover.midstream.enabled", "true")
		}
	case ContextLength:
		if fo.OnContextLengthExceeded == "" || fo.OnContextLengthExceeded == config.DefaultOnContextLengthExceeded {
			add("failover.on_context_length_exceeded", config.OnContextLengthFailover)
		}
	}
	return out
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// planEnv is what a timeline depends on besides the drill's duration.
type planEnv struct {
	// slow is the delay of primary-slow, longer than the attempt timeout.
	slow time.Duration
	// targets is the number of targets.
	targets int
	// model is the model the primary is asked for: transient's faults are
	// scoped to it, so that probes (which name no model) do not see them.
	model string
	// primarySim is the simulator kind of the primary: Anthropic's
	// streams open with three lifecycle frames instead of one.
	primarySim sim.Kind
}

// breakAfter is how many frames a cut or stalled stream sends first: the
// lifecycle frames and two words, so that answer text reached the client
// and the stream can only be continued, not retried.
func (e planEnv) breakAfter() int {
	if e.primarySim == sim.KindAnthropic {
		return 5 // message_start, content_block_start, ping, two deltas
	}
	return 3 // the role chunk and two word chunks
}

// transientPeriod is how often transient injects its next one-off failure:
// a sixth of the fault, between 100 ms and 2 s.
func transientPeriod(faultLen time.Duration) time.Duration {
	return min(max(faultLen/6, 100*time.Millisecond), 2*time.Second)
}

// step is one fault change at an offset from the start of the drill.
type step struct {
	at     time.Duration
	target int // index in priority order; -1 means every target
	fault  sim.Fault
}

// timeline is a scenario's schedule for a drill of duration d.
type timeline struct {
	faultStart, faultEnd time.Duration
	steps                []step
}

// flapPeriod is how long each half of a flap lasts: a few seconds in a long
// drill, shorter in a short one so that it still flaps several times.
func flapPeriod(d time.Duration) time.Duration {
	return min(max(d/10, 250*time.Millisecond), 5*time.Second)
}

// plan builds the timeline.
func (s Scenario) plan(d time.Duration, env planEnv) timeline {
	slow, targets := env.slow, env.targets
	tl := timeline{faultStart: d / 5, faultEnd: d * 3 / 5}
	none := sim.Fault{Kind: sim.FaultNone}
	add := func(at time.Duration, target int, f sim.Fault) {
		tl.steps = append(tl.steps, step{at: at, target: target, fault: f})
	}
	switch s {
	case PrimaryDown:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultDown})
	case PrimarySlow:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultSlowFirstToken, Delay: slow})
	case Primary429:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: 1})
	case Flapping:
		p := flapPeriod(d)
		down := true
		for at := tl.faultStart; at < tl.faultEnd; at += p {
			if down {
				add(at, 0, sim.Fault{Kind: sim.FaultDown})
			} else {
				add(at, 0, none)
			}
			down = !down
		}
	case AllDown:
		for i := range targets {
			add(tl.faultStart, i, sim.Fault{Kind: sim.FaultDown})
		}
	case Transient:
		// One-off failures, each used up by exactly one request (count 1,
		// under the simulator's lock): a 500 every period, then one short
		// 429 last, as the 429 cools the model down for its Retry-After and
		// one-offs set meanwhile would be replaced unused.
		p := transientPeriod(tl.faultEnd - tl.faultStart)
		at := tl.faultStart
		for ; at+p < tl.faultEnd; at += p {
			add(at, 0, sim.Fault{Kind: sim.FaultError, Status: 500, Count: 1, Model: env.model})
		}
		add(at, 0, sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: 1, Count: 1, Model: env.model})
	case Stall:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultStall, AfterChunks: env.breakAfter()})
	case Cut:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultCut, AfterChunks: env.breakAfter()})
	case NoDone:
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultNoDone})
	case ContextLength:
		// No context window: every prompt is refused as too long.
		add(tl.faultStart, 0, sim.Fault{Kind: sim.FaultContextLength})
	}
	switch s {
	case AllDown:
		for i := range targets {
			add(tl.faultEnd, i, none)
		}
	case Transient:
		// An unused one-off failure goes too.
		add(tl.faultEnd, 0, sim.Fault{Kind: sim.FaultNone, Model: env.model})
		add(tl.faultEnd, 0, none)
	default:
		add(tl.faultEnd, 0, none)
	}
	return tl
}
