package gemini

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// tokenServer is a local OAuth token endpoint for a service account: it
// checks the JWT-bearer grant and hands out token, counting the calls.
func tokenServer(t *testing.T, token string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"` + token + `","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// serviceAccountFile writes a service-account key file whose token_uri is
// tokenURL, with a key made for the test.
func serviceAccountFile(t *testing.T, tokenURL string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sa := map[string]string{
		"type":           "service_account",
		"project_id":     "test-project",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "gw@test-project.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenURL,
	}
	b, err := json.Marshal(sa)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVertexApplicationDefaultCredentials(t *testing.T) {
	tok, calls := tokenServer(t, "ya29.offline-token")
	file := serviceAccountFile(t, tok.URL)
	a, err := NewVertex(&provider.TargetSpec{ID: "vx", Project: "p", Location: "us-central1", Environ: []string{"GOOGLE_APPLICATION_CREDENTIALS=" + file}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	for i := range 3 {
		req, err := a.ChatRequest(context.Background(), &provider.Endpoint{}, &provider.Request{Body: body, Model: "gemini-2.5-flash"})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := req.Header.Get("Authorization"); got != "Bearer ya29.offline-token" {
			t.Fatalf("request %d: authorization %q", i, got)
		}
		if req.Header.Get("X-Goog-Api-Key") != "" {
			t.Errorf("request %d: an API key was sent with the token", i)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times for 3 requests, want 1 (cached)", n)
	}
}

func TestVertexCredentialErrors(t *testing.T) {
	tok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, http.StatusBadRequest)
	}))
	defer tok.Close()
	file := serviceAccountFile(t, tok.URL)
	a, err := NewVertex(&provider.TargetSpec{ID: "vx", Project: "p", Location: "us-central1", Environ: []string{"GOOGLE_APPLICATION_CREDENTIALS=" + file}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.ChatRequest(context.Background(), &provider.Endpoint{}, &provider.Request{Body: []byte(`{"messages":[{"role":"user","content":"x"}]}`), Model: "m"})
	if err == nil {
		t.Fatal("a refused token still built a request")
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("error shows the key: %v", err)
	}

	missing := filepath.Join(t.TempDir(), "none.json")
	if _, err := NewVertex(&provider.TargetSpec{ID: "vx", Project: "p", Location: "l", Environ: []string{"GOOGLE_APPLICATION_CREDENTIALS=" + missing}}); err == nil || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
		t.Errorf("missing credentials file: err %v", err)
	}
}
