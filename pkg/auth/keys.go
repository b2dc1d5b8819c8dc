// Package auth holds the gateway's two kinds of credentials: gateway keys,
// which clients present to call the LLM API, and the admin token, which
// guards management endpoints.
//
// Gateway keys are stored only as hashes ("sha256:<64 hex>"): the
// configuration never holds a usable key, and `kt keys generate` prints the
// key once. A Keyring maps a presented key to its configured name and team.
//
// Admin guards management endpoints: with an admin token configured the token
// is always required; without one, management endpoints are open only when
// the server is bound to loopback.
//
// Nothing in this package logs, formats or echoes a key or a token: errors
// say what is wrong with a value, never the value.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// HashPrefix starts every stored key hash.
const HashPrefix = "sha256:"

// KeyPrefix starts every key GenerateKey returns. It makes a leaked gateway
// key recognisable (secret scanners, log review) and tells it apart from a
// provider key.
const KeyPrefix = "kt-"

// keyBytes is the entropy of a generated key: 256 bits.
const keyBytes = 32

// ErrInvalidHash is wrapped by every ParseHash error.
var ErrInvalidHash = errors.New("invalid key hash")

// Messages of ParseHash errors (after "invalid key hash: "). They are built
// from constants and counts only, so that a hash (or a plaintext key pasted by
// mistake) never reaches lint output or logs.
const (
	msgHashEmpty     = `empty; want "sha256:" followed by 64 hex digits (from kt keys generate or kt keys hash)`
	msgHashPlaintext = `this looks like a plaintext gateway key, not its hash; store the output of kt keys hash instead`
	msgHashPrefix    = `must start with "sha256:" followed by 64 hex digits`
	msgHashLength    = `want 64 hex digits after "sha256:", got %d characters`
	msgHashNonHex    = `character %d after "sha256:" is not a hex digit`
)

// HashKey returns "sha256:" + lowercase hex SHA-256 of a gateway key.
//
// A fast, unsalted hash is the right tool here, as for GitHub or Stripe API
// tokens: gateway keys are 256-bit random tokens, so there is nothing to
// brute-force, and salting or stretching (bcrypt, scrypt, argon2) defends
// low-entropy passwords only. A slow hash would instead cost tens of
// milliseconds of CPU on every request and turn authentication into a
// denial-of-service lever; and an unsalted hash lets the Keyring find a key
// with one map lookup instead of trying every stored hash.
func HashKey(secret string) string {
	sum := sum(secret)
	return HashPrefix + hex.EncodeToString(sum[:])
}

// ParseHash validates the "sha256:<64 hex>" form and returns the digest.
// The prefix is lowercase; the hex digits may be upper- or lowercase (some
// tools print uppercase hex; HashKey writes lowercase, the canonical form).
// Surrounding whitespace is not trimmed: the caller decides. Errors wrap
// ErrInvalidHash and never contain s.
func ParseHash(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, HashPrefix)
	switch {
	case s == "":
		return d, fmt.Errorf("%w: %s", ErrInvalidHash, msgHashEmpty)
	case !ok && strings.HasPrefix(s, KeyPrefix):
		return d, fmt.Errorf("%w: %s", ErrInvalidHash, msgHashPlaintext)
	case !ok:
		return d, fmt.Errorf("%w: %s", ErrInvalidHash, msgHashPrefix)
	case len(hexPart) != 2*sha256.Size:
		return d, fmt.Errorf("%w: "+msgHashLength, ErrInvalidHash, len(hexPart))
	}
	for i := 0; i < len(hexPart); i += 2 {
		hi, ok1 := unhex(hexPart[i])
		lo, ok2 := unhex(hexPart[i+1])
		if !ok1 || !ok2 {
			pos := i + 1
			if ok1 {
				pos = i + 2
			}
			return [sha256.Size]byte{}, fmt.Errorf("%w: "+msgHashNonHex, ErrInvalidHash, pos)
		}
		d[i/2] = hi<<4 | lo
	}
	return d, nil
}

