package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// simTargets is a valid two-target body that does not forward client auth
// (which auth.enabled forbids).
const simTargets = `
providers:
  targets:
    - id: a
      provider: openai_compatible
      base_url: http://127.0.0.1:1/v1
    - id: b
      provider: openai_compatible
      base_url: http://127.0.0.1:2/v1
`

const goodHash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestTeamsAuthProblems(t *testing.T) {
	type want struct {
		sev        Severity
		path, text string
	}
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    []want
	}{
		{
			name: "auth enabled without keys",
			yaml: simTargets + "auth:\n  enabled: true\n",
			want: []want{{Error, "auth.keys", "no keys are configured"}},
		},
		{
			name: "keys while auth is off",
			yaml: simTargets + "auth:\n  keys:\n    - {name: k, team: t, hash: " + goodHash + "}\n",
			want: []want{{Warning, "auth.enabled", "are not checked"}},
		},
		{
			name: "teams while auth is off",
			yaml: simTargets + "teams:\n  - id: t\n    rate_limit: {requests_per_minute: 5}\n",
			want: []want{{Warning, "teams", "auth.enabled is false"}},
		},
		{
			name: "team no key belongs to",
			yaml: simTargets + "auth:\n  enabled: true\n  keys:\n    - {name: k, team: t, hash: " + goodHash + "}\nteams:\n  - id: other\n",
			want: []want{{Warning, "teams[0].id", `no key in auth.keys belongs to team "other"`}},
		},
		{
			name: "duplicate team and daily above monthly",
			yaml: simTargets + "auth:\n  enabled: true\n  keys:\n    - {name: k, team: t, hash: " + goodHash + "}\nteams:\n  - id: t\n    budget: {daily_usd: 20, monthly_usd: 10}\n  - id: t\n",
			want: []want{{Warning, "teams[0].budget.daily_usd", "monthly budget binds first"}, {Error, "teams[1].id", `duplicate "t" (already used by teams[0])`}},
		},
		{
			name: "same key twice",
			yaml: simTargets + "auth:\n  enabled: true\n  keys:\n    - {name: k1, team: t, hash: " + goodHash + "}\n    - {name: k2, team: t, hash: " + goodHash + "}\n",
			want: []want{{Error, "auth.keys[1].hash", "already configured as auth.keys[0]"}},
		},
		{
			name:    "key_ref variable unset is a warning in lint",
			yaml:    simTargets + "auth:\n  enabled: true\n  keys:\n    - name: k\n      team: t\n      key_ref: {env: TEAM_KEY}\n",
			environ: []string{},
			want:    []want{{Warning, "auth.keys[0].key_ref.env", "TEAM_KEY is not set"}},
		},
		{
			name: "forward_client_auth with auth",
			yaml: twoTargets + "auth:\n  enabled: true\n  keys:\n    - {name: k, team: t, hash: " + goodHash + "}\n",
			want: []want{{Error, "providers.targets[0].forward_client_auth", "must not reach a provider"}, {Error, "providers.targets[1].forward_client_auth", "cannot be used"}},
		},
		{
			name: "non-loopback bind without admin token",
			yaml: "server:\n  host: 0.0.0.0\n" + simTargets,
			want: []want{{Warning, "admin.token_ref", "management endpoints"}},
		},
		{
			name: "admin token_ref without env or file",
			yaml: simTargets + "admin:\n  token_ref: {}\n",
			want: []want{{Error, "admin.token_ref", "set env (a variable name) or file"}},
		},
		{
			name: "sticky header with priority",
			yaml: simTargets + "  failover:\n    sticky_header: X-User-Id\n",
			want: []want{{Warning, "providers.failover.sticky_header", "ignored with strategy priority"}},
		},
		{
			name: "negative weight",
			yaml: strings.Replace(simTargets, "base_url: http://127.0.0.1:1/v1", "base_url: http://127.0.0.1:1/v1\n      weight: -2", 1) + "  failover:\n    strategy: weighted\n",
			want: []want{{Error, "providers.targets[0].weight", "must be 0 or greater"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadYAML(t, tt.yaml, tt.environ)
			for _, w := range tt.want {
				if _, ok := findProblem(ps, w.sev, w.path, w.text); !ok {
					t.Errorf("missing %s at %s containing %q; got:\n%s", w.sev, w.path, w.text, joinProblems(ps))
				}
			}
		})
	}
}

func TestTeamsValid(t *testing.T) {
	yaml := simTargets + `  failover:
    strategy: weighted
    sticky_header: X-User-Id
auth:
  enabled: true
  keys:
    - {name: k, team: t, hash: ` + goodHash + `}
teams:
  - id: t
    rate_limit: {requests_per_minute: 60, tokens_per_minute: 1000}
    budget: {daily_usd: 1.5, monthly_usd: 20}
`
	f, ps := loadYAML(t, yaml, []string{})
	requireNoProblems(t, ps)
	if w := f.Providers.Targets[0].Weight; w == nil || *w != DefaultWeight {
		t.Errorf("default weight = %v, want %d", w, DefaultWeight)
	}
	if !f.Reload.WatchEnabled() {
		t.Error("reload.watch should default to true")
	}
	if got := f.Teams[0]; got.RateLimit.RequestsPerMinute != 60 || got.Budget.MonthlyUSD != 20 {
		t.Errorf("team = %+v", got)
	}
}

func TestResolveRef(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("s3cret-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TOKEN=s3cret-env ", "BLANK= "}
	tests := []struct {
		name    string
		ref     *SecretKeyRef
		want    string
		wantErr string
	}{
		{"nil", nil, "", ""},
		{"env trimmed", &SecretKeyRef{Env: "TOKEN"}, "s3cret-env", ""},
		{"file trimmed", &SecretKeyRef{File: file}, "s3cret-file", ""},
		{"env unset", &SecretKeyRef{Env: "NOPE"}, "", "admin.token_ref: environment variable NOPE is not set"},
		{"env blank", &SecretKeyRef{Env: "BLANK"}, "", "environment variable BLANK is empty"},
		{"file empty", &SecretKeyRef{File: empty}, "", "is empty"},
		{"both", &SecretKeyRef{Env: "TOKEN", File: file}, "", "sets both env and file"},
		{"neither", &SecretKeyRef{}, "", "sets neither env nor file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveRef(tt.ref, "admin.token_ref", env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
