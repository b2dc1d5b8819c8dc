package auth

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer kt-abc", "bearer  x", "Bearer", "Bearer ", "Basic abc", "", "Bearer a b", "BEARER\tz", " Bearer y "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := BearerToken(http.Header{"Authorization": {v}})
		if !ok {
			if tok != "" {
				t.Fatalf("token %q with ok=false", tok)
			}
			return
		}
		if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("BearerToken(%q) = %q", v, tok)
		}
		// The value is "Bearer", blanks, then the token (up to outer space).
		rest := strings.TrimSpace(v)
		if !strings.EqualFold(rest[:6], "bearer") || !strings.HasSuffix(rest, tok) ||
			strings.Trim(rest[6:len(rest)-len(tok)], " \t") != "" || rest[6:len(rest)-len(tok)] == "" {
			t.Fatalf("BearerToken(%q) = %q", v, tok)
		}
	})
}

func FuzzParseHash(f *testing.F) {
	for _, s := range []string{HashKey("x"), strings.ToUpper(HashKey("x")), "sha256:", "", "kt-abc", "sha256:" + strings.Repeat("g", 64), "md5:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseHash(s)
		if err != nil {
			checkHashErrNoEcho(t, s, err)
			return
		}
		if got := HashPrefix + hex.EncodeToString(d[:]); !strings.EqualFold(got, s) || !strings.HasPrefix(s, HashPrefix) {
			t.Fatalf("ParseHash(%q) = %s", s, got)
		}
	})
}
