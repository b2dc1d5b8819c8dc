package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
)

// tutorialEnv is an environment in which the tutorial's keys are set.
var tutorialEnv = []string{"OPENAI_API_KEY=sk-test-openai", "ANTHROPIC_API_KEY=sk-test-anthropic", "PATH=/usr/bin"}

// loadYAML loads YAML bytes and fails the test when the source itself is rejected.
func loadYAML(t *testing.T, yaml string, environ []string) (*File, Problems) {
	t.Helper()
	f, ps, err := Load(LoadOptions{File: "test.yaml", Data: []byte(yaml), Environ: environ})
	if err != nil {
		t.Fatalf("Load: unexpected error: %v", err)
	}
	if f == nil {
		t.Fatal("Load returned a nil File without an error")
	}
	if f.Failover != nil {
		t.Error("File.Failover is not nil after Load")
	}
	if f.Providers.Failover == nil {
		t.Fatal("File.Providers.Failover is nil after Load")
	}
	return f, ps
}

// findProblem returns the problem at path with the severity whose message
// contains substr.
func findProblem(ps Problems, sev Severity, path, substr string) (Problem, bool) {
	for _, p := range ps {
		if p.Severity == sev && p.Path == path && strings.Contains(p.Message, substr) {
			return p, true
		}
	}
	return Problem{}, false
}

func requireNoProblems(t *testing.T, ps Problems) {
	t.Helper()
	for _, p := range ps {
		t.Errorf("unexpected problem: %s", p)
	}
}

// withoutBindWarning drops the warning that a non-loopback bind without an
// admin token refuses the management endpoints (tests that bind 0.0.0.0
// are about something else).
func withoutBindWarning(ps Problems) Problems {
	var out Problems
	for _, p := range ps {
		if p.Path != "admin.token_ref" || p.Severity != Warning {
			out = append(out, p)
		}
	}
	return out
}

// twoTargets is a minimal valid config body used by many cases below.
const twoTargets = `
providers:
  targets:
    - id: a
      provider: openai
      forward_client_auth: true
    - id: b
      provider: openai
      forward_client_auth: true
`

func TestLoadTutorial(t *testing.T) {
	f, ps, err := Load(LoadOptions{File: "testdata/tutorial.yaml", Environ: tutorialEnv})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	requireNoProblems(t, ps)

	if f.Version != "1" {
		t.Errorf("version = %q, want 1", f.Version)
	}
	if f.Server.Host != DefaultHost || f.Server.Port != DefaultPort {
		t.Errorf("server = %s:%d, want %s:%d", f.Server.Host, f.Server.Port, DefaultHost, DefaultPort)
	}
	if f.Server.MaxRequestBodyBytes != DefaultMaxRequestBodyBytes || f.Server.ShutdownTimeoutSeconds != DefaultShutdownTimeoutSeconds {
		t.Errorf("server limits not defaulted: %+v", f.Server)
	}
	if len(f.Providers.Targets) != 2 {
		t.Fatalf("got %d targets, want 2", len(f.Providers.Targets))
	}
	for i, want := range []struct {
		id, baseURL string
		priority    int
	}{
		{"openai-primary", "https://api.openai.com/v1", 1},
		{"anthropic-fallback", "https://api.anthropic.com", 2},
	} {
		tg := f.Providers.Targets[i]
		if tg.ID != want.id || tg.Priority != want.priority || tg.BaseURL != want.baseURL {
			t.Errorf("target %d = %s priority %d base_url %s; want %s priority %d base_url %s",
				i, tg.ID, tg.Priority, tg.BaseURL, want.id, want.priority, want.baseURL)
		}
		h := tg.HealthCheck
		if !h.IsEnabled() || h.IntervalSeconds != 30 || h.TimeoutSeconds != 5 || h.UnhealthyThreshold != 3 || h.HealthyThreshold != 2 {
			t.Errorf("target %d health_check = %+v, want enabled 30/5/3/2", i, h)
		}
		c := tg.CircuitBreaker
		if !c.IsEnabled() || c.ConsecutiveFailures != 5 || c.OpenSeconds != 30 || c.MaxOpenSeconds != 300 || c.HalfOpenRequests != 1 || c.IntervalSeconds != 60 || c.MinRequests != 10 {
			t.Errorf("target %d circuit_breaker = %+v, want defaults", i, c)
		}
	}
	if a := f.Providers.Targets[1]; a.DefaultMaxTokens != anthropic.Kind.DefaultMaxTokens || a.AnthropicVersion != DefaultAnthropicVersion {
		t.Errorf("anthropic defaults = %d %q", a.DefaultMaxTokens, a.AnthropicVersion)
	}
	if o := f.Providers.Targets[0]; o.DefaultMaxTokens != 0 || o.AnthropicVersion != "" {
		t.Errorf("openai target got anthropic defaults: %d %q", o.DefaultMaxTokens, o.AnthropicVersion)
	}

	fo := f.Providers.Failover
	if !fo.IsEnabled() || fo.Strategy != "priority" || len(fo.ModelMapping) != 2 {
		t.Errorf("failover = %+v, want enabled priority with 2 mappings", fo)
	}
	if fo.ModelMapping["gpt-4o"] != "claude-sonnet-4-20250514" {
		t.Errorf("model_mapping[gpt-4o] = %q", fo.ModelMapping["gpt-4o"])
	}
	if fo.Retry.MaxAttempts == nil || *fo.Retry.MaxAttempts != 1 || fo.Retry.TimeoutSeconds != 30 || fo.RequestTimeoutSeconds != 60 {
		t.Errorf("retry = %+v request_timeout = %v, want 1 attempt, 30s, 60s", fo.Retry, fo.RequestTimeoutSeconds)
	}
	if len(f.Policies) != 1 || f.Policies[0].Action != "flag" || strings.Join(f.Policies[0].Config.Categories, ",") != "hate,violence" {
		t.Errorf("policies = %+v", f.Policies)
	}
	if f.Logging.Format != "text" || f.Logging.Level != "info" {
		t.Errorf("logging = %+v", f.Logging)
	}
}

func TestLoadSourceErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	tests := []struct {
		name string
		opts LoadOptions
		want []string
	}{
		{"missing file", LoadOptions{File: missing}, []string{missing}},
		{"no source", LoadOptions{}, []string{"no file"}},
		{"syntax error", LoadOptions{File: "bad.yaml", Data: []byte("version: '1'\nproviders:\n  targets: [\n  - id: a\n    x: : :\n")}, []string{"bad.yaml", "line"}},
		{"bad indentation", LoadOptions{Data: []byte("server:\n  port: 1\n    host: x\n")}, []string{"line 3"}},
		{"not a mapping", LoadOptions{Data: []byte("- a\n- b\n")}, []string{"line 1"}},
		{"duplicate key", LoadOptions{Data: []byte("version: '1'\nversion: '1'\n")}, []string{"line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ps, err := Load(tt.opts)
			if err == nil {
				t.Fatalf("Load succeeded (problems %v), want an error", ps)
			}
			if f != nil {
				t.Errorf("Load returned a File with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadProblems(t *testing.T) {
	type want struct {
		sev     Severity
		path    string
		message string
	}
	tests := []struct {
		name string
		yaml string
		want []want
		// absent lists paths that must have no problem at all.
		absent []string
	}{
		{
			name: "unknown top-level key",
			yaml: "verison: '1'\n" + twoTargets,
			want: []want{{Error, "verison", `unknown key (did you mean "version"?)`}},
		},
		{
			name: "key case matters",
			yaml: "Server:\n  port: 1\n" + twoTargets,
			want: []want{{Error, "Server", `did you mean "server"?`}},
		},
		{
			name: "unknown key in a target",
			yaml: "providers:\n  targets:\n    - idd: a\n      provider: openai\n",
			want: []want{
				{Error, "providers.targets[0].idd", `unknown key (did you mean "id"?)`},
				{Error, "providers.targets[0].id", "required"},
			},
		},
		{
			name: "unknown key in health_check",
			yaml: "providers:\n  targets:\n    - id: a\n      provider: openai\n      health_check:\n        interval: 10\n",
			want: []want{{Error, "providers.targets[0].health_check.interval", `did you mean "interval_seconds"?`}},
		},
		{
			name:   "unknown key in secret_key_ref keeps the ref",
			yaml:   "providers:\n  targets:\n    - id: a\n      provider: openai\n      secret_key_ref:\n        envv: X\n",
			want:   []want{{Error, "providers.targets[0].secret_key_ref.envv", `did you mean "env"?`}},
			absent: []string{"providers.targets[0].secret_key_ref"},
		},
		{
			name: "unknown key in failover retry",
			yaml: twoTargets + "  failover:\n    retry:\n      max_attempt: 1\n",
			want: []want{{Error, "providers.failover.retry.max_attempt", `did you mean "max_attempts"?`}},
		},
		{
			name:   "wrong type for an int",
			yaml:   "server:\n  port: abc\n" + twoTargets,
			want:   []want{{Error, "server.port", `want an integer, got a string "abc"`}},
			absent: []string{"server"},
		},
		{
			name:   "fraction for an int",
			yaml:   "providers:\n  targets:\n    - id: a\n      provider: openai\n      priority: 1.5\n",
			want:   []want{{Error, "providers.targets[0].priority", "want an integer, got a number 1.5"}},
			absent: []string{"providers.targets[0].priority[0]"},
		},
		{
			name: "wrong type for a bool",
			yaml: "providers:\n  targets:\n    - id: a\n      provider: openai\n      health_check:\n        enabled: \"yes\"\n",
			want: []want{{Error, "providers.targets[0].health_check.enabled", "want true or false, got a string"}},
		},
		{
			name: "wrong type for a list",
			yaml: twoTargets + "policies:\n  - name: p\n    type: content_filter\n    config:\n      categories: hate\n",
			want: []want{{Error, "policies[0].config.categories", "want a list, got a string"}},
			// The failed field must not also be reported as empty.
			absent: []string{"policies[0].config.categories[0]"},
		},
		{
			name: "wrong type for a section",
			yaml: "providers:\n  targets:\n    - just-a-string\n",
			want: []want{{Error, "providers.targets[0]", "want a mapping, got a string"}},
		},
		{
			name: "wrong type in model_mapping",
			yaml: twoTargets + "  failover:\n    model_mapping:\n      gpt-4.1: [a, b]\n",
			want: []want{{Error, `providers.failover.model_mapping["gpt-4.1"]`, "want a string, got a list"}},
		},
		{
			name:   "scalars are accepted as strings",
			yaml:   "version: 1\nproviders:\n  targets:\n    - id: a\n      provider: anthropic\n      forward_client_auth: true\n      anthropic_version: 2023-06-01\n    - id: b\n      provider: anthropic\n      forward_client_auth: true\n",
			absent: []string{"version", "providers.targets[0].anthropic_version"},
		},
		{
			name: "no targets",
			yaml: "version: '1'\n",
			want: []want{{Error, "providers.targets", "at least one target"}},
		},
		{
			name: "unsupported version",
			yaml: "version: '2'\n" + twoTargets,
			want: []want{{Error, "version", `unsupported version "2"`}},
		},
		{
			name: "duplicate target id",
			yaml: "providers:\n  targets:\n    - id: a\n      provider: openai\n    - id: b\n      provider: openai\n    - id: a\n      provider: anthropic\n",
			want: []want{{Error, "providers.targets[2].id", `duplicate id "a" (already used by providers.targets[0])`}},
		},
		{
			name: "invalid target id",
			yaml: "providers:\n  targets:\n    - id: Open AI\n      provider: openai\n",
			want: []want{{Error, "providers.targets[0].id", `"Open AI" is not a valid id`}},
		},
		{
			name: "unknown provider",
			yaml: "providers:\n  targets:\n    - id: a\n      provider: openai\n    - id: b\n      provider: opena\n",
			want: []want{{Error, "providers.targets[1].provider", `unknown provider "opena" (want openai, anthropic, openai_compatible, azure_openai, bedrock, gemini or vertex)`}},
		},
		{
			name: "missing provider",
			yaml: "providers:\n  targets:\n    - id: a\n",
			want: []want{{Error, "providers.targets[0].provider", "required"}},
		},
		{
			name: "bad base URLs",
			yaml: `providers:
  targets:
    - {id: a, provider: openai, base_url: "ftp://example.com"}
    - {id: b, provider: openai, base_url: "http://"}
    - {id: c, provider: openai, base_url: "http://example.com/v1?key=1"}
    - {id: d, provider: openai, base_url: "http://example.com/v1#frag"}
    - {id: e, provider: openai, base_url: "http://[::1"}
    - {id: f, provider: openai, base_url: "example.com/v1"}
    - {id: g, provider: openai, base_url: "http://127.0.0.1:9000/v1/"}
`,
			want: []want{
				{Error, "providers.targets[0].base_url", "must start with http:// or https://"},
				{Error, "providers.targets[1].base_url", "has no host"},
				{Error, "providers.targets[2].base_url", "query string"},
				{Error, "providers.targets[3].base_url", "fragment"},
				{Error, "providers.targets[4].base_url", "is not a valid URL"},
				{Error, "providers.targets[5].base_url", "must start with http:// or https://"},
			},
			absent: []string{"providers.targets[6].base_url"},
		},
		{
			name: "openai_compatible requires base_url",
			yaml: "providers:\n  targets:\n    - id: local\n      provider: openai_compatible\n",
			want: []want{{Error, "providers.targets[0].base_url", "required for openai_compatible"}},
			// No key is fine for a local server.
			absent: []string{"providers.targets[0].secret_key_ref"},
		},
		{
			name: "secret_key_ref shapes",
			yaml: `providers:
  targets:
    - {id: a, provider: openai, secret_key_ref: {env: A_KEY, file: /run/key}}
    - {id: b, provider: openai, secret_key_ref: {}}
    - {id: c, provider: openai, secret_key_ref: {env: "MY-KEY"}}
    - {id: d, provider: anthropic}
    - {id: e, provider: anthropic, forward_client_auth: true}
`,
			want: []want{
				{Error, "providers.targets[0].secret_key_ref", "not both"},
				{Error, "providers.targets[1].secret_key_ref", "set env"},
				{Error, "providers.targets[2].secret_key_ref.env", `"MY-KEY" is not a valid environment variable name`},
				{Warning, "providers.targets[3].secret_key_ref", "not set"},
			},
			absent: []string{"providers.targets[4].secret_key_ref"},
		},
		{
			name: "priorities",
			yaml: `providers:
  targets:
    - {id: a, provider: openai, forward_client_auth: true, priority: -1}
    - {id: b, provider: openai, forward_client_auth: true, priority: 0}
    - {id: c, provider: openai, forward_client_auth: true, priority: 0}
`,
			want: []want{
				{Error, "providers.targets[0].priority", "must be 0 or greater"},
				{Warning, "providers.targets[2].priority", "also used by providers.targets[1]"},
			},
		},
		{
			name: "zero and negative health thresholds",
			yaml: `providers:
  targets:
    - id: a
      provider: openai
      forward_client_auth: true
      health_check:
        interval_seconds: 0
        timeout_seconds: -1
        unhealthy_threshold: 0
        healthy_threshold: -2
    - id: b
      provider: openai
      forward_client_auth: true
      health_check: {interval_seconds: 5, timeout_seconds: 10}
`,
			want: []want{
				{Error, "providers.targets[0].health_check.interval_seconds", "must be greater than 0 (got 0)"},
				{Error, "providers.targets[0].health_check.timeout_seconds", "must be greater than 0 (got -1)"},
				{Error, "providers.targets[0].health_check.unhealthy_threshold", "must be at least 1 (got 0)"},
				{Error, "providers.targets[0].health_check.healthy_threshold", "must be at least 1 (got -2)"},
				{Warning, "providers.targets[1].health_check.timeout_seconds", "longer than interval_seconds"},
			},
		},
		{
			name: "circuit breaker bounds",
			yaml: `providers:
  targets:
    - id: a
      provider: openai
      forward_client_auth: true
      circuit_breaker: {consecutive_failures: 0, failure_ratio: 1.5, open_seconds: 0, half_open_requests: 0, min_requests: -1}
`,
			want: []want{
				{Error, "providers.targets[0].circuit_breaker.consecutive_failures", "at least 1"},
				{Error, "providers.targets[0].circuit_breaker.failure_ratio", "between 0 and 1"},
				{Error, "providers.targets[0].circuit_breaker.open_seconds", "greater than 0"},
				{Error, "providers.targets[0].circuit_breaker.half_open_requests", "at least 1"},
				{Error, "providers.targets[0].circuit_breaker.min_requests", "at least 0"},
			},
		},
		{
			name: "circuit breaker max_open_seconds",
			yaml: `providers:
  targets:
    - id: a
      provider: openai
      forward_client_auth: true
      circuit_breaker: {max_open_seconds: 0}
    - id: b
      provider: openai
      forward_client_auth: true
      circuit_breaker: {open_seconds: 60, max_open_seconds: 30}
    - id: c
      provider: openai
      forward_client_auth: true
      circuit_breaker: {open_seconds: 600}
`,
			want: []want{
				{Error, "providers.targets[0].circuit_breaker.max_open_seconds", "must be greater than 0 (got 0)"},
				{Warning, "providers.targets[1].circuit_breaker.max_open_seconds", "30s is below open_seconds (60s)"},
			},
		},
		{
			name: "headers",
			yaml: `providers:
  targets:
    - id: a
      provider: openai
      forward_client_auth: true
      headers:
        Host: example.com
        "Bad Header": x
        OpenAI-Organization: org-1
`,
			want: []want{
				{Error, `providers.targets[0].headers["Host"]`, "cannot be overridden"},
				{Error, `providers.targets[0].headers["Bad Header"]`, "not a valid header name"},
			},
			absent: []string{`providers.targets[0].headers["OpenAI-Organization"]`},
		},
		{
			name: "model names",
			yaml: twoTargets + `  failover:
    model_mapping:
      gpt-4o: "claude sonnet"
      gpt-4o-mini: ""
      "bad key": claude-3-haiku
      gpt-4.1: claude-3.5-sonnet
`,
			want: []want{
				{Error, `providers.failover.model_mapping["gpt-4o"]`, `"claude sonnet" is not a valid model name`},
				{Error, `providers.failover.model_mapping["gpt-4o-mini"]`, `"" is not a valid model name`},
				{Error, `providers.failover.model_mapping["bad key"]`, `key "bad key" is not a valid model name`},
			},
			absent: []string{`providers.failover.model_mapping["gpt-4.1"]`},
		},
		{
			name: "failover in both places",
			yaml: twoTargets + "  failover:\n    enabled: true\nfailover:\n    enabled: true\n",
			want: []want{{Error, "failover", "set failover under providers or at the top level, not both"}},
		},
		{
			name: "failover at the top level reports its own paths",
			yaml: twoTargets + "failover:\n  strategy: round_robin\n",
			want: []want{{Error, "failover.strategy", `unknown strategy "round_robin"`}},
		},
		{
			name: "weighted strategy without weights",
			yaml: strings.ReplaceAll(twoTargets, "forward_client_auth: true", "forward_client_auth: true\n      weight: 0") + "  failover:\n    strategy: weighted\n",
			want: []want{{Error, "providers.failover.strategy", "at least one target with a weight above 0"}},
		},
		{
			name: "retry bounds",
			yaml: twoTargets + "  failover:\n    retry:\n      max_attempts: -1\n      timeout_seconds: 0\n",
			want: []want{
				{Error, "providers.failover.retry.max_attempts", "must be 0 or greater"},
				{Error, "providers.failover.retry.timeout_seconds", "greater than 0"},
			},
		},
		{
			name: "same-target retry bounds",
			yaml: twoTargets + "  failover:\n    retry:\n      same_target:\n        max_retries: -1\n        backoff_ms: 60001\n        max_retry_after_seconds: -1\n",
			want: []want{
				{Error, "providers.failover.retry.same_target.max_retries", "between 0 and 10"},
				{Error, "providers.failover.retry.same_target.backoff_ms", "between 0 and 60000"},
				{Error, "providers.failover.retry.same_target.max_retry_after_seconds", "0 (never wait for Retry-After) or greater"},
			},
		},
		{
			name: "same-target retry: too many retries, top-level failover path",
			yaml: twoTargets + "failover:\n  retry:\n    same_target: {max_retries: 11}\n",
			want: []want{{Error, "failover.retry.same_target.max_retries", "between 0 and 10"}},
		},
		{
			name: "same-target retry: misspelt key",
			yaml: twoTargets + "  failover:\n    retry:\n      same_target: {max_retry: 1}\n",
			want: []want{{Error, "providers.failover.retry.same_target.max_retry", `did you mean "max_retries"?`}},
		},
		{
			name: "Retry-After wait longer than the request",
			yaml: twoTargets + "  failover:\n    request_timeout_seconds: 10\n    retry:\n      same_target: {max_retries: 1, max_retry_after_seconds: 20}\n",
			want: []want{{Warning, "providers.failover.retry.same_target.max_retry_after_seconds", "cannot be waited out within the request"}},
		},
		{
			name:   "Retry-After wait unused without retries",
			yaml:   twoTargets + "  failover:\n    request_timeout_seconds: 10\n    retry:\n      same_target: {max_retry_after_seconds: 20}\n",
			absent: []string{"providers.failover.retry.same_target.max_retry_after_seconds"},
		},
		{
			name: "on_context_length_exceeded unknown",
			yaml: twoTargets + "  failover:\n    on_context_length_exceeded: retry\n",
			want: []want{{Error, "providers.failover.on_context_length_exceeded", `unknown value "retry" (want return or failover)`}},
		},
		{
			name: "on_context_length_exceeded failover without failover",
			yaml: twoTargets + "  failover:\n    enabled: false\n    on_context_length_exceeded: failover\n",
			want: []want{{Warning, "providers.failover.on_context_length_exceeded", "failover is disabled"}},
		},
		{
			name: "more attempts than fallbacks",
			yaml: twoTargets + "  failover:\n    retry:\n      max_attempts: 3\n",
			want: []want{{Warning, "providers.failover.retry.max_attempts", "only 1 fallback target(s) exist"}},
		},
		{
			name: "failover with a single target",
			yaml: "providers:\n  targets:\n    - {id: a, provider: openai, forward_client_auth: true}\n",
			want: []want{{Warning, "providers.failover", "single target"}},
		},
		{
			name: "cross-provider fallback without model mapping",
			yaml: "providers:\n  targets:\n    - {id: a, provider: openai, forward_client_auth: true}\n    - {id: b, provider: anthropic, forward_client_auth: true}\n",
			want: []want{{Warning, "providers.failover.model_mapping", "requests will keep the requested model on b"}},
		},
		{
			name:   "no fallback means no mapping warning",
			yaml:   "providers:\n  targets:\n    - {id: a, provider: openai, forward_client_auth: true}\n    - {id: b, provider: anthropic, forward_client_auth: true}\n  failover:\n    retry: {max_attempts: 0}\n",
			absent: []string{"providers.failover.model_mapping", "providers.failover.retry.max_attempts"},
		},
		{
			name: "policies",
			yaml: twoTargets + `policies:
  - name: cf
    type: content_filter
    action: warn
    config: {categories: [hate, spam]}
  - name: cf
    type: regex
  - type: content_filter
`,
			want: []want{
				{Error, "policies[0].action", `unknown action "warn" (want flag, block or redact)`},
				{Error, "policies[0].config.categories[1]", `unknown category "spam" (want hate, violence, self_harm, sexual or harassment)`},
				{Error, "policies[1].name", `duplicate name "cf"`},
				{Error, "policies[1].type", `unknown type "regex"`},
				{Error, "policies[2].name", "required"},
				{Error, "policies[2].config.categories", "at least one category"},
			},
		},
		{
			name: "logging and server",
			yaml: "server:\n  port: 70000\n  max_request_body_bytes: 0\nlogging:\n  format: xml\n  level: verbose\n" + twoTargets,
			want: []want{
				{Error, "server.port", "out of range"},
				{Error, "server.max_request_body_bytes", "greater than 0"},
				{Error, "logging.format", `unknown format "xml"`},
				{Error, "logging.level", `unknown level "verbose"`},
			},
		},
		{
			name:   "port 0 picks a free port",
			yaml:   "server:\n  port: 0\n" + twoTargets,
			absent: []string{"server.port"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadYAML(t, tt.yaml, nil)
			for _, w := range tt.want {
				if _, ok := findProblem(ps, w.sev, w.path, w.message); !ok {
					t.Errorf("missing %s at %s containing %q; got:\n%s", w.sev, w.path, w.message, joinProblems(ps))
				}
			}
			for _, a := range tt.absent {
				for _, p := range ps {
					if p.Path == a {
						t.Errorf("unexpected problem: %s", p)
					}
				}
			}
			if len(tt.want) == 0 && len(tt.absent) == 0 {
				t.Fatal("test case asserts nothing")
			}
		})
	}
}

func joinProblems(ps Problems) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

func TestLoadDefaults(t *testing.T) {
	yaml := `providers:
  targets:
    - id: a
      provider: openai
      forward_client_auth: true
      priority: 0
      base_url: http://127.0.0.1:9000/v1/
      health_check: {enabled: false}
    - id: b
      provider: openai_compatible
      base_url: http://localhost:8000/v1
  failover:
    retry:
      max_attempts: 0
      timeout_seconds: 10
logging:
  level: DEBUG
`
	f, ps := loadYAML(t, yaml, nil)
	requireNoProblems(t, ps.Errors())
	a, b := f.Providers.Targets[0], f.Providers.Targets[1]
	if a.Priority != 0 {
		t.Errorf("explicit priority 0 became %d", a.Priority)
	}
	if b.Priority != 2 {
		t.Errorf("default priority of the second target = %d, want 2", b.Priority)
	}
	if a.BaseURL != "http://127.0.0.1:9000/v1" {
		t.Errorf("base_url = %q, want the trailing slash trimmed", a.BaseURL)
	}
	if a.HealthCheck.IsEnabled() {
		t.Error("health_check.enabled: false was not kept")
	}
	if a.HealthCheck.IntervalSeconds != DefaultHealthIntervalSeconds {
		t.Errorf("disabled health check lost its defaults: %+v", a.HealthCheck)
	}
	fo := f.Providers.Failover
	if fo.Retry.MaxAttempts == nil || *fo.Retry.MaxAttempts != 0 {
		t.Errorf("explicit max_attempts 0 not kept: %v", fo.Retry.MaxAttempts)
	}
	if fo.RequestTimeoutSeconds != 10 {
		t.Errorf("request_timeout_seconds = %v, want 10 × (1+0)", fo.RequestTimeoutSeconds)
	}
	if f.Logging.Level != "debug" {
		t.Errorf("logging.level = %q, want debug", f.Logging.Level)
	}
}

func TestRetryAndContextLengthSettings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want SameTargetRetry
		ctx  string
	}{
		{name: "defaults keep today's behaviour", yaml: twoTargets,
			want: SameTargetRetry{MaxRetries: 0, BackoffMS: DefaultSameTargetBackoffMS, MaxRetryAfterSeconds: DefaultMaxRetryAfterSeconds}, ctx: "return"},
		{name: "set in the file", yaml: twoTargets + "  failover:\n    on_context_length_exceeded: failover\n    retry:\n      same_target:\n        max_retries: 2\n        backoff_ms: 100\n        max_retry_after_seconds: 2.5\n",
			want: SameTargetRetry{MaxRetries: 2, BackoffMS: 100, MaxRetryAfterSeconds: 2.5}, ctx: "failover"},
		{name: "explicit zeros kept", yaml: twoTargets + "  failover:\n    retry:\n      same_target: {max_retries: 0, backoff_ms: 0, max_retry_after_seconds: 0}\n",
			want: SameTargetRetry{}, ctx: "return"},
		{name: "top-level failover section", yaml: twoTargets + "failover:\n  on_context_length_exceeded: failover\n  retry:\n    same_target: {max_retries: 1}\n",
			want: SameTargetRetry{MaxRetries: 1, BackoffMS: DefaultSameTargetBackoffMS, MaxRetryAfterSeconds: DefaultMaxRetryAfterSeconds}, ctx: "failover"},
		{name: "environment overrides", yaml: twoTargets,
			env:  []string{"KT_PROVIDERS__FAILOVER__RETRY__SAME_TARGET__MAX_RETRIES=3", "KT_PROVIDERS__FAILOVER__ON_CONTEXT_LENGTH_EXCEEDED=failover"},
			want: SameTargetRetry{MaxRetries: 3, BackoffMS: DefaultSameTargetBackoffMS, MaxRetryAfterSeconds: DefaultMaxRetryAfterSeconds}, ctx: "failover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ps := loadYAML(t, tt.yaml, tt.env)
			requireNoProblems(t, ps.Errors())
			fo := f.Providers.Failover
			if fo.Retry.SameTarget != tt.want || fo.OnContextLengthExceeded != tt.ctx {
				t.Errorf("same_target %+v on_context_length_exceeded %q; want %+v %q", fo.Retry.SameTarget, fo.OnContextLengthExceeded, tt.want, tt.ctx)
			}
		})
	}
}

func TestScalarsAsStrings(t *testing.T) {
	// Unquoted YAML numbers and dates are what users write for these.
	yaml := "version: 1\nproviders:\n  targets:\n    - id: a\n      provider: anthropic\n      forward_client_auth: true\n      anthropic_version: 2023-06-01\n      headers: {X-Retry-Count: 3}\n"
	f, ps := loadYAML(t, yaml, nil)
	requireNoProblems(t, ps.Errors())
	tg := f.Providers.Targets[0]
	if f.Version != "1" || tg.AnthropicVersion != "2023-06-01" || tg.Headers["X-Retry-Count"] != "3" {
		t.Errorf("version %q anthropic_version %q header %q", f.Version, tg.AnthropicVersion, tg.Headers["X-Retry-Count"])
	}
}

func TestFailoverTopLevel(t *testing.T) {
	yaml := twoTargets + `failover:
  enabled: true
  model_mapping:
    gpt-4o: gpt-4o-2024-08-06
  retry:
    max_attempts: 1
    timeout_seconds: 20
`
	f, ps := loadYAML(t, yaml, nil)
	requireNoProblems(t, ps)
	fo := f.Providers.Failover
	if fo.Retry.TimeoutSeconds != 20 || fo.ModelMapping["gpt-4o"] != "gpt-4o-2024-08-06" {
		t.Errorf("top-level failover not moved under providers: %+v", fo)
	}
}

func TestModelNamesWithDots(t *testing.T) {
	yaml := twoTargets + `  failover:
    model_mapping:
      gpt-4.1: claude-3.5-sonnet-20241022
      gpt-4.1-mini: claude-3.5-haiku
      meta-llama/llama-3.1-8b-instruct: "llama3.1:8b"
`
	f, ps := loadYAML(t, yaml, []string{"KT_PROVIDERS__FAILOVER__MODEL_MAPPING__O1.PREVIEW=o1.2"})
	requireNoProblems(t, ps)
	want := map[string]string{
		"gpt-4.1":                          "claude-3.5-sonnet-20241022",
		"gpt-4.1-mini":                     "claude-3.5-haiku",
		"meta-llama/llama-3.1-8b-instruct": "llama3.1:8b",
		"o1.preview":                       "o1.2",
	}
	got := f.Providers.Failover.ModelMapping
	if len(got) != len(want) {
		t.Errorf("model_mapping = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("model_mapping[%q] = %q, want %q", k, got[k], v)
		}
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `providers:
  targets:
    - {id: openai-primary, provider: openai, secret_key_ref: {env: OPENAI_API_KEY}}
    - {id: anthropic-fallback, provider: anthropic, secret_key_ref: {env: ANTHROPIC_API_KEY}}
    - {id: mounted, provider: openai, secret_key_ref: {file: ` + keyFile + `}}
    - {id: local, provider: openai_compatible, base_url: "http://127.0.0.1:8000/v1"}
    - {id: gone, provider: openai, secret_key_ref: {file: ` + filepath.Join(dir, "missing") + `}}
  failover:
    model_mapping: {gpt-4o: claude-sonnet-4-20250514}
`
	environ := []string{"OPENAI_API_KEY=sk-openai", "EMPTY_KEY="}

	t.Run("unset variable is a warning naming it", func(t *testing.T) {
		_, ps := loadYAML(t, yaml, environ)
		if _, ok := findProblem(ps, Warning, "providers.targets[1].secret_key_ref.env", "ANTHROPIC_API_KEY is not set"); !ok {
			t.Errorf("no warning for the unset variable; got:\n%s", joinProblems(ps))
		}
		if _, ok := findProblem(ps, Warning, "providers.targets[4].secret_key_ref.file", "cannot read"); !ok {
			t.Errorf("no warning for the missing key file; got:\n%s", joinProblems(ps))
		}
		requireNoProblems(t, ps.Errors())
	})
	t.Run("nil environ skips the checks", func(t *testing.T) {
		_, ps := loadYAML(t, yaml, nil)
		requireNoProblems(t, ps)
	})

	f, _ := loadYAML(t, yaml, environ)
	tests := []struct {
		name    string
		index   int
		environ []string
		want    string
		wantErr string
	}{
		{"from env", 0, environ, "sk-openai", ""},
		{"unset env", 1, environ, "", "ANTHROPIC_API_KEY is not set"},
		{"empty env", 1, []string{"ANTHROPIC_API_KEY="}, "", "ANTHROPIC_API_KEY is empty"},
		{"nil environ", 0, nil, "", "OPENAI_API_KEY is not set"},
		{"from file, trimmed", 2, nil, "sk-from-file", ""},
		{"no secret_key_ref", 3, environ, "", ""},
		{"missing file", 4, nil, "", "missing"},
		{"index out of range", 9, environ, "", "no target at index 9"},
		{"negative index", -1, environ, "", "no target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.ResolveSecret(tt.index, tt.environ)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ResolveSecret = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ResolveSecret error = %v, want one containing %q", err, tt.wantErr)
			}
			if got != "" {
				t.Errorf("ResolveSecret returned %q with an error", got)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	base := `providers:
  targets:
    - {id: a, provider: openai, forward_client_auth: true}
    - {id: b, provider: anthropic, forward_client_auth: true}
  failover:
    model_mapping: {gpt-4o: claude-sonnet-4-20250514}
policies:
  - {name: p, type: content_filter, config: {categories: [hate]}}
`
	tests := []struct {
		name    string
		yaml    string
		environ []string
		check   func(t *testing.T, f *File)
		problem *Problem
	}{
		{
			name:    "server port",
			environ: []string{"KT_SERVER__PORT=8080"},
			check: func(t *testing.T, f *File) {
				if f.Server.Port != 8080 {
					t.Errorf("port = %d, want 8080", f.Server.Port)
				}
			},
		},
		{
			name:    "case-insensitive",
			environ: []string{"kt_server__host=0.0.0.0"},
			check: func(t *testing.T, f *File) {
				if f.Server.Host != "0.0.0.0" {
					t.Errorf("host = %q, want 0.0.0.0", f.Server.Host)
				}
			},
		},
		{
			name:    "nested failover setting",
			environ: []string{"KT_PROVIDERS__FAILOVER__RETRY__MAX_ATTEMPTS=0", "KT_LOGGING__FORMAT=json"},
			check: func(t *testing.T, f *File) {
				if n := f.Providers.Failover.Retry.MaxAttempts; n == nil || *n != 0 {
					t.Errorf("max_attempts = %v, want 0", n)
				}
				if f.Logging.Format != "json" {
					t.Errorf("logging.format = %q", f.Logging.Format)
				}
				if len(f.Providers.Failover.ModelMapping) != 1 {
					t.Errorf("override replaced the failover section: %+v", f.Providers.Failover)
				}
			},
		},
		{
			name:    "top-level failover variable follows the file",
			environ: []string{"KT_FAILOVER__RETRY__TIMEOUT_SECONDS=12.5"},
			check: func(t *testing.T, f *File) {
				if got := f.Providers.Failover.Retry.TimeoutSeconds; got != 12.5 {
					t.Errorf("timeout = %v, want 12.5", got)
				}
			},
		},
		{
			name:    "list element",
			environ: []string{"KT_PROVIDERS__TARGETS__1__BASE_URL=http://127.0.0.1:9999", "KT_PROVIDERS__TARGETS__0__HEALTH_CHECK__ENABLED=false"},
			check: func(t *testing.T, f *File) {
				if len(f.Providers.Targets) != 2 {
					t.Fatalf("targets = %d, want 2", len(f.Providers.Targets))
				}
				if got := f.Providers.Targets[1].BaseURL; got != "http://127.0.0.1:9999" {
					t.Errorf("base_url = %q", got)
				}
				if f.Providers.Targets[1].ID != "b" || f.Providers.Targets[0].HealthCheck.IsEnabled() {
					t.Errorf("targets = %+v", f.Providers.Targets)
				}
			},
		},
		{
			name:    "string list",
			environ: []string{"KT_POLICIES__0__CONFIG__CATEGORIES=hate, sexual"},
			check: func(t *testing.T, f *File) {
				if got := strings.Join(f.Policies[0].Config.Categories, ","); got != "hate,sexual" {
					t.Errorf("categories = %q", got)
				}
			},
		},
		{
			name:    "unrelated variables are ignored",
			environ: []string{"HOME=/root", "KTX=1"},
			check:   func(t *testing.T, f *File) {},
		},
		{
			name:    "bad value",
			environ: []string{"KT_SERVER__PORT=abc"},
			problem: &Problem{Path: "KT_SERVER__PORT", Message: "not an integer (for server.port)"},
		},
		{
			name:    "misspelt setting",
			environ: []string{"KT_SERVER__PROT=1"},
			problem: &Problem{Path: "KT_SERVER__PROT", Message: "unknown setting server.prot (did you mean KT_SERVER__PORT?)"},
		},
		{
			name:    "single underscore",
			environ: []string{"KT_SERVER_PORT=1"},
			problem: &Problem{Path: "KT_SERVER_PORT", Message: "did you mean KT_SERVER__PORT?"},
		},
		{
			name:    "unknown nested key",
			environ: []string{"KT_PROVIDERS__TARGETS__0__IDD=x"},
			problem: &Problem{Path: "KT_PROVIDERS__TARGETS__0__IDD", Message: "unknown setting providers.targets[0].idd"},
		},
		{
			name:    "index out of range",
			environ: []string{"KT_PROVIDERS__TARGETS__5__ID=x"},
			problem: &Problem{Path: "KT_PROVIDERS__TARGETS__5__ID", Message: "providers.targets has no element 5"},
		},
		{
			name:    "a whole section",
			environ: []string{"KT_SERVER=x"},
			problem: &Problem{Path: "KT_SERVER", Message: "server is a section"},
		},
		{
			name:    "foreign KT_ variable",
			environ: []string{"KT_GATEWAY_TOKEN_FILE=/x"},
			problem: &Problem{Path: "KT_GATEWAY_TOKEN_FILE", Message: "not a configuration setting", Severity: Warning},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := tt.yaml
			if yaml == "" {
				yaml = base
			}
			f, ps := loadYAML(t, yaml, tt.environ)
			if tt.problem != nil {
				if _, ok := findProblem(ps, tt.problem.Severity, tt.problem.Path, tt.problem.Message); !ok {
					t.Errorf("missing %s; got:\n%s", tt.problem, joinProblems(ps))
				}
				return
			}
			requireNoProblems(t, withoutBindWarning(ps))
			tt.check(t, f)
		})
	}
}

func TestFlagOverrides(t *testing.T) {
	newFlags := func(t *testing.T, args ...string) *pflag.FlagSet {
		t.Helper()
		fs := pflag.NewFlagSet("kt", pflag.ContinueOnError)
		fs.Int("port", DefaultPort, "")
		fs.String("host", DefaultHost, "")
		fs.String("log-level", "info", "")
		fs.String("log-format", "text", "")
		fs.String("policy-config", DefaultConfigFile, "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	yaml := "server:\n  port: 5000\n  host: 10.0.0.1\n" + twoTargets
	env := []string{"KT_SERVER__PORT=6000", "KT_LOGGING__LEVEL=warn"}

	tests := []struct {
		name      string
		args      []string
		wantPort  int
		wantHost  string
		wantLevel string
	}{
		{"flags win over env and file", []string{"--port", "7000", "--log-level", "debug", "--host", "0.0.0.0"}, 7000, "0.0.0.0", "debug"},
		{"unchanged flags do not override", nil, 6000, "10.0.0.1", "warn"},
		{"unrelated flags are ignored", []string{"--policy-config", "x.yaml"}, 6000, "10.0.0.1", "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ps, err := Load(LoadOptions{Data: []byte(yaml), Environ: env, Flags: newFlags(t, tt.args...)})
			if err != nil {
				t.Fatal(err)
			}
			requireNoProblems(t, withoutBindWarning(ps))
			if f.Server.Port != tt.wantPort || f.Server.Host != tt.wantHost || f.Logging.Level != tt.wantLevel {
				t.Errorf("got %s:%d level %s, want %s:%d level %s", f.Server.Host, f.Server.Port, f.Logging.Level, tt.wantHost, tt.wantPort, tt.wantLevel)
			}
		})
	}

	t.Run("bad flag value", func(t *testing.T) {
		fs := pflag.NewFlagSet("kt", pflag.ContinueOnError)
		fs.String("port", "", "")
		if err := fs.Parse([]string{"--port", "http"}); err != nil {
			t.Fatal(err)
		}
		_, ps, err := Load(LoadOptions{Data: []byte(twoTargets), Flags: fs})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := findProblem(ps, Error, "--port", "not an integer"); !ok {
			t.Errorf("no problem for --port; got:\n%s", joinProblems(ps))
		}
	})
}

func TestProblems(t *testing.T) {
	ps := Problems{
		{Path: "providers.targets[1].provider", Message: `unknown provider "opena" (want openai, anthropic or openai_compatible)`},
		{Path: "providers.targets[0].secret_key_ref.env", Message: "OPENAI_API_KEY is not set", Severity: Warning},
		{Path: "version", Message: `unsupported version "2" (want "1")`},
		{Message: "whole-file problem", Severity: Warning},
	}
	if got, want := ps[0].String(), `error: providers.targets[1].provider: unknown provider "opena" (want openai, anthropic or openai_compatible)`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := ps[3].String(), "warning: whole-file problem"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if len(ps.Errors()) != 2 || len(ps.Warnings()) != 2 {
		t.Errorf("Errors/Warnings split = %d/%d, want 2/2", len(ps.Errors()), len(ps.Warnings()))
	}
	err := ps.Err()
	if err == nil {
		t.Fatal("Err() = nil with errors present")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`providers.targets[1].provider: unknown provider "opena" (want openai, anthropic or openai_compatible)`,
		`version: unsupported version "2" (want "1")`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Err() lines = %q, want %q", lines, want)
	}
	if ps.Warnings().Err() != nil {
		t.Error("Err() != nil with only warnings")
	}
	if Problems(nil).Err() != nil {
		t.Error("Err() != nil for no problems")
	}
}
