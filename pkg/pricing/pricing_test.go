package pricing

import (
	"math"
	"testing"
)

func TestCost(t *testing.T) {
	million := Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}
	tests := []struct {
		name      string
		model     string
		usage     Usage
		wantUSD   float64
		wantKnown bool
	}{
		{"exact gpt-4o", "gpt-4o", million, 2.50 + 10.00, true},
		{"exact gpt-4o-mini", "gpt-4o-mini", million, 0.15 + 0.60, true},
		{"openai dated snapshot", "gpt-4o-mini-2024-07-18", million, 0.15 + 0.60, true},
		{"gpt-4o snapshot is not mini", "gpt-4o-2024-08-06", million, 2.50 + 10.00, true},
		{"gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", million, 0.10 + 0.40, true},
		{"o3", "o3", million, 2.00 + 8.00, true},
		{"o4-mini snapshot", "o4-mini-2025-04-16", million, 1.10 + 4.40, true},
		{"anthropic exact dated", "claude-sonnet-4-20250514", million, 3.00 + 15.00, true},
		{"anthropic sonnet 4.5 snapshot", "claude-sonnet-4-5-20250929", million, 3.00 + 15.00, true},
		{"anthropic 3.7 snapshot", "claude-3-7-sonnet-20250219", million, 3.00 + 15.00, true},
		{"opus 4", "claude-opus-4-20250514", million, 15 + 75, true},
		{"haiku 3.5", "claude-3-5-haiku-20241022", million, 0.80 + 4.00, true},
		{"haiku 4.5", "claude-haiku-4-5-20251001", million, 1.00 + 5.00, true},
		{"case-insensitive", "GPT-4o-Mini", million, 0.15 + 0.60, true},
		{"bedrock claude", "anthropic.claude-3-5-haiku-20241022-v1:0", million, 0.80 + 4.00, true},
		{"bedrock us inference profile", "us.anthropic.claude-sonnet-4-20250514-v1:0", million, 3.00 + 15.00, true},
		{"bedrock eu inference profile", "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", million, 3.00 + 15.00, true},
		{"bedrock global profile, sonnet 4.5", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", million, 3.00 + 15.00, true},
		{"bedrock apac profile, opus 4.1", "apac.anthropic.claude-opus-4-1-20250805-v1:0", million, 15 + 75, true},
		{"bedrock version without minor", "anthropic.claude-haiku-4-5-20251001-v1", million, 1.00 + 5.00, true},
		{"bedrock profile arn", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0", million, 3.00 + 15.00, true},
		{"bedrock newer opus is not priced as opus 4", "anthropic.claude-opus-4-5-20251101-v1:0", million, 0, false},
		{"bedrock other vendors stay unknown", "us.meta.llama3-3-70b-instruct-v1:0", million, 0, false},
		{"bedrock prefix alone", "us.anthropic.", million, 0, false},
		{"gemini 2.5 flash", "gemini-2.5-flash", million, 0.30 + 2.50, true},
		{"gemini 2.5 pro", "gemini-2.5-pro", million, 1.25 + 10.00, true},
		{"vertex versioned flash lite", "gemini-2.0-flash-lite-001", million, 0.075 + 0.30, true},
		{"unpriced gemini sibling", "gemini-2.5-flash-image", million, 0, false},
		{"unknown model", "llama-3-70b", million, 0, false},
		{"unknown sibling is not priced as its prefix", "gpt-4o-nano", million, 0, false},
		{"newer opus is not priced as opus 4", "claude-opus-4-5", million, 0, false},
		{"non-date suffix is not stripped", "gpt-4o-12345678x", million, 0, false},
		{"empty model", "", million, 0, false},
		{"zero usage", "gpt-4o", Usage{}, 0, true},
		{
			"openai cached input charged at cache rate",
			"gpt-4o",
			Usage{InputTokens: 1_000_000, CacheReadTokens: 400_000},
			0.6*2.50 + 0.4*1.25, true,
		},
		{
			"anthropic cache read and write",
			"claude-sonnet-4-20250514",
			Usage{InputTokens: 1_000_000, CacheReadTokens: 500_000, CacheCreationTokens: 250_000, OutputTokens: 100_000},
			0.25*3.00 + 0.5*0.30 + 0.25*3.75 + 0.1*15.00, true,
		},
		{
			"cache write without a published price charged at input",
			"gpt-4o-mini",
			Usage{InputTokens: 1_000_000, CacheCreationTokens: 1_000_000},
			0.15, true,
		},
		{
			"inconsistent cache counts clamp to zero plain input",
			"gpt-4o",
			Usage{InputTokens: 10, CacheReadTokens: 1_000_000},
			1.25, true,
		},
		{"small request", "gpt-4o-mini", Usage{InputTokens: 12, OutputTokens: 34}, (12*0.15 + 34*0.60) / 1e6, true},
	}
	table := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := table.Cost(tt.model, tt.usage)
			if known != tt.wantKnown {
				t.Fatalf("Cost(%q) known = %v, want %v", tt.model, known, tt.wantKnown)
			}
			if !approx(got, tt.wantUSD) {
				t.Errorf("Cost(%q, %+v) = %.9f, want %.9f", tt.model, tt.usage, got, tt.wantUSD)
			}
		})
	}
}

