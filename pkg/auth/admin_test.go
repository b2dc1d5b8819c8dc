package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	canaryToken = "canary-admin-token-7f3a9c"
	canaryWrong = "canary-wrong-token-41d2e8"
)

type errBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// serve runs one request through a.Wrap around a handler that answers 200
// "managed".
func serve(a *Admin, authz string) *httptest.ResponseRecorder {
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("managed"))
	}))
	r := httptest.NewRequest(http.MethodPost, "/admin/reload", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAdminWrapMatrix(t *testing.T) {
	const (
		missing = ""
		wrong   = "Bearer " + canaryWrong
		right   = "Bearer " + canaryToken
	)
	tests := []struct {
		bind, token, authz string
		want               int
		wantCode           string
	}{
		// Loopback, no token: open to anyone who can reach it.
		{"127.0.0.1", "", missing, 200, ""},
		{"127.0.0.1", "", wrong, 200, ""},
		{"localhost", "", missing, 200, ""},
		{"::1", "", missing, 200, ""},
		// Loopback with a token: the token is always required.
		{"127.0.0.1", canaryToken, missing, 401, CodeInvalidAdminToken},
		{"127.0.0.1", canaryToken, wrong, 401, CodeInvalidAdminToken},
		{"127.0.0.1", canaryToken, right, 200, ""},
		{"127.0.0.1", canaryToken, "bearer " + canaryToken, 200, ""},
		{"127.0.0.1", canaryToken, "Basic " + canaryToken, 401, CodeInvalidAdminToken},
		{"127.0.0.1", canaryToken, "Bearer " + canaryToken + "x", 401, CodeInvalidAdminToken},
		{"127.0.0.1", canaryToken, "Bearer " + canaryToken[:len(canaryToken)-1], 401, CodeInvalidAdminToken},
		// Non-loopback, no token: refused whatever is sent.
		{"0.0.0.0", "", missing, 403, CodeAdminTokenRequired},
		{"0.0.0.0", "", wrong, 403, CodeAdminTokenRequired},
		{"", "", missing, 403, CodeAdminTokenRequired},
		{"10.0.0.5", "", right, 403, CodeAdminTokenRequired},
		// Non-loopback with a token.
		{"0.0.0.0", canaryToken, missing, 401, CodeInvalidAdminToken},
		{"0.0.0.0", canaryToken, wrong, 401, CodeInvalidAdminToken},
		{"0.0.0.0", canaryToken, right, 200, ""},
		{"::", canaryToken, right, 200, ""},
		// A trailing newline on the configured token (from a file) is ignored.
		{"0.0.0.0", canaryToken + "\n", right, 200, ""},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("bind=%q token=%v authz=%s", tc.bind, tc.token != "", strings.SplitN(tc.authz, "-", 2)[0])
		t.Run(name, func(t *testing.T) {
			a := NewAdmin(tc.bind, tc.token)
			w := serve(a, tc.authz)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 200 {
				if w.Body.String() != "managed" {
					t.Fatalf("body %q", w.Body)
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var b errBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, w.Body)
			}
			if b.Error.Type != "invalid_request_error" || b.Error.Code == nil || *b.Error.Code != tc.wantCode || b.Error.Param != nil {
				t.Fatalf("error body %s", w.Body)
			}
			wwwAuth := w.Header().Get("WWW-Authenticate")
			switch tc.want {
			case 401:
				if wwwAuth != `Bearer realm="keeptrusts-admin"` {
					t.Fatalf("WWW-Authenticate %q", wwwAuth)
				}
				if !strings.Contains(b.Error.Message, `"Authorization: Bearer <admin token>"`) {
					t.Fatalf("401 message %q", b.Error.Message)
				}
			case 403:
				if wwwAuth != "" {
					t.Fatalf("403 with WWW-Authenticate %q", wwwAuth)
				}
				if !strings.Contains(b.Error.Message, "admin.token_ref") || !strings.Contains(b.Error.Message, "127.0.0.1") {
					t.Fatalf("403 message %q", b.Error.Message)
				}
			}
		})
	}
}

func TestAdminRequiredConfiguredAllow(t *testing.T) {
	tests := []struct {
		bind, token          string
		required, configured bool
	}{
		{"127.0.0.1", "", false, false},
		{"127.0.0.1", "t", true, true},
		{"0.0.0.0", "", true, false},
		{"0.0.0.0", "t", true, true},
		{"0.0.0.0", "  \n", true, false}, // whitespace only is no token
	}
	for _, tc := range tests {
		a := NewAdmin(tc.bind, tc.token)
		if a.Required() != tc.required || a.Configured() != tc.configured {
			t.Errorf("NewAdmin(%q, %q): Required %v Configured %v", tc.bind, tc.token, a.Required(), a.Configured())
		}
		r := httptest.NewRequest(http.MethodGet, "/health?verbose", nil)
		if got := a.Allow(r); got == tc.required {
			t.Errorf("NewAdmin(%q, %q).Allow(no header) = %v", tc.bind, tc.token, got)
		}
	}
}

func TestAdminTokenHint(t *testing.T) {
	base := NewAdmin("0.0.0.0", "")
	a := base.WithTokenHint("KEEPTRUSTS_ADMIN_TOKEN")
	w := serve(a, "")
	if w.Code != 403 || !strings.Contains(w.Body.String(), "set KEEPTRUSTS_ADMIN_TOKEN, or bind to 127.0.0.1") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := serve(base, ""); !strings.Contains(w.Body.String(), "admin.token_ref") {
		t.Fatalf("WithTokenHint changed the original: %s", w.Body)
	}
	rec := httptest.NewRecorder()
	a.Refuse(rec)
	if rec.Code != 403 || rec.Body.String() != w.Body.String() {
		t.Fatalf("Refuse: %d %s", rec.Code, rec.Body)
	}
}

// TestAdminNeverEchoesTokens is the canary: across every outcome neither the
// configured token nor a presented one appears in a response or in the
// guard's formatted forms.
func TestAdminNeverEchoesTokens(t *testing.T) {
	for _, bind := range []string{"127.0.0.1", "0.0.0.0"} {
		for _, token := range []string{"", canaryToken} {
			a := NewAdmin(bind, token)
			for _, s := range []string{a.String(), fmt.Sprintf("%v %+v %#v %s", a, a, a, a)} {
				if strings.Contains(s, canaryToken) || strings.Contains(s, HashKey(canaryToken)[len(HashPrefix):]) {
					t.Fatalf("formatted Admin holds token material: %s", s)
				}
			}
			for _, authz := range []string{"", "Bearer " + canaryWrong, "Bearer " + canaryToken, "Basic " + canaryWrong, canaryWrong} {
				w := serve(a, authz)
				dump := w.Body.String()
				for k, vs := range w.Header() {
					dump += "\n" + k + ": " + strings.Join(vs, ", ")
				}
				for _, c := range []string{canaryToken, canaryWrong, "canary"} {
					if strings.Contains(dump, c) {
						t.Fatalf("bind %s token %v authz %q: response contains %q:\n%s", bind, token != "", authz, c, dump)
					}
				}
			}
		}
	}
}
