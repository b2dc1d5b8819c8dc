package telemetry

import (
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// TestProviderNameFromKindTable: spans name every kind's requests by the
// kind table's GenAIName (an OpenAI-compatible server speaks "openai").
func TestProviderNameFromKindTable(t *testing.T) {
	for _, k := range kinds.All() {
		t.Run(k.Name, func(t *testing.T) {
			if got := providerName(k.Name); got != k.GenAIName {
				t.Fatalf("providerName(%q) = %q, want %q", k.Name, got, k.GenAIName)
			}
		})
	}
	if got := providerName("openai_compatible"); got != "openai" {
		t.Fatalf("providerName(openai_compatible) = %q, want openai", got)
	}
}
