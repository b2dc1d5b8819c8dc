package router

import (
	"slices"
	"testing"
)

func TestTableMatch(t *testing.T) {
	table := NewTable([]*Route{
		{Model: "smart"},
		{Model: "gpt-4o-mini"},
		{Model: "gpt-4o*"},
		{Model: "gpt-4o-audio"}, // after the glob that takes it: never reached
		{Model: "claude-*"},
		{Model: "smart"}, // a duplicate exact name: the first one wins
		{Model: "fast"},
	})
	rs := table.Routes()
	tests := []struct {
		name, model string
		want        int // index into rs, -1 for no route
	}{
		{"exact", "gpt-4o-mini", 1},
		{"alias", "smart", 0},
		{"alias later in the list", "fast", 6},
		{"glob", "gpt-4o-2024-08-06", 2},
		{"glob matches its prefix exactly", "gpt-4o", 2},
		{"earlier glob wins over a later exact name", "gpt-4o-audio", 2},
		{"second glob", "claude-sonnet-4-20250514", 4},
		{"no route", "gemini-2.0-flash", -1},
		{"no partial match", "gpt-4", -1},
		{"case matters", "GPT-4o", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := table.Match(tt.model)
			if tt.want < 0 {
				if ok {
					t.Fatalf("Match(%q) = %q, want no route", tt.model, r.Model)
				}
				return
			}
			if !ok || r != rs[tt.want] {
				got := "none"
				if ok {
					got = r.Model
				}
				t.Fatalf("Match(%q) = %s, want routes[%d] %q", tt.model, got, tt.want, rs[tt.want].Model)
			}
		})
	}
	if got, want := table.Names(), []string{"smart", "gpt-4o-mini", "gpt-4o-audio", "fast"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
}
