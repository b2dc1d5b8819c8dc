package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
)

// TestReloadRebuildsTargetOnKindField: a reload that changes a target's
// kind-specific field builds the target anew (its adapter is built from
// them), and one that changes nothing of the target keeps its connection.
func TestReloadRebuildsTargetOnKindField(t *testing.T) {
	const base = "version: '1'\nproviders:\n  targets:\n    - id: a\n      provider: anthropic\n      base_url: http://127.0.0.1:1\n      forward_client_auth: true\n      health_check: {enabled: false}\n%s" +
		"events: {enabled: false}\n"
	load := func(t *testing.T, extra string) *config.File {
		t.Helper()
		f, ps, err := config.Load(config.LoadOptions{Data: []byte(fmt.Sprintf(base, extra))})
		if err != nil || ps.Err() != nil {
			t.Fatalf("config: %v %v", err, ps)
		}
		return f
	}
	gw, err := New(load(t, ""), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close(context.Background()) })
	prev := gw.rt.Load()
	tests := []struct {
		name    string
		extra   string
		rebuilt bool
	}{
		{"unchanged", "", false},
		{"priority only", "      priority: 7\n", false},
		{"anthropic_version", "      anthropic_version: '2024-01-01'\n", true},
		{"default_max_tokens", "      default_max_tokens: 100\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := buildRuntime(load(t, tt.extra), nil, prev, gw.logger, gw.tel, gw.obs)
			if err != nil {
				t.Fatal(err)
			}
			if rebuilt := rt.conns["a"] != prev.conns["a"]; rebuilt != tt.rebuilt {
				t.Fatalf("rebuilt = %t, want %t", rebuilt, tt.rebuilt)
			}
		})
	}
}

// TestAdapterForUnknownKind: the gateway builds no adapter for a kind the
// table does not list, rather than guessing one.
func TestAdapterForUnknownKind(t *testing.T) {
	_, err := adapterFor(config.Target{ID: "x", Provider: "bogus"}, "", nil)
	if err == nil || !strings.Contains(err.Error(), `unknown provider "bogus"`) {
		t.Fatalf("adapterFor(bogus) err = %v", err)
	}
}
