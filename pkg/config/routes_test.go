package config

import "testing"

func TestRouteFailoverOverlay(t *testing.T) {
	f, ps := loadYAML(t, `
providers:
  targets:
    - {id: a, provider: openai_compatible, base_url: "http://127.0.0.1:1/v1"}
    - {id: b, provider: openai_compatible, base_url: "http://127.0.0.1:2/v1"}
  failover:
    retry: {max_attempts: 1, timeout_seconds: 10}
    first_token_timeout_seconds: 4
routes:
  - model: x
    targets: [{target: a}, {target: b}]
    failover:
      retry: {max_attempts: 0}
      drop_unsupported_params: always
  - model: y
    targets: [{target: a}]
`, []string{})
	if errs := ps.Errors(); len(errs) > 0 {
		t.Fatalf("problems: %v", errs)
	}
	g := f.Providers.Failover
	x, y := f.Routes[0].Failover, f.Routes[1].Failover
	tests := []struct {
		name      string
		got, want any
	}{
		{"x overrides max_attempts", *x.Retry.MaxAttempts, 0},
		{"x keeps the global attempt timeout", x.Retry.TimeoutSeconds, 10.0},
		{"x keeps the global first token timeout", x.FirstTokenTimeoutSeconds, 4.0},
		{"x request timeout derived from its own retry", x.RequestTimeoutSeconds, 10.0},
		{"x drops always", x.DropParams(), DropParamsAlways},
		{"global max_attempts untouched", *g.Retry.MaxAttempts, 1},
		{"global drop default", g.DropParams(), DropParamsOnFailover},
		{"y inherits max_attempts", *y.Retry.MaxAttempts, 1},
		{"y inherits request timeout", y.RequestTimeoutSeconds, 20.0},
		{"y fans out by default", y.FanOutEnabled(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if x.Retry.MaxAttempts == g.Retry.MaxAttempts {
		t.Error("route and global share a max_attempts pointer")
	}
}

func TestRouteIsAlias(t *testing.T) {
	tests := []struct {
		r    Route
		want bool
	}{
		{Route{Model: "smart", Targets: []RouteTarget{{Target: "a", Model: "gpt-4o"}}}, true},
		{Route{Model: "smart", Targets: []RouteTarget{{Target: "a", Model: "gpt-4o"}, {Target: "b"}}}, false},
		{Route{Model: "gpt-4o", Targets: []RouteTarget{{Target: "a", Model: "gpt-4o"}}}, false},
		{Route{Model: "gpt-*", Targets: []RouteTarget{{Target: "a", Model: "gpt-4o"}}}, false},
		{Route{Model: "smart"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.r.Model, func(t *testing.T) {
			if got := tt.r.IsAlias(); got != tt.want {
				t.Errorf("IsAlias = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEmbeddingModelChange: a route or a model mapping that would fail an
// embedding model over to another model is refused unless allowed.
func TestEmbeddingModelChange(t *testing.T) {
	const head = `
providers:
  targets:
    - {id: a, provider: openai_compatible, base_url: "http://127.0.0.1:1/v1"}
    - {id: b, provider: openai_compatible, base_url: "http://127.0.0.1:2/v1"}
`
	tests := []struct {
		name string
		yaml string
		path string // "" = clean
	}{
		{"same model on both targets", `routes:
  - model: text-embedding-3-small
    targets: [{target: a}, {target: b}]
`, ""},
		{"route maps to another embedding model", `routes:
  - model: text-embedding-3-small
    targets: [{target: a}, {target: b, model: nomic-embed-text}]
`, "routes[0].targets[1].model"},
		{"route allows it", `routes:
  - model: text-embedding-3-small
    allow_model_change: true
    targets: [{target: a}, {target: b, model: nomic-embed-text}]
`, ""},
		{"chat route may map", `routes:
  - model: smart
    targets: [{target: a, model: gpt-4o}, {target: b, model: claude-sonnet-4-20250514}]
`, ""},
		{"model mapping of an embedding model", `  failover:
    model_mapping: {text-embedding-3-small: text-embedding-3-large}
`, `providers.failover.model_mapping["text-embedding-3-small"]`},
		{"model mapping allowed", `  failover:
    allow_model_change: true
    model_mapping: {text-embedding-3-small: text-embedding-3-large}
`, ""},
		{"allow_model_change inside a route's failover", `routes:
  - model: x
    targets: [{target: a}]
    failover: {allow_model_change: true}
`, "routes[0].failover.allow_model_change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadYAML(t, head+tt.yaml, nil)
			errs := ps.Errors()
			if tt.path == "" {
				if len(errs) > 0 {
					t.Fatalf("problems: %v", errs)
				}
				return
			}
			if _, ok := findProblem(ps, Error, tt.path, ""); !ok {
				t.Fatalf("no error at %s; problems: %v", tt.path, ps)
			}
		})
	}
}
