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

type providerHealth struct {
	Status              string  `json:"status"`
	ConsecutiveFailures int64   `json:"consecutive_failures"`
	LastCheck           *string `json:"last_check"`
	// Verbose fields (?verbose=1).
	Provider             string   `json:"provider,omitempty"`
	Priority             int      `json:"priority,omitempty"`
	Available            *bool    `json:"available,omitempty"`
	HealthCheck          string   `json:"health_check,omitempty"`
	ConsecutiveSuccesses *int64   `json:"consecutive_successes,omitempty"`
	LastProbeMS          *float64 `json:"last_probe_ms,omitempty"`
	LastError            string   `json:"last_error,omitempty"`
	Circuit              *circuit `json:"circuit,omitempty"`
	CooldownUntil        string   `json:"cooldown_until,omitempty"`
}

type circuit struct {
	State                string `json:"state"`
	Requests             uint32 `json:"requests"`
	TotalFailures        uint32 `json:"total_failures"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
}

// handleHealth answers 200 while at least one target can serve ("healthy"
// when all can, "degraded" when some can) and 503 "unhealthy" when none can,
// so an orchestrator or load balancer can act on the code alone.
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
	now := time.Now()
	body := healthBody{Providers: make(map[string]providerHealth, len(rt.targets))}
	available := 0
	for _, t := range rt.targets {
		s := t.Health.Snapshot()
		avail := t.Health.Available(now)
		if avail {
			available++
		}
		ph := providerHealth{Status: "healthy", ConsecutiveFailures: s.ConsecutiveFailures}
		if !s.Healthy {
			ph.Status = "unhealthy"
		}
		if !s.LastCheck.IsZero() {
			lc := s.LastCheck.UTC().Format(time.RFC3339)
			ph.LastCheck = &lc
		}
		if isVerbose {
			ph.Provider = t.Adapter.Kind()
			ph.Priority = t.Priority
			ph.Available = &avail
			ph.HealthCheck = "disabled"
			if s.ProbeEnabled {
				ph.HealthCheck = "enabled"
				ph.ConsecutiveSuccesses = &s.ConsecutiveSuccesses
				ms := float64(s.LastProbeDuration.Microseconds()) / 1000
				ph.LastProbeMS = &ms
			}
			ph.LastError = s.LastError
			c := s.BreakerCounts
			ph.Circuit = &circuit{State: s.Breaker, Requests: c.Requests, TotalFailures: c.TotalFailures,
				ConsecutiveFailures: c.ConsecutiveFailures, ConsecutiveSuccesses: c.ConsecutiveSuccesses}
			if !s.CooldownUntil.IsZero() {
				ph.CooldownUntil = s.CooldownUntil.Format(time.RFC3339)
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
