package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestHashKey(t *testing.T) {
	tests := []struct{ in, want string }{
		// sha256("") and sha256("abc"), the FIPS 180-2 vectors.
		{"", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{strings.Repeat("k", 200), "sha256:" + hexSum(strings.Repeat("k", 200))}, // beyond the stack buffer
	}
	for _, tc := range tests {
		if got := HashKey(tc.in); got != tc.want {
			t.Errorf("HashKey(%.10q) = %s, want %s", tc.in, got, tc.want)
		}
		d, err := ParseHash(tc.want)
		if err != nil || HashPrefix+hex.EncodeToString(d[:]) != tc.want {
			t.Errorf("ParseHash(HashKey(%.10q)) = %x, %v", tc.in, d, err)
		}
	}
}

func hexSum(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func TestParseHash(t *testing.T) {
	good := HashKey("kt-some-key")
	tests := []struct {
		name, in string
		wantErr  string // "" = valid
	}{
		{"canonical", good, ""},
		{"uppercase hex accepted", HashPrefix + strings.ToUpper(strings.TrimPrefix(good, HashPrefix)), ""},
		{"mixed case hex accepted", HashPrefix + "E3b0C44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""},
		{"empty", "", "empty"},
		{"no prefix", strings.TrimPrefix(good, HashPrefix), `must start with "sha256:"`},
		{"uppercase prefix", "SHA256:" + strings.TrimPrefix(good, HashPrefix), `must start with "sha256:"`},
		{"other algorithm", "sha512:" + strings.TrimPrefix(good, HashPrefix), `must start with "sha256:"`},
		{"plaintext key", "kt-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "plaintext gateway key"},
		{"prefix only", HashPrefix, "got 0 characters"},
		{"too short", good[:len(good)-1], "got 63 characters"},
		{"too long", good + "0", "got 65 characters"},
		{"trailing newline", good + "\n", "got 65 characters"},
		{"leading space", " " + good, `must start with "sha256:"`},
		{"non-hex first", HashPrefix + "g" + strings.Repeat("0", 63), "character 1 "},
		{"non-hex low nibble", HashPrefix + "0g" + strings.Repeat("0", 62), "character 2 "},
		{"non-hex last", HashPrefix + strings.Repeat("0", 63) + "z", "character 64 "},
		{"multibyte", HashPrefix + "é" + strings.Repeat("0", 62), "character 1 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseHash(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !strings.EqualFold(tc.in, HashPrefix+hex.EncodeToString(d[:])) {
					t.Fatalf("digest %x does not round-trip", d)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidHash) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalidHash with %q", err, tc.wantErr)
			}
			if d != ([sha256.Size]byte{}) {
				t.Fatal("digest set on error")
			}
			checkHashErrNoEcho(t, tc.in, err)
		})
	}
}

// hashErrTemplates are every ParseHash error message, counts as "N".
var hashErrTemplates = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{msgHashEmpty, msgHashPlaintext, msgHashPrefix, msgHashLength, msgHashNonHex} {
		m[ErrInvalidHash.Error()+": "+strings.ReplaceAll(s, "%d", "N")] = true
	}
	return m
}()

var digits = regexp.MustCompile(`[0-9]+`)

// checkHashErrNoEcho fails unless err's message is one of the fixed templates:
// nothing of the input but a count can be in it.
func checkHashErrNoEcho(t testing.TB, in string, err error) {
	t.Helper()
	msg := err.Error()
	// Digits inside the constant text ("sha256", "64") normalise the same way.
	norm := digits.ReplaceAllString(msg, "N")
	for tmpl := range hashErrTemplates {
		if digits.ReplaceAllString(tmpl, "N") == norm {
			return
		}
	}
	t.Fatalf("ParseHash(%.20q) error is not a fixed template: %q", in, msg)
}

