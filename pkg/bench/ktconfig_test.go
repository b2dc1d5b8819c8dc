package bench

import (
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// TestKtConfigLoads checks the generated configs against the real schema:
// each loads without an error and means what the harness intends.
func TestKtConfigLoads(t *testing.T) {
	const up = "http://127.0.0.1:4000/v1"
	tests := []struct {
		name        string
		cfg         ktConfig
		wantTargets []string
		wantPolicy  bool
	}{
		{name: "base", cfg: ktConfig{upstream: up}, wantTargets: []string{"bench-upstream"}},
		{name: "failover", cfg: ktConfig{upstream: up, dead: "http://127.0.0.1:4001/v1"}, wantTargets: []string{"dead-primary", "bench-upstream"}},
		{name: "content filter", cfg: ktConfig{upstream: up, contentFilter: true}, wantTargets: []string{"bench-upstream"}, wantPolicy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, problems, err := config.Load(config.LoadOptions{
				File: tt.name + ".yaml", Data: []byte(tt.cfg.yaml()), Environ: []string{benchKeyEnv + "=sk-test"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := problems.Err(); err != nil {
				t.Fatalf("config does not validate: %v\n%s", err, tt.cfg.yaml())
			}
			var ids []string
			for _, tg := range f.Providers.Targets {
				ids = append(ids, tg.ID)
				if tg.Provider != openai.Kind.Name || !tg.HealthCheck.IsEnabled() || tg.SecretKeyRef == nil || tg.SecretKeyRef.Env != benchKeyEnv {
					t.Errorf("target %s = %+v, want openai, health check on, key from %s", tg.ID, tg, benchKeyEnv)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantTargets, ",") {
				t.Errorf("targets %v, want %v", ids, tt.wantTargets)
			}
			if got := f.Providers.Targets[len(ids)-1].BaseURL; got != up {
				t.Errorf("last target's base_url %q, want %q", got, up)
			}
			if tt.cfg.dead != "" && (!f.Providers.Failover.IsEnabled() || f.Providers.Targets[0].CircuitBreaker.OpenSeconds < 600) {
				t.Error("failover config must fail over and keep the dead primary's breaker open")
			}
			if hasCF := len(f.Policies) == 1 && f.Policies[0].Type == "content_filter" && f.Policies[0].Action == "flag"; hasCF != tt.wantPolicy {
				t.Errorf("policies %+v, want content filter: %v", f.Policies, tt.wantPolicy)
			}
		})
	}
}

func TestKtConfigEvents(t *testing.T) {
	on := true
	y := ktConfig{upstream: "http://127.0.0.1:1/v1", events: &on, eventsPath: "/tmp/x y/events.db"}.yaml()
	if !strings.Contains(y, "events:\n  enabled: true\n  path: \"/tmp/x y/events.db\"\n") {
		t.Errorf("events section missing or unquoted:\n%s", y)
	}
	if strings.Contains(ktConfig{upstream: "http://127.0.0.1:1/v1"}.yaml(), "events:") {
		t.Error("events section written without events set")
	}
}

func TestLintErrors(t *testing.T) {
	tests := []struct{ out, want string }{
		{"error: events: unknown key\nwarning: providers.failover: single target\nkt.yaml: 1 error, 1 warning\n", "error: events: unknown key"},
		{"error: a\nerror: b\n", "error: a; error: b"},
		{"something odd\n\nhappened\n", "something odd; happened"},
	}
	for _, tt := range tests {
		if got := lintErrors(tt.out); got != tt.want {
			t.Errorf("lintErrors(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}
