package policy

import (
	"embed"
	"fmt"
	"strings"

	"github.com/coregx/ahocorasick"
)

// lists holds the curated term lists, one file per category plus allow.txt.
//
//go:embed lists/*.txt
var lists embed.FS

// Categories, numbered in name order so that walking the bits yields sorted names.
const (
	catHarassment = iota
	catHate
	catSelfHarm
	catSexual
	catViolence
	numCategories
)

// categoryName returns the config name of category bit i.
func categoryName(i int) string {
	switch i {
	case catHarassment:
		return "harassment"
	case catHate:
		return "hate"
	case catSelfHarm:
		return "self_harm"
	case catSexual:
		return "sexual"
	case catViolence:
		return "violence"
	}
	return ""
}

// parseCategory returns the bit index of a category name.
func parseCategory(s string) (int, bool) {
	for i := range numCategories {
		if categoryName(i) == s {
			return i, true
		}
	}
	return 0, false
}

// maxExpansions bounds what one list line may expand to, so that a typo in
// a list can't make start-up explode.
const maxExpansions = 4096

// allCats are the exception bits of an allow.txt entry: every category.
const allCats = 1<<numCategories - 1

// patInfo describes one compiled pattern.
type patInfo struct {
	cats   uint8 // categories the pattern hits
	except uint8 // categories whose overlapping hits the pattern cancels
	prefix bool  // the last word may continue ("porn*")
}

// matcher finds list entries in normalised text with one Aho–Corasick
// automaton holding every entry of the selected categories and the allow
// list. It is immutable after build.
type matcher struct {
	ac    *ahocorasick.Automaton
	infos []patInfo // by pattern ID
}

// hit is one entry found in normalised text, [start, end), with the
// categories it hits (or, for an exception, cancels).
type hit struct {
	start, end int
	cats       uint8
}

// span is a byte range [start, end).
type span struct{ start, end int }

func (h hit) overlaps(o hit) bool { return h.start < o.end && o.start < h.end }

// buildMatcher compiles the lists of the categories in mask plus the allow
// list.
func buildMatcher(mask uint8) (*matcher, error) {
	b := matcherBuilder{index: map[patKey]int{}}
	for c := range numCategories {
		if mask&(1<<c) == 0 {
			continue
		}
		if err := b.addFile(categoryName(c)+".txt", 1<<c); err != nil {
			return nil, err
		}
	}
	if err := b.addFile("allow.txt", 0); err != nil {
		return nil, err
	}
	ac, err := ahocorasick.NewBuilder().AddStrings(b.pats).Build()
	if err != nil {
		return nil, fmt.Errorf("compile term lists: %w", err)
	}
	return &matcher{ac: ac, infos: b.infos}, nil
}

type patKey struct {
	text   string
	prefix bool
}

type matcherBuilder struct {
	nb    normBuf
	index map[patKey]int
	pats  []string
	infos []patInfo
}

// addFile adds a category list (cats = its bit) or, with cats = 0, the
// allow list.
func (b *matcherBuilder) addFile(name string, cats uint8) error {
	data, err := lists.ReadFile("lists/" + name)
	if err != nil {
		return fmt.Errorf("read term list: %w", err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		if err := b.addLine(line, cats); err != nil {
			return fmt.Errorf("term list %s line %d: %w", name, n+1, err)
		}
	}
	return nil
}

// addLine adds one list line. In a category list a line starting with '!'
// is an exception for that category only; every allow-list line is an
// exception for all categories.
func (b *matcherBuilder) addLine(line string, cats uint8) error {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return nil
	}
	allow := cats == 0
	except := uint8(0)
	if allow {
		except = allCats
	} else if rest, ok := strings.CutPrefix(line, "!"); ok {
		line, except, cats = rest, cats, 0
	}
	if rest, ok := strings.CutPrefix(line, "rot13:"); ok {
		line = rot13(rest)
	}
	line, prefix := strings.CutSuffix(line, "*")
	entries, err := expand(line, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b.nb.normalize(e, false)
		base := strings.Trim(string(b.nb.b), " ")
		if err := checkEntry(e, base); err != nil {
			return err
		}
		if allow {
			// Allowed phrases are what people type in the clear; their
			// obfuscated spellings would only double the automaton.
			b.add(base, prefix, 0, except)
			continue
		}
		for _, v := range b.variants(base) {
			b.add(v, prefix, cats, except)
		}
	}
	return nil
}

// checkEntry rejects entries that could never match a word-bounded hit.
func checkEntry(raw, norm string) error {
	if norm == "" {
		return fmt.Errorf("entry %q is empty after normalisation", raw)
	}
	if !isWord(norm[0]) || !isWord(norm[len(norm)-1]) {
		return fmt.Errorf("entry %q must start and end with a letter or digit", raw)
	}
	if strings.IndexByte(norm, breakByte) >= 0 || strings.IndexByte(norm, otherByte) >= 0 {
		return fmt.Errorf("entry %q normalises to %q, which has a sentence break or a non-ASCII letter", raw, norm)
	}
	return nil
}