func TestGenerateKey(t *testing.T) {
	format := regexp.MustCompile(`^kt-[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 200 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(k) {
			t.Fatalf("key %q does not match %s", k, format)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(k, KeyPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("key body decodes to %d bytes, %v", len(raw), err)
		}
		if seen[k] {
			t.Fatal("duplicate key generated")
		}
		seen[k] = true
	}
}

func TestKeyring(t *testing.T) {
	d := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	kr, err := NewKeyring([]Key{
		{Name: "alpha-1", Team: "alpha", Hash: d("kt-alpha")},
		{Name: "beta-1", Team: "beta", Hash: d("kt-beta")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if kr.Len() != 2 {
		t.Fatalf("Len = %d", kr.Len())
	}
	tests := []struct {
		secret, wantName string
		ok               bool
	}{
		{"kt-alpha", "alpha-1", true},
		{"kt-beta", "beta-1", true},
		{"kt-gamma", "", false},
		{"", "", false},
		{"kt-alpha ", "", false},
		{"KT-ALPHA", "", false},
	}
	for _, tc := range tests {
		k, ok := kr.Lookup(tc.secret)
		if ok != tc.ok || k.Name != tc.wantName {
			t.Errorf("Lookup(%q) = %+v, %v; want %q, %v", tc.secret, k, ok, tc.wantName, tc.ok)
		}
	}
	if k, _ := kr.Lookup("kt-beta"); k.Team != "beta" || k.HashString() != HashKey("kt-beta") {
		t.Errorf("Lookup(kt-beta) = %+v", k)
	}

	t.Run("duplicate hash names both keys", func(t *testing.T) {
		_, err := NewKeyring([]Key{{Name: "first", Hash: d("x")}, {Name: "other", Hash: d("y")}, {Name: "second", Hash: d("x")}})
		if err == nil || !strings.Contains(err.Error(), `"first"`) || !strings.Contains(err.Error(), `"second"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zero hash refused", func(t *testing.T) {
		if _, err := NewKeyring([]Key{{Name: "unset"}}); err == nil || !strings.Contains(err.Error(), "no hash") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty and nil keyrings", func(t *testing.T) {
		empty, err := NewKeyring(nil)
		if err != nil {
			t.Fatal(err)
		}
		var nilKR *Keyring
		for _, k := range []*Keyring{empty, nilKR} {
			if _, ok := k.Lookup("kt-alpha"); ok || k.Len() != 0 {
				t.Fatal("empty keyring matched")
			}
		}
	})
}

func TestLookupDoesNotAllocate(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ParseHash(HashKey(key))
	kr, err := NewKeyring([]Key{{Name: "n", Team: "t", Hash: d}})
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = kr.Lookup(key) }); a != 0 {
		t.Fatalf("Lookup allocates %v times", a)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		values []string // Authorization header values; nil = none
		want   string
		ok     bool
	}{
		{"bearer", []string{"Bearer kt-abc"}, "kt-abc", true},
		{"lowercase scheme", []string{"bearer kt-abc"}, "kt-abc", true},
		{"uppercase scheme", []string{"BEARER kt-abc"}, "kt-abc", true},
		{"extra spaces", []string{"  Bearer   kt-abc  "}, "kt-abc", true},
		{"tab", []string{"Bearer\tkt-abc"}, "kt-abc", true},
		{"token68 chars", []string{"Bearer a.b-c_d~e+f/g=="}, "a.b-c_d~e+f/g==", true},
		{"none", nil, "", false},
		{"empty", []string{""}, "", false},
		{"scheme only", []string{"Bearer"}, "", false},
		{"scheme and space", []string{"Bearer "}, "", false},
		{"no separator", []string{"Bearerkt-abc"}, "", false},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", false},
		{"token with space", []string{"Bearer kt abc"}, "", false},
		{"bare token", []string{"kt-abc"}, "", false},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Authorization", v)
			}
			got, ok := BearerToken(h)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("BearerToken(%q) = %q, %v; want %q, %v", tc.values, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"[::1]", false}, // hosts come without brackets
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"192.168.1.10", false},
		{"128.0.0.1", false},
		{"fe80::1", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"127.0.0.1.nip.io", false},
		{"127.1", false},
	}
	for _, tc := range tests {
		if got := IsLoopback(tc.host); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// BenchmarkLookup measures the per-request cost of authenticating a key
// against a keyring of 1000 keys: one SHA-256 and one map lookup.
func BenchmarkLookup(b *testing.B) {
	keys := make([]Key, 1000)
	secrets := make([]string, len(keys))
	for i := range keys {
		s, err := GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		secrets[i] = s
		keys[i] = Key{Name: fmt.Sprintf("k%d", i), Team: "t", Hash: sha256.Sum256([]byte(s))}
	}
	kr, err := NewKeyring(keys)
	if err != nil {
		b.Fatal(err)
	}
	miss, _ := GenerateKey()
	for _, bc := range []struct {
		name, secret string
		ok           bool
	}{{"hit", secrets[500], true}, {"miss", miss, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := kr.Lookup(bc.secret); ok != bc.ok {
					b.Fatal("wrong lookup result")
				}
			}
		})
	}
}