// unhex decodes one hex digit of either case.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// GenerateKey returns a new gateway key: "kt-" followed by 43 characters of
// unpadded base64url encoding 32 bytes from crypto/rand.
func GenerateKey() (string, error) {
	var b [keyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Key is one configured gateway key. It never holds the plaintext key.
type Key struct {
	// Name identifies the key in logs, metrics and events.
	Name string
	// Team is the team the key belongs to (for attribution and budgets).
	Team string
	// Hash is the SHA-256 digest of the key (see HashKey, ParseHash).
	Hash [sha256.Size]byte
}

// HashString is the key's hash in the stored form, "sha256:<64 hex>".
func (k Key) HashString() string { return HashPrefix + hex.EncodeToString(k.Hash[:]) }

// Keyring looks gateway keys up by hash. It is immutable after NewKeyring
// and safe for concurrent use. A nil *Keyring holds no keys.
type Keyring struct {
	byHash map[[sha256.Size]byte]Key
}

// NewKeyring indexes keys by hash. Two keys with the same hash (the same
// secret configured twice) are an error naming both; so is a key whose hash
// was never set.
func NewKeyring(keys []Key) (*Keyring, error) {
	kr := &Keyring{byHash: make(map[[sha256.Size]byte]Key, len(keys))}
	var zero [sha256.Size]byte
	for i, k := range keys {
		if k.Hash == zero {
			return nil, fmt.Errorf("key %d (%q) has no hash", i, k.Name)
		}
		if prev, dup := kr.byHash[k.Hash]; dup {
			return nil, fmt.Errorf("keys %q and %q have the same hash: each key needs its own secret", prev.Name, k.Name)
		}
		kr.byHash[k.Hash] = k
	}
	return kr, nil
}

// Lookup hashes secret and returns the key it belongs to. It does not
// allocate for secrets up to 128 bytes. The map lookup is not constant-time,
// which is safe: timing can reveal at most something about the SHA-256 of a
// guess, and finding a stored hash's preimage is infeasible.
func (k *Keyring) Lookup(secret string) (Key, bool) {
	if k == nil || len(k.byHash) == 0 {
		return Key{}, false
	}
	key, ok := k.byHash[sum(secret)]
	return key, ok
}

// Len is the number of keys.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byHash)
}

// sum is sha256.Sum256 of s without converting s to a heap []byte: a key
// fits a stack buffer.
func sum(s string) [sha256.Size]byte {
	var buf [128]byte
	if len(s) <= len(buf) {
		n := copy(buf[:], s)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(s))
}

// BearerToken extracts the token of "Authorization: Bearer <token>". The
// scheme is case-insensitive; spaces between scheme and token are allowed.
// ok is false when there is no Authorization header, more than one, another
// scheme, an empty token or a token containing a space or an ASCII control
// character.
func BearerToken(h http.Header) (token string, ok bool) {
	vals := h.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	v := strings.TrimSpace(vals[0])
	const scheme = "Bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || (v[len(scheme)] != ' ' && v[len(scheme)] != '\t') {
		return "", false
	}
	tok := strings.TrimLeft(v[len(scheme):], " \t")
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c == 0x7f {
			return "", false
		}
	}
	return tok, true
}

// IsLoopback reports whether a bind host listens on loopback only:
// "localhost" (any case), an address in 127.0.0.0/8, or ::1 (an IPv4-mapped
// loopback such as ::ffff:127.0.0.1 counts too). Everything else is false:
// "" and "0.0.0.0" and "::" (all interfaces), any other address, any other
// hostname (its resolution may change), and bracketed forms such as "[::1]"
// (hosts come without brackets; a bracketed host is not a valid bind host).
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ClientKey extracts the key a model request carries: the bearer token of
// "Authorization: Bearer <key>" (OpenAI's clients), else the one value of
// an X-Api-Key header (Anthropic's clients), with the same rules on the
// token as BearerToken.
func ClientKey(h http.Header) (key string, ok bool) {
	if tok, ok := BearerToken(h); ok {
		return tok, true
	}
	vals := h.Values("X-Api-Key")
	if len(vals) != 1 {
		return "", false
	}
	tok := strings.TrimSpace(vals[0])
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c == 0x7f {
			return "", false
		}
	}
	return tok, true
}
