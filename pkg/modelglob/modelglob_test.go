package modelglob

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"gpt-4o-mini", "gpt-4o-mini", true},
		{"gpt-4o-mini", "gpt-4o", false},
		{"gpt-4o*", "gpt-4o", true},
		{"gpt-4o*", "gpt-4o-mini-2024-07-18", true},
		{"gpt-4o*", "gpt-4", false},
		{"claude-*", "claude-sonnet-4-20250514", true},
		{"claude-*", "claude", false},
		{"*", "anything/with/slashes", true},
		{"meta/*", "meta/llama-3", true},
		{"*-mini", "gpt-4o-mini", true},
		{"*-mini", "gpt-4o-mini-x", false},
		{"gpt-?o", "gpt-4o", true},
		{"gpt-?o", "gpt-40o", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"", "", true},
		{"", "x", false},
		{"*", "*0", true},
		{"a*", "a*b", true},
		{"?", "*", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.name); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("gpt-*", "gpt-4o")
	f.Add("a*b?c", "aXbYc")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Match(pattern, name)
		if !IsGlob(pattern) && got != (pattern == name) {
			t.Fatalf("literal %q vs %q: %v", pattern, name, got)
		}
		if got && !Match("*", name) {
			t.Fatal("* must match everything")
		}
		// Model names are ASCII; Match works on bytes, so '?' is one byte
		// where the regexp's '.' is one rune.
		if !ascii(pattern) || !ascii(name) {
			return
		}
		if want := reference(pattern).MatchString(name); got != want {
			t.Fatalf("Match(%q, %q) = %v, the regexp says %v", pattern, name, got, want)
		}
	})
}

// reference is the pattern as a regular expression: '*' any run of
// characters, '?' one, the rest literal.
func reference(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func ascii(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
