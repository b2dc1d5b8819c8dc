package anthropic

import "testing"

func TestRefusesPrefill(t *testing.T) {
	for model, want := range map[string]bool{
		"claude-sonnet-4-20250514":     false,
		"claude-3-5-sonnet-20241022":   false,
		"claude-opus-4-5":              false,
		"claude-opus-4-6":              true,
		"claude-sonnet-4-6":            true,
		"anthropic.claude-opus-4-6-v1": true,
		"claude-opus-4-7":              true,
		"claude-sonnet-5":              true,
		"claude-haiku-4-5-20251001":    false,
		"claude-opus-4-1-20250805":     false,
		"gpt-4o":                       false,
		"claude-":                      false,
	} {
		if got := refusesPrefill(model); got != want {
			t.Errorf("refusesPrefill(%q) = %t, want %t", model, got, want)
		}
	}
}

func FuzzRefusesPrefill(f *testing.F) {
	f.Add("claude-opus-4-6")
	f.Add("claude-3-5-sonnet-20241022")
	f.Fuzz(func(t *testing.T, model string) { _ = refusesPrefill(model) })
}
