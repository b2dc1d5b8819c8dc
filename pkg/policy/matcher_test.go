package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "plain", want: []string{"plain"}},
		{in: "{a|b} c", want: []string{"a c", "b c"}},
		{in: "{a|b} {c|d}", want: []string{"a c", "a d", "b c", "b d"}},
		{in: "x {own |}life", want: []string{"x own life", "x life"}},
		{in: "{a|b", err: "unclosed"},
		{in: "a|b", err: "stray"},
		{in: "a} {b|c}", err: "stray"},
		{in: "{a|{b}}", err: "nested"},
		{in: strings.Repeat("{a|b|c|d}", 7), err: "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expand(tc.in, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("expand = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestAddLineErrors(t *testing.T) {
	for _, line := range []string{"{a|}", "...", "-", "日本", "ab. c"} {
		t.Run(line, func(t *testing.T) {
			b := matcherBuilder{index: map[patKey]int{}}
			if err := b.addLine(line, 1); err == nil {
				t.Errorf("addLine(%q) accepted %q", line, b.pats)
			}
		})
	}
}

func TestRot13(t *testing.T) {
	if got := rot13("Hello, World {a|b}*"); got != "Uryyb, Jbeyq {n|o}*" {
		t.Errorf("rot13 = %q", got)
	}
	if got := rot13(rot13("any Text")); got != "any Text" {
		t.Errorf("rot13 twice = %q", got)
	}
}

// TestListSizes keeps every category list within the curated range and
// checks that each file compiles.
func TestListSizes(t *testing.T) {
	for c := range numCategories {
		name := categoryName(c)
		t.Run(name, func(t *testing.T) {
			data, err := lists.ReadFile("lists/" + name + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), "Curation principle") {
				t.Error("list has no curation header")
			}
			lines, entries := 0, 0
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || line[0] == '#' {
					continue
				}
				lines++
				line, _ = strings.CutPrefix(line, "rot13:")
				exp, err := expand(line, nil)
				if err != nil {
					t.Fatal(err)
				}
				entries += len(exp)
			}
			if entries < 30 || lines > 150 {
				t.Errorf("%d lines expanding to %d entries; want at least 30 entries in at most 150 lines", lines, entries)
			}
			t.Logf("%d lines, %d entries", lines, entries)
		})
	}
}

// TestScanMatchesNaive checks the automaton against a plain substring
// search over the same patterns with the same word and allow rules.
func TestScanMatchesNaive(t *testing.T) {
	m, err := buildMatcher(1<<numCategories - 1)
	if err != nil {
		t.Fatal(err)
	}
	naive := func(norm string) []hit {
		var hits, ex []hit
		for id := range m.infos {
			p := string(m.ac.Pattern(id))
			for off := 0; ; {
				i := strings.Index(norm[off:], p)
				if i < 0 {
					break
				}
				s, e := off+i, off+i+len(p)
				off = s + 1
				if s > 0 && isWord(norm[s-1]) || !m.infos[id].prefix && e < len(norm) && isWord(norm[e]) {
					continue
				}
				if m.infos[id].except != 0 {
					ex = append(ex, hit{s, e, m.infos[id].except})
				}
				if m.infos[id].cats != 0 {
					hits = append(hits, hit{s, e, m.infos[id].cats})
				}
			}
		}
		var kept []hit
		for _, h := range hits {
			for _, x := range ex {
				if h.start < x.end && x.start < h.end {
					h.cats &^= x.cats
				}
			}
			if h.cats != 0 {
				kept = append(kept, h)
			}
		}
		slices.SortFunc(kept, func(a, b hit) int {
			if a.start != b.start {
				return a.start - b.start
			}
			return a.end - b.end
		})
		return kept
	}
	texts := []string{
		"i will kill you and i'm going to kill the process, you idiot",
		"skill you. kill you. killyou. k1ll y0u",
		"Heil Hitler! immigrants are vermin; send nudes; porn; pornography",
		"i want to kill myself. i don't want to die. kill myself laughing",
		"shoot you an email then shoot you in the head",
	}
	for _, c := range categoryCases {
		texts = append(texts, c.hits...)
		texts = append(texts, c.misses...)
	}
	var nb normBuf
	for _, text := range texts {
		nb.normalize(text, false)
		got, _ := m.scan(nb.b, nil, nil)
		want := naive(string(nb.b))
		// The automaton may report two patterns with the same span and
		// categories (e.g. a variant equal to another entry); compare sets.
		if !slices.Equal(slices.Compact(got), slices.Compact(want)) {
			t.Errorf("%q: scan = %v, naive = %v", nb.b, got, want)
		}
	}
}

func TestCategoryNames(t *testing.T) {
	var names []string
	for c := range numCategories {
		names = append(names, categoryName(c))
		if got, ok := parseCategory(categoryName(c)); !ok || got != c {
			t.Errorf("parseCategory(%q) = %d, %v", categoryName(c), got, ok)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("category bits are not in name order: %v", names)
	}
	if _, ok := parseCategory("spam"); ok {
		t.Error("parseCategory accepted spam")
	}
}

func TestCollapseFinalDoubles(t *testing.T) {
	tests := map[string]string{
		"kill you":       "kil you",
		"shoot you":      "shoot you",
		"jack off":       "jack off",
		"butt plug":      "butt plug",
		"kill all of us": "kil al of us",
		"go to hell":     "go to hel",
	}
	for in, want := range tests {
		if got := collapseFinalDoubles(in); got != want {
			t.Errorf("collapseFinalDoubles(%q) = %q, want %q", in, got, want)
		}
	}
}
