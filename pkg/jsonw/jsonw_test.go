package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
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

// FuzzAppendString holds AppendString to encoding/json's Encoder with
// HTML escaping off, byte for byte, for both argument types: it is the one
// string writer every translator and the gateway use.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `a"b\c/`, "\x00\x1f\x7f", "\t\n\r\b\f", "\xff\xfe", "\xe2\x80\xa8\u2029", "é\xe2\x80\xa8", "<&>", "日本 🙂", "\xc3", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got := AppendString([]byte("x"), []byte(s)); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("AppendString(x, []byte(%q)) = %s, want x%s", s, got, want)
		}
	})
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, 0.2, 1e-7, 1e-6, 123456789e13, 1e21, 1e300, -5e-324, math.MaxFloat64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return
		}
		if got, want := AppendFloat(nil, v), mustMarshal(t, v); !bytes.Equal(got, want) {
			t.Fatalf("AppendFloat(%v) = %s, want %s", v, got, want)
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