func TestWith(t *testing.T) {
	base := Default()
	over := base.With(map[string]Price{
		"gpt-4o":         {InputPerMTok: 1, OutputPerMTok: 2},
		"My-Local-Model": {InputPerMTok: 0.5, OutputPerMTok: 0.5},
	})
	u := Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}

	tests := []struct {
		name      string
		table     *Table
		model     string
		wantUSD   float64
		wantKnown bool
	}{
		{"override replaces shipped price", over, "gpt-4o", 3, true},
		{"override applies to snapshots", over, "gpt-4o-2024-11-20", 3, true},
		{"override adds a model, case-insensitive", over, "my-local-model", 1, true},
		{"untouched model keeps shipped price", over, "gpt-4o-mini", 0.75, true},
		{"base table unchanged", base, "gpt-4o", 12.5, true},
		{"base table does not gain the new model", base, "my-local-model", 0, false},
		{"nil table prices nothing", nil, "gpt-4o", 0, false},
		{"empty table With adds", NewTable(nil).With(map[string]Price{"x": {InputPerMTok: 1}}), "x", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := tt.table.Cost(tt.model, u)
			if known != tt.wantKnown || !approx(got, tt.wantUSD) {
				t.Errorf("Cost(%q) = %v, %v; want %v, %v", tt.model, got, known, tt.wantUSD, tt.wantKnown)
			}
		})
	}
}

func TestStripSnapshot(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"gpt-4o-2024-08-06", "gpt-4o", true},
		{"claude-3-5-haiku-20241022", "claude-3-5-haiku", true},
		{"gpt-4o", "", false},
		{"2024-08-06", "", false},
		{"-2024-08-06", "", false},
		{"x-2024-0806", "", false},
		{"x-2024a08-06", "", false},
		{"x20241022", "", false},
		{"x-2024102", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := stripSnapshot(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("stripSnapshot(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzCost(f *testing.F) {
	for _, s := range []string{"gpt-4o", "gpt-4o-mini-2024-07-18", "claude-sonnet-4-5-20250929", "-20250101", "x--2024-01-01", ""} {
		f.Add(s, int64(100), int64(20), int64(10), int64(5))
	}
	table := Default()
	f.Fuzz(func(t *testing.T, model string, in, out, read, write int64) {
		if in < 0 || out < 0 || read < 0 || write < 0 || in > 1<<40 || out > 1<<40 || read > 1<<40 || write > 1<<40 {
			t.Skip()
		}
		usd, known := table.Cost(model, Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: read, CacheCreationTokens: write})
		if usd < 0 || math.IsNaN(usd) || math.IsInf(usd, 0) {
			t.Fatalf("Cost(%q) = %v", model, usd)
		}
		if !known && usd != 0 {
			t.Fatalf("unknown model %q priced at %v", model, usd)
		}
	})
}

func BenchmarkCost(b *testing.B) {
	table := Default()
	u := Usage{InputTokens: 1200, OutputTokens: 300, CacheReadTokens: 1000}
	for _, model := range []string{"gpt-4o-mini", "claude-sonnet-4-5-20250929"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := table.Cost(model, u); !ok {
					b.Fatal("unknown")
				}
			}
		})
	}
}

func approx(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// TestBedrockOverride: a price configured for a Bedrock id itself (a
// regional premium) wins over the Anthropic list price inside it, for that
// id only.
func TestBedrockOverride(t *testing.T) {
	const eu = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
	tab := Default().With(map[string]Price{eu: {InputPerMTok: 3.30, OutputPerMTok: 16.50}})
	tests := []struct {
		model string
		want  float64
	}{
		{eu, 3.30},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3.00},
		{"claude-sonnet-4-5-20250929", 3.00},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			p, ok := tab.Lookup(tt.model)
			if !ok || p.InputPerMTok != tt.want {
				t.Errorf("Lookup(%q) = %+v, %t; want input %v", tt.model, p, ok, tt.want)
			}
		})
	}
}
