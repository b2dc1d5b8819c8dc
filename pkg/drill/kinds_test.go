package drill

import (
	"context"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// TestSimKind: every kind in the table names a simulator the drill can
// start, and a kind the table does not know is an error instead of the
// OpenAI simulator (which would drill the wrong wire format).
func TestSimKind(t *testing.T) {
	for _, k := range kinds.All() {
		t.Run(k.Name, func(t *testing.T) {
			got, err := simKind(k.Name)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != k.Sim {
				t.Fatalf("simKind(%q) = %q, want the kind's Sim %q", k.Name, got, k.Sim)
			}
		})
	}
	for _, name := range []string{"", "azure-openai", "bogus"} {
		t.Run("unknown "+name, func(t *testing.T) {
			got, err := simKind(name)
			if err == nil {
				t.Fatalf("simKind(%q) = %q, want an error", name, got)
			}
			if !strings.Contains(err.Error(), "unknown provider") {
				t.Fatalf("error %q does not say the provider is unknown", err)
			}
		})
	}
}

// TestRunRefusesUnknownKind: a drill of a configuration naming a kind
// nobody knows stops before starting anything, naming the field.
func TestRunRefusesUnknownKind(t *testing.T) {
	cfg := []byte("version: '1'\nproviders:\n  targets:\n    - id: a\n      provider: bogus\n      secret_key_ref: {env: A_KEY}\n")
	_, err := Run(context.Background(), Options{Data: cfg, File: "drill.yaml", Scenario: PrimaryDown, RPS: 1, Duration: 1})
	if err == nil || !strings.Contains(err.Error(), "providers.targets[0].provider") {
		t.Fatalf("Run err = %v, want the unknown provider reported with its path", err)
	}
}
