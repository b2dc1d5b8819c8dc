package jsontext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The reader and writers are held to encoding/json itself.

// FuzzJSONText holds the reader and the writers of what it read to
// encoding/json.
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{
		``, ` `, `0`, `-0`, `01`, `1.`, `1.5e`, `-`, `1e+5`, `1E-5`, `true`, `tru`, `nullx`, `[]`, `[1,]`, `[,1]`, `{}`, `{"a":1,}`,
		`{"a" : [1, {"b":null}] }`, `"a\"b\\c\/\b\f\n\r\t\u00e9\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800x"`, `"\u12"`, `"\x"`,
		"\"\t\"", "\"\xff\xfe\"", "\"\xe2\x80\xa8\u2029\"", "\"é\xe2\x80\xa8\"", "\"\xe2\x80\xa9é\"", `"<&>"`, `"\u0000\u001f\u007f"`, `[[[[]]]]`, `{"a":"b"}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := json.Valid(data)
		if got, _ := Valid(data); got != valid {
			t.Fatalf("Valid(%q) = %v, json.Valid %v", data, got, valid)
		}
		if valid {
			var want bytes.Buffer
			if err := json.Compact(&want, data); err != nil {
				t.Fatal(err)
			}
			if got := AppendCompact(nil, bytes.TrimSpace(data)); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("AppendCompact(%q) = %q, want %q", data, got, want.Bytes())
			}
			if _, compact := Valid(bytes.TrimSpace(data)); compact != bytes.Equal(bytes.TrimSpace(data), want.Bytes()) {
				t.Fatalf("Valid(%q) says compact %v", data, compact)
			}
		}
		// data as a string literal to decode and encode again.
		r := NewReader(data)
		lit, ok := r.Str()
		if !ok || r.Offset() != len(data) {
			return
		}
		var s string
		if err := json.Unmarshal(lit, &s); err != nil {
			t.Fatalf("str accepted %q: %v", data, err)
		}
		if got := string(AppendUnquoted(nil, lit)); got != s {
			t.Fatalf("AppendUnquoted(%s) = %q, want %q", lit, got, s)
		}
		if got := Lit(lit).String(); got != s {
			t.Fatalf("String(%s) = %q, want %q", lit, got, s)
		}
		// is takes ASCII constants without backslashes.
		wants := []string{"", "text", "user", "a", "function"}
		if isPlainASCII(s) {
			wants = append(wants, s, s+"x")
		}
		for _, want := range wants {
			if got := Lit(lit).Is(want); got != (s == want) {
				t.Fatalf("%s.Is(%q) = %v for value %q", lit, want, got, s)
			}
		}
		if got, want := AppendLit(nil, lit), encodeNoEscape(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendLit(%s) = %s, want %s", lit, got, want)
		}
		if Plain(Lit(lit).Inner()) && string(Lit(lit).Inner()) != s {
			t.Fatalf("Plain(%s) but it decodes to %q", lit, s)
		}
	})
}

func TestValidJSONDepth(t *testing.T) {
	for _, depth := range []int{MaxDepth - 1, MaxDepth, MaxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			doc := []byte(strings.Repeat(open, depth) + strings.Repeat(closer, depth))
			if got, _ := Valid(doc); got != json.Valid(doc) {
				t.Errorf("depth %d %s: Valid %v, json.Valid %v", depth, open, got, !got)
			}
		}
	}
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == '\\' {
			return false
		}
	}
	return true
}

func encodeNoEscape(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
