package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// Error codes of Admin's refusals (the "code" of the OpenAI-style body).
const (
	// CodeInvalidAdminToken is sent with 401 when the admin token is
	// missing or wrong.
	CodeInvalidAdminToken = "invalid_admin_token"
	// CodeAdminTokenRequired is sent with 403 when management endpoints
	// are reachable beyond loopback but no admin token is configured.
	CodeAdminTokenRequired = "admin_token_required"
)

// AdminRealm is the realm of the WWW-Authenticate challenge sent with 401.
const AdminRealm = "keeptrusts-admin"

// DefaultTokenHint names where the gateway's admin token is configured; it
// goes into the 403 message (see WithTokenHint).
const DefaultTokenHint = "admin.token_ref in the config"

// Admin guards management endpoints. The rule: when a token is configured it
// is always required, whatever the bind address; without a token,
// management endpoints are open when the server is bound to loopback and
// refused otherwise. Admin keeps only the token's SHA-256 digest and is
// safe for concurrent use.
type Admin struct {
	loopback   bool
	configured bool
	digest     [sha256.Size]byte
	hint       string
}

// NewAdmin returns the guard for a server bound to bindHost (a host without
// port or brackets, as for IsLoopback) with admin token token ("" for none).
// Surrounding whitespace of token is ignored: HTTP strips it from header
// values, so a token with a trailing newline (from a file or $(...)) could
// otherwise never match.
func NewAdmin(bindHost, token string) *Admin {
	a := &Admin{loopback: IsLoopback(bindHost), hint: DefaultTokenHint}
	if t := strings.TrimSpace(token); t != "" {
		a.configured = true
		a.digest = sum(t)
	}
	return a
}

// WithTokenHint returns a copy of a whose 403 message names hint as the
// place to set the admin token (e.g. "KEEPTRUSTS_ADMIN_TOKEN" for kt sim).
func (a *Admin) WithTokenHint(hint string) *Admin {
	b := *a
	b.hint = hint
	return &b
}

// Required reports whether management endpoints are refused without a valid
// token: a token is set, or the bind is not loopback.
func (a *Admin) Required() bool { return a.configured || !a.loopback }

// Configured reports whether an admin token is set.
func (a *Admin) Configured() bool { return a.configured }

// String describes the guard without any token material.
func (a *Admin) String() string {
	switch {
	case a.configured:
		return "admin: token required"
	case a.loopback:
		return "admin: open (loopback bind, no token)"
	default:
		return "admin: refused (non-loopback bind, no token)"
	}
}

// GoString is String, so that %#v shows no digest either.
func (a *Admin) GoString() string { return a.String() }

// Allow reports whether r may use management endpoints, for handlers that
// guard only a variant (e.g. /health?verbose). The token comparison is
// constant-time over SHA-256 digests, so neither the token's length nor its
// content leaks through timing.
func (a *Admin) Allow(r *http.Request) bool {
	if !a.configured {
		return a.loopback
	}
	tok, ok := BearerToken(r.Header)
	if !ok {
		return false
	}
	d := sum(tok)
	return subtle.ConstantTimeCompare(d[:], a.digest[:]) == 1
}

// Wrap returns h guarded by a. A missing or wrong token gets 401 with an
// OpenAI-style error (type invalid_request_error, code invalid_admin_token)
// and "WWW-Authenticate: Bearer realm="keeptrusts-admin""; a non-loopback
// bind without a configured token gets 403 (code admin_token_required)
// telling the operator how to fix it. Responses never contain the presented
// token.
func (a *Admin) Wrap(h http.Handler) http.Handler {
	if !a.Required() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Allow(r) {
			h.ServeHTTP(w, r)
			return
		}
		a.refuse(w)
	})
}

// Refuse writes the response Wrap sends to a request Allow refused, for
// handlers that guard only a variant.
func (a *Admin) Refuse(w http.ResponseWriter) { a.refuse(w) }

func (a *Admin) refuse(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if !a.configured {
		msg := fmt.Sprintf("management endpoints are disabled: this server is bound to a non-loopback address and no admin token is configured; set %s, or bind to 127.0.0.1", a.hint)
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(provider.ErrorJSON(msg, provider.ErrTypeInvalidRequest, "", CodeAdminTokenRequired))
		return
	}
	hd.Set("WWW-Authenticate", `Bearer realm="`+AdminRealm+`"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(provider.ErrorJSON(`missing or invalid admin token: send "Authorization: Bearer <admin token>"`,
		provider.ErrTypeInvalidRequest, "", CodeInvalidAdminToken))
}
