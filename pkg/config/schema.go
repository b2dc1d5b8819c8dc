package config

import (
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The schema is the File type itself, read through its koanf tags, so the
// loader, the env override check and the did-you-mean suggestions can never
// drift from the struct definitions.

var fileType = reflect.TypeOf(File{})

// deref strips pointer types.
func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldByTag returns the type of the struct field whose koanf tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tagName(f) == name {
			return f.Type, true
		}
	}
	return nil, false
}

// tagName is the koanf key of a struct field.
func tagName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
	return tag
}

// keysOf lists the koanf keys of a struct type.
func keysOf(t reflect.Type) []string {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k := tagName(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// typeAtPath follows a mapstructure field name such as
// "providers.targets[0].health_check" from File and returns the type found,
// or nil. Map keys never appear before a struct level in our schema, so a
// plain split on dots and brackets is enough.
func typeAtPath(path string) reflect.Type {
	t := fileType
	if path == "" {
		return t
	}
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	for _, seg := range strings.Split(path, ".") {
		t = deref(t)
		switch t.Kind() {
		case reflect.Struct:
			ft, ok := fieldByTag(t, seg)
			if !ok {
				return nil
			}
			t = ft
		case reflect.Slice, reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	return t
}

// leafPaths lists every settable scalar path below t (struct fields only;
// lists of sections and maps are skipped), as key segments.
func leafPaths(t reflect.Type, prefix []string, out *[][]string) {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name := tagName(f)
		if name == "" {
			continue
		}
		p := append(append([]string(nil), prefix...), name)
		ft := deref(f.Type)
		switch {
		case ft.Kind() == reflect.Struct:
			leafPaths(ft, p, out)
		case ft.Kind() == reflect.Map, ft.Kind() == reflect.Slice && deref(ft.Elem()).Kind() == reflect.Struct:
			// Sections addressed by key or index: no fixed path to suggest.
		default:
			*out = append(*out, p)
		}
	}
}

// suggest returns the candidate closest to s by edit distance, or "" when
// none is close enough to be a plausible typo.
func suggest(s string, candidates []string) string {
	if s == "" || len(s) > 80 {
		return ""
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		// "interval" and "timeout" are natural misspellings of the
		// *_seconds keys, so compare with the unit dropped as well.
		for _, form := range []string{c, strings.TrimSuffix(c, "_seconds")} {
			d := editDistance(strings.ToLower(s), strings.ToLower(form))
			if bestDist < 0 || d < bestDist {
				best, bestDist = c, d
			}
		}
	}
	limit := max(1, min(3, len(s)/3))
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// joinKey appends a user-supplied key to a path: ".key" when it is a plain
// word, otherwise a quoted ["..."] so that odd keys cannot break the
// one-problem-per-line output.
func joinKey(path, key string) string {
	if plainKey.MatchString(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + quote(key) + "]"
}

// quote quotes a user-supplied string for a message, shortening very long ones.
func quote(s string) string {
	const maxLen = 64
	if utf8.RuneCountInString(s) > maxLen {
		s = string([]rune(s)[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}

// clean returns s as is when it is a single printable word, quoted
// otherwise, so user text can never break a report's line structure.
func clean(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return quote(s)
		}
	}
	return s
}

// rawTree answers "was this key given?" about the merged koanf map, which
// the decoded structs cannot: an explicit 0 must be validated, an absent
// key must get its default.
type rawTree map[string]any

// get walks string keys through maps and int indexes through lists.
func (r rawTree) get(path ...any) (any, bool) {
	var cur any = map[string]any(r)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			v, ok := m[k]
			if !ok {
				return nil, false
			}
			cur = v
		case int:
			l, ok := cur.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil, false
			}
			cur = l[k]
		default:
			return nil, false
		}
	}
	return cur, true
}

// has reports whether the key at path is present with a non-null value.
func (r rawTree) has(path ...any) bool {
	v, ok := r.get(path...)
	return ok && v != nil
}

// sortedKeys returns a map's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// naturalLess orders paths so that targets[2] sorts before targets[10].
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