// variants returns the normalised entry and the spellings obfuscated text
// normalises to but the entry doesn't:
//   - '1' reads as 'i' in the text, so "s1ut" needs the entry "siut": every
//     entry of four bytes or more with an 'l' also gets 'l'→'i' (all of
//     them: "ki11" reads "kiii");
//   - runs of three letters collapse to one in the text, so "killllll you"
//     reads "kil you": phrases (entries with a space) also get their
//     word-final double letters collapsed. Only word-final ones, where
//     stretching happens, and not in single words nor into "of" and "but",
//     because collapsing can make a different word: "shoot" → "shot",
//     "jack off" → "jack of", "niger", "bobs".
func (b *matcherBuilder) variants(base string) []string {
	out := []string{base}
	if strings.IndexByte(base, ' ') >= 0 {
		if c := collapseFinalDoubles(base); c != base {
			out = append(out, c)
		}
	}
	if len(base) >= 4 {
		for _, v := range out {
			if strings.IndexByte(v, 'l') < 0 {
				continue
			}
			// Not normalised again: leet letters never collapse in the
			// text either.
			out = append(out, strings.ReplaceAll(v, "l", "i"))
		}
	}
	return out
}

func (b *matcherBuilder) add(text string, prefix bool, cats, except uint8) {
	k := patKey{text, prefix}
	id, ok := b.index[k]
	if !ok {
		id = len(b.pats)
		b.index[k] = id
		b.pats = append(b.pats, text)
		b.infos = append(b.infos, patInfo{prefix: prefix})
	}
	b.infos[id].cats |= cats
	b.infos[id].except |= except
}

// collapseFinalDoubles shortens every word of a phrase that ends in a
// double letter ("kill you" → "kil you"), except into a common word.
func collapseFinalDoubles(s string) string {
	words := strings.Split(s, " ")
	for i, w := range words {
		n := len(w)
		if n < 3 || w[n-1] != w[n-2] || !isLetter(w[n-1]) {
			continue
		}
		switch c := w[:n-1]; c {
		case "of", "but":
		default:
			words[i] = c
		}
	}
	return strings.Join(words, " ")
}

// expand returns every string the {a|b} groups of s stand for, appended to out.
func expand(s string, out []string) ([]string, error) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		if strings.ContainsAny(s, "|}") {
			return nil, fmt.Errorf("stray '|' or '}' in %q", s)
		}
		if len(out) >= maxExpansions {
			return nil, fmt.Errorf("entry expands to more than %d phrases", maxExpansions)
		}
		return append(out, s), nil
	}
	end := strings.IndexByte(s[open:], '}')
	if end < 0 {
		return nil, fmt.Errorf("unclosed '{' in %q", s)
	}
	end += open
	group := s[open+1 : end]
	if strings.IndexByte(group, '{') >= 0 {
		return nil, fmt.Errorf("nested '{' in %q", s)
	}
	if strings.ContainsAny(s[:open], "|}") {
		return nil, fmt.Errorf("stray '|' or '}' in %q", s)
	}
	var err error
	for _, alt := range strings.Split(group, "|") {
		if out, err = expand(s[:open]+alt+s[end+1:], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rot13 decodes the slur lines of the lists.
func rot13(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = 'a' + (c-'a'+13)%26
		case c >= 'A' && c <= 'Z':
			b[i] = 'A' + (c-'A'+13)%26
		}
	}
	return string(b)
}

// scan appends to hits the word-bounded entries found in norm, minus the
// categories cancelled by an overlapping word-bounded exception, sorted by
// start then end. ex is scratch space. Both slices are returned for reuse.
func (m *matcher) scan(norm []byte, hits, ex []hit) ([]hit, []hit) {
	hits, ex = hits[:0], ex[:0]
	// Overlapping matches, because the leftmost match may fail the word
	// check ("skill you" holds "kill you" only as a non-word hit) while a
	// later one passes. The common case, no candidate at all, allocates
	// nothing.
	ms := m.ac.FindAllOverlapping(norm)
	for _, x := range ms {
		info := m.infos[x.PatternID]
		if x.Start > 0 && isWord(norm[x.Start-1]) {
			continue
		}
		if !info.prefix && x.End < len(norm) && isWord(norm[x.End]) {
			continue
		}
		if info.except != 0 {
			ex = append(ex, hit{x.Start, x.End, info.except})
		}
		if info.cats != 0 {
			hits = append(hits, hit{x.Start, x.End, info.cats})
		}
	}
	if len(ex) > 0 {
		kept := hits[:0]
		for _, h := range hits {
			for _, e := range ex {
				if h.overlaps(e) {
					h.cats &^= e.cats
				}
			}
			if h.cats != 0 {
				kept = append(kept, h)
			}
		}
		hits = kept
	}
	// Insertion sort: a text has a handful of hits.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && (hits[j].start < hits[j-1].start ||
			hits[j].start == hits[j-1].start && hits[j].end < hits[j-1].end); j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	return hits, ex
}
