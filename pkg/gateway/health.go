package gateway

import (
	"encoding/json"
	"net/http"
	"time"
)

// healthBody is GET /health, in the tutorial's shape.
type healthBody struct {
	Status    string                    `json:"status"`
	Providers map[string]providerHealth `json:"providers"`
}

// providerHealth is one target in /health. Status says what routing does
// with the target now, so it agrees with the requests failing over: a
// failing probe or an open circuit makes it "unhealthy", with Reason in the
// failover vocabulary. A Retry-After cooldown benches only the models it was
// given for (Cooldowns); the target still serves the others.
type providerHealth struct {
	Status string `json:"status"`
	// Reason is provider_unhealthy or circuit_open while unhealthy.
	Reason              string  `json:"reason,omitempty"`
	ConsecutiveFailures int64   `json:"consecutive_failures"`
	LastCheck           *string `json:"last_check"`
	// Cooldowns maps each upstream model in a Retry-After cooldown to its end.
	Cooldowns map[string]string `json:"cooldowns,omitempty"`
	// Verbose fields (?verbose=1).
	Provider             string   `json:"provider,omitempty"`
	Priority             int      `json:"priority,omitempty"`
	Available            *bool    `json:"available,omitempty"`
	HealthCheck          string   `json:"health_check,omitempty"`
	ConsecutiveSuccesses *int64   `json:"consecutive_successes,omitempty"`
	LastProbeMS          *float64 `json:"last_probe_ms,omitempty"`
	ProbeFailures        *int64   `json:"probe_consecutive_failures,omitempty"`
	LastError            string   `json:"last_error,omitempty"`
	Circuit              *circuit `json:"circuit,omitempty"`
}

type circuit struct {
	State                string `json:"state"`
	Requests             uint32 `json:"requests"`
	TotalFailures        uint32 `json:"total_failures"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
	// OpenUntil is the latest end of the open period (probes may end it sooner).
	OpenUntil string `json:"open_until,omitempty"`
	// OpenSeconds is the current open period, doubled by each failed trial.
	OpenSeconds float64 `json:"open_seconds,omitempty"`
}

// handleHealth answers 200 while at least one target can serve ("healthy"
// when all can, "degraded" when some can) and 503 "unhealthy" when none can,
// so an orchestrator or load balancer can act on the code alone. The top
// level is counted from the providers' own statuses, so the two agree.
func (g *Gateway) handleHealth(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	verbose := r.URL.Query().Get("verbose")
	isVerbose := verbose == "1" || verbose == "true"
	if isVerbose && !rt.admin.Allow(r) {
		// The verbose view is a management endpoint; the plain one stays
		// open for load balancers.
		rt.admin.Refuse(w)
		return
	}
	body := healthBody{Providers: make(map[string]providerHealth, len(rt.targets))}
	available := 0
	for _, t := range rt.targets {
		s := t.Health.Snapshot()
		ph := providerHealth{Status: "healthy", ConsecutiveFailures: s.ConsecutiveFailures}
		if s.Healthy {
			available++
		} else {
			ph.Status, ph.Reason = "unhealthy", string(s.Reason)
		}
		if !s.LastCheck.IsZero() {
			lc := s.LastCheck.UTC().Format(time.RFC3339)
			ph.LastCheck = &lc
		}
		if len(s.Cooldowns) > 0 {
			ph.Cooldowns = make(map[string]string, len(s.Cooldowns))
			for m, until := range s.Cooldowns {
				ph.Cooldowns[m] = until.UTC().Format(time.RFC3339)
			}
		}
		if isVerbose {
			ph.Provider = t.Adapter.Kind()
			ph.Priority = t.Priority
			ph.Available = &s.Healthy
			ph.HealthCheck = "disabled"
			if s.ProbeEnabled {
				ph.HealthCheck = "enabled"
				ph.ConsecutiveSuccesses = &s.ConsecutiveSuccesses
				ph.ProbeFailures = &s.ProbeConsecutiveFailures
				ms := float64(s.LastProbeDuration.Microseconds()) / 1000
				ph.LastProbeMS = &ms
			}
			ph.LastError = s.LastError
			c := s.BreakerCounts
			ph.Circuit = &circuit{State: s.Breaker, Requests: c.Requests, TotalFailures: c.TotalFailures,
				ConsecutiveFailures: c.ConsecutiveFailures, ConsecutiveSuccesses: c.ConsecutiveSuccesses,
				OpenSeconds: s.OpenPeriod.Seconds()}
			if !s.OpenUntil.IsZero() {
				ph.Circuit.OpenUntil = s.OpenUntil.Format(time.RFC3339)
			}
		}
		body.Providers[t.ID] = ph
	}
	status := http.StatusOK
	switch {
	case available == len(rt.targets):
		body.Status = "healthy"
	case available > 0:
		body.Status = "degraded"
	default:
		body.Status = "unhealthy"
		status = http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(body)
	writeJSON(w, status, b)
}
