package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	tests := []string{"", "plain", "quote \" backslash \\ slash /", "ctl \x00\x01\x1f\n\r\t\b\f", "é ü 日本 🙂", "bad \xff\xfe utf8 \xc3", "line\u2028sep\u2029", "<b>&amp;</b>"}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			enc := AppendString(nil, []byte(s))
			if string(AppendString(nil, s)) != string(enc) {
				t.Fatalf("string and []byte forms differ")
			}
			if !json.Valid(enc) {
				t.Fatalf("%q encodes to invalid JSON %s", s, enc)
			}
			var got string
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatal(err)
			}
			ref, _ := json.Marshal(s)
			var want string
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("round trip = %q, want %q", got, want)
			}
		})
	}
}

func TestAppendStringsMatchesEncodingJSON(t *testing.T) {
	for _, ss := range [][]string{{}, {"a"}, {"hate", "violence"}, {"<x>", "\u2028", "\xff"}} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ss); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		if got := AppendStrings(nil, ss); !bytes.Equal(got, want) {
			t.Errorf("AppendStrings(%q) = %s, want %s", ss, got, want)
		}
	}
	if got := AppendStrings(nil, nil); string(got) != "[]" {
		t.Errorf("AppendStrings(nil) = %s, want []", got)
	}
}
