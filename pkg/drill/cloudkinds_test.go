package drill

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCloudKindDrills: a drill whose targets are of the cloud kinds starts
// each target's own simulator (Azure's deployment URLs, Bedrock's Converse,
// Gemini's and Vertex AI's generateContent) and fails over from the
// primary to the fallback while the primary is down.
func TestCloudKindDrills(t *testing.T) {
	tests := []struct {
		file, primary, fallback string
	}{
		{"azure-openai.yaml", "azure-primary", "openai-fallback"},
		{"bedrock-anthropic.yaml", "bedrock-primary", "anthropic-fallback"},
		{"gemini-vertex.yaml", "gemini-primary", "vertex-fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), Options{
				Data: cfg, File: tt.file, Scenario: PrimaryDown, RPS: 20, Duration: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Sent == 0 || rep.Succeeded != rep.Sent {
				t.Errorf("%d of %d requests succeeded: %v %v", rep.Succeeded, rep.Sent, rep.Errors, rep.ErrorSamples)
			}
			if rep.AnsweredBy[tt.primary] == 0 || rep.AnsweredBy[tt.fallback] == 0 {
				t.Errorf("answered by %v, want both %s (before the fault) and %s (during it)", rep.AnsweredBy, tt.primary, tt.fallback)
			}
		})
	}
}
