package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/keeptrusts/gateway/pkg/provider"
)

const (
	testTenant = "00000000-0000-0000-0000-000000000001"
	testClient = "00000000-0000-0000-0000-000000000002"
	testSecret = "not-a-real-secret"
	testToken  = "entra-token-1"
)

// fakeAuthority is a Microsoft Entra ID token endpoint on a local TLS
// server (the identity module refuses an authority without https): it
// serves the tenant's OpenID metadata and client-credentials tokens, and
// counts the token requests.
type fakeAuthority struct {
	srv    *httptest.Server
	tokens atomic.Int64
	// fail makes the token endpoint refuse the client.
	fail atomic.Bool
}

func newFakeAuthority(t *testing.T) *fakeAuthority {
	t.Helper()
	fa := &fakeAuthority{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := fa.srv.URL + "/" + r.PathValue("tenant")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_endpoint":%q,"issuer":%q,"authorization_endpoint":%q}`,
			base+"/oauth2/v2.0/token", base+"/v2.0", base+"/oauth2/v2.0/authorize")
	})
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		fa.tokens.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if fa.fail.Load() || r.PathValue("tenant") != testTenant || r.Form.Get("client_id") != testClient ||
			r.Form.Get("client_secret") != testSecret || !strings.Contains(r.Form.Get("scope"), Scope) || r.Form.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":%q}`, testToken)
	})
	fa.srv = httptest.NewTLSServer(mux)
	t.Cleanup(fa.srv.Close)
	return fa
}

// credential builds the gateway's credential from an environment pointing
// at the fake authority.
func (fa *fakeAuthority) credential(t *testing.T, secret string) azcore.TokenCredential {
	t.Helper()
	env := []string{
		"AZURE_TENANT_ID=" + testTenant, "AZURE_CLIENT_ID=" + testClient, "AZURE_CLIENT_SECRET=" + secret,
		"AZURE_AUTHORITY_HOST=" + fa.srv.URL,
	}
	cred, err := NewCredential(env, CredentialOptions{
		Client:                   azcore.ClientOptions{Transport: fa.srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// TestEntra authenticates requests with tokens from the identity module's
// client secret credential, configured from the AZURE_* variables: the
// token goes out as a bearer token (no api-key), is fetched once and
// reused, and a refused client fails the request without the secret in the
// error.
func TestEntra(t *testing.T) {
	t.Parallel()
	ep := &provider.Endpoint{BaseURL: "https://res.openai.azure.com"}
	body := []byte(`{"model":"gpt-4o","messages":[]}`)
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		fa := newFakeAuthority(t)
		a := NewAdapter("", nil, fa.credential(t, testSecret))
		const n = 3
		for i := range n {
			req, err := a.ChatRequest(context.Background(), ep, &provider.Request{Body: body, Model: "gpt-4o"})
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if got := req.Header.Get("Authorization"); got != "Bearer "+testToken {
				t.Errorf("Authorization = %q, want the Entra token", got)
			}
			if got := req.Header.Get("api-key"); got != "" {
				t.Errorf("api-key = %q, want none with entra", got)
			}
		}
		probe, err := a.ProbeRequest(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		if got := probe.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("probe Authorization = %q", got)
		}
		if got := fa.tokens.Load(); got != 1 {
			t.Errorf("token endpoint asked %d times for %d requests, want once (cached)", got, n+1)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		fa := newFakeAuthority(t)
		a := NewAdapter("", nil, fa.credential(t, "wrong-secret-value"))
		_, err := a.ChatRequest(context.Background(), ep, &provider.Request{Body: body, Model: "gpt-4o"})
		if err == nil {
			t.Fatal("request built without a token")
		}
		if strings.Contains(err.Error(), "wrong-secret-value") {
			t.Errorf("error shows the client secret: %v", err)
		}
		if !strings.Contains(err.Error(), "entra token") {
			t.Errorf("error = %v, want it to say the token failed", err)
		}
	})
	t.Run("new from the kind", func(t *testing.T) {
		t.Parallel()
		// Without the three variables the default chain is built; it only
		// fails when asked for a token, so New succeeds offline.
		ad, err := Kind.New(&provider.TargetSpec{ID: "az", BaseURL: ep.BaseURL, Auth: AuthEntra, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if ad.(*Adapter).cred == nil {
			t.Error("auth entra built no credential")
		}
	})
}

func TestLookup(t *testing.T) {
	t.Parallel()
	get := lookup([]string{"A=1", "B=x=y", "A=2", "C"})
	for k, want := range map[string]string{"A": "2", "B": "x=y", "C": "", "D": ""} {
		if got := get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
