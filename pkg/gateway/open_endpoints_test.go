package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
)

// TestOpenEndpoints holds the README's list of open endpoints in every
// access configuration: /health, /livez and /readyz (and /metrics when
// telemetry.prometheus.enabled) answer without any key or token, whether
// client auth is on, an admin token is set, or the gateway binds beyond
// loopback; /metrics is not served without the Prometheus setting.
func TestOpenEndpoints(t *testing.T) {
	const (
		prom  = "telemetry:\n  prometheus: {enabled: true}\n"
		admin = "admin:\n  token_ref: {env: ADMIN}\n"
	)
	tests := []struct {
		name    string
		extra   string
		env     []string
		host    string
		metrics bool
	}{
		{"defaults", "", nil, "127.0.0.1", false},
		{"prometheus on", prom, nil, "127.0.0.1", true},
		{"admin token, all interfaces", prom + admin, []string{"ADMIN=" + adminToken}, "0.0.0.0", true},
		{"no admin token, all interfaces", prom, nil, "0.0.0.0", true},
		{"client auth and admin token", prom + admin + authYAML, []string{"ADMIN=" + adminToken, "SEARCH_KEY=" + searchKey}, "0.0.0.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, okAnswer, okAnswer, harnessOptions{extra: tt.extra, environ: tt.env,
				mutate: func(f *config.File) { f.Server.Host = tt.host }})
			for _, path := range []string{"/health", "/livez", "/readyz", "/metrics"} {
				w := httptest.NewRecorder()
				h.gw.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				switch {
				case path == "/metrics" && !tt.metrics:
					if w.Code != http.StatusNotFound {
						t.Errorf("GET /metrics without telemetry.prometheus.enabled: %d, want 404", w.Code)
					}
				case w.Code == http.StatusUnauthorized || w.Code == http.StatusForbidden || w.Code == http.StatusNotFound:
					t.Errorf("GET %s without credentials: %d, want it open", path, w.Code)
				}
			}
		})
	}
}
