// Package gemini is the adapter for Google's generateContent API, spoken by
// two provider kinds: gemini (the Gemini API, authenticated with an API key)
// and vertex (Vertex AI, authenticated with Google application-default
// credentials). Clients speak OpenAI Chat Completions; this package
// translates their requests into generateContent requests and the answers,
// whole or streamed (streamGenerateContent?alt=sse), back into OpenAI's shape
// (translate.go for whole bodies, stream.go for events, embed.go for the
// embeddings API).
package gemini

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// Public endpoints.
const (
	// DefaultBaseURL is the Gemini API's base: models/{m}:generateContent
	// is appended.
	DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"
	// cloudPlatformScope is the OAuth scope Vertex AI requests need.
	cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	// vertexProbeModel is the model whose countTokens probes a Vertex
	// target: Vertex has no models list under a project's publisher path.
	vertexProbeModel = "gemini-2.5-flash"
)

// Kind is the gemini provider kind: the Gemini API with an API key.
var Kind = provider.Kind{
	Name:           "gemini",
	GenAIName:      "gcp.gemini",
	DefaultBaseURL: DefaultBaseURL,
	KeyRequired:    true,
	Sim:            "gemini",
	Probe:          "GET {base_url}/models (lists models, no tokens)",
	New:            func(t *provider.TargetSpec) (provider.Adapter, error) { return New(), nil },
}

// VertexKind is the vertex provider kind: Gemini models on Vertex AI with
// Google application-default credentials (or an express-mode API key).
var VertexKind = provider.Kind{
	Name:        "vertex",
	GenAIName:   "gcp.vertex_ai",
	KeyRequired: false,
	Fields:      []string{"project", "location"},
	Sim:         "gemini",
	Probe:       "POST {base}/models/" + vertexProbeModel + ":countTokens (free of charge)",
	Validate:    validateVertex,
	New:         func(t *provider.TargetSpec) (provider.Adapter, error) { return NewVertex(t) },
}

// validateVertex requires project and location unless base_url names the
// whole endpoint.
func validateVertex(t *provider.TargetSpec) []provider.FieldProblem {
	var ps []provider.FieldProblem
	if t.BaseURL != "" {
		if _, err := url.Parse(t.BaseURL); err != nil {
			ps = append(ps, provider.FieldProblem{Field: "base_url", Message: "not a URL"})
		}
		return ps
	}
	if t.Project == "" {
		ps = append(ps, provider.FieldProblem{Field: "project", Message: "required for provider vertex (the Google Cloud project id) unless base_url is set"})
	}
	if t.Location == "" {
		ps = append(ps, provider.FieldProblem{Field: "location", Message: `required for provider vertex (a region such as "us-central1", or "global") unless base_url is set`})
	} else if !validLocation(t.Location) {
		ps = append(ps, provider.FieldProblem{Field: "location", Message: fmt.Sprintf("%q is not a Vertex AI location (lower-case letters, digits and '-')", t.Location)})
	}
	return ps
}

// validLocation keeps a location from changing the host it is spliced into.
func validLocation(l string) bool {
	for i := 0; i < len(l); i++ {
		if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return l != ""
}

// VertexBaseURL is the base of a Vertex AI target's model URLs: the
// publisher path of project in location, on host (the regional host
// {location}-aiplatform.googleapis.com when empty; location "global" has
// no regional prefix).
func VertexBaseURL(host, project, location string) string {
	if host == "" {
		if location == "global" {
			host = "https://aiplatform.googleapis.com"
		} else {
			host = "https://" + location + "-aiplatform.googleapis.com"
		}
	}
	return strings.TrimSuffix(host, "/") + "/v1/projects/" + url.PathEscape(project) + "/locations/" + url.PathEscape(location) + "/publishers/google"
}

// tokenSource hands out OAuth access tokens; *auth.Credentials caches and
// refreshes them.
type tokenSource interface {
	Token(ctx context.Context) (*auth.Token, error)
}

// adapter implements provider.Adapter for both kinds.
type adapter struct {
	kind string
	// vertex selects Vertex AI's URL shape and probe.
	vertex bool
	// base is the Vertex base derived from the target; "" uses the
	// endpoint's BaseURL (gemini).
	base string
	// creds authenticates Vertex requests sent without an API key.
	creds tokenSource
	// now and newID are fields so that tests can pin the created
	// timestamps and the generated tool call ids.
	now   func() time.Time
	newID func() string
	embed *embedAdapter
}

var (
	_ provider.Adapter       = (*adapter)(nil)
	_ provider.ParamAdapter  = (*adapter)(nil)
	_ provider.NativeAdapter = (*adapter)(nil)
)

// New returns the Gemini API adapter (kind "gemini").
func New() provider.Adapter {
	a := &adapter{kind: "gemini", now: time.Now, newID: newCallID}
	a.embed = &embedAdapter{a: a}
	return a
}

// NewVertex returns the Vertex AI adapter (kind "vertex") of one target.
// Without an API key it finds Google application-default credentials now
// (GOOGLE_APPLICATION_CREDENTIALS from t.Environ or the process, the gcloud
// well-known file, the metadata server), so that a target without any fails
// at start-up; tokens are fetched, cached and refreshed by
// cloud.google.com/go/auth when requests need them.
func NewVertex(t *provider.TargetSpec) (provider.Adapter, error) {
	a := &adapter{kind: "vertex", vertex: true, now: time.Now, newID: newCallID}
	a.embed = &embedAdapter{a: a}
	switch u, _ := url.Parse(t.BaseURL); {
	case t.BaseURL == "":
		a.base = VertexBaseURL("", t.Project, t.Location)
	case t.Project != "" && t.Location != "" && u != nil && strings.Trim(u.Path, "/") == "":
		// A host override (a Private Service Connect endpoint, a proxy, the
		// simulator) under which the usual path still applies.
		a.base = VertexBaseURL(t.BaseURL, t.Project, t.Location)
	default:
		a.base = strings.TrimSuffix(t.BaseURL, "/")
	}
	if t.APIKey != "" {
		return a, nil
	}
	creds, err := detectCredentials(t.Environ)
	if err != nil {
		if lookupEnv(t.Environ, "GOOGLE_APPLICATION_CREDENTIALS") == "" {
			// The library's own message points at a web page; say here
			// what the gateway reads, so the start-up error is enough.
			return nil, fmt.Errorf("no google application-default credentials (set GOOGLE_APPLICATION_CREDENTIALS to a credentials file, run gcloud auth application-default login, run on Google Cloud, or give the target a secret_key_ref API key): %w", err)
		}
		return nil, fmt.Errorf("google credentials: %w", err)
	}
	a.creds = creds
	return a, nil
}

// detectCredentials finds application-default credentials, reading
// GOOGLE_APPLICATION_CREDENTIALS from environ when it is given (the
// library itself reads only the process environment).
func detectCredentials(environ []string) (*auth.Credentials, error) {
	opts := &credentials.DetectOptions{Scopes: []string{cloudPlatformScope}}
	if file := lookupEnv(environ, "GOOGLE_APPLICATION_CREDENTIALS"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		// The file's own type decides how it is read, as DetectDefault
		// does; naming it keeps an unexpected type an error.
		typ := gjson.GetBytes(b, "type").String()
		if typ == "" {
			return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS names a file without a credential type")
		}
		return credentials.NewCredentialsFromJSON(credentials.CredType(typ), b, opts)
	}
	return credentials.DetectDefault(opts)
}

// lookupEnv reads key from environ (nil: the process environment).
func lookupEnv(environ []string, key string) string {
	if environ == nil {
		return os.Getenv(key)
	}
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// Kind is "gemini" or "vertex".
func (a *adapter) Kind() string { return a.kind }

// baseURL is where models/{m}:... is appended.
func (a *adapter) baseURL(ep *provider.Endpoint) string {
	if a.base != "" {
		return a.base
	}
	if ep.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimSuffix(ep.BaseURL, "/")
}

// modelURL is {base}/models/{model}:{method}.
func (a *adapter) modelURL(ep *provider.Endpoint, model, method string) string {
	return a.baseURL(ep) + "/models/" + url.PathEscape(model) + ":" + method
}

// setHeaders copies the static and client headers, then sets the
// credential this adapter owns, so that neither can replace it: the API key
// as x-goog-api-key, or a Vertex bearer token.
func (a *adapter) setHeaders(ctx context.Context, h http.Header, ep *provider.Endpoint, client http.Header, keyOverride string) error {
	for k, v := range ep.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	for k, v := range client {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	h.Del("Authorization")
	h.Del("X-Goog-Api-Key")
	key := ep.APIKey
	if keyOverride != "" {
		key = keyOverride
	}
	switch {
	case key != "":
		h.Set("X-Goog-Api-Key", key)
	case a.creds != nil:
		tok, err := a.creds.Token(ctx)
		if err != nil {
			// The library's errors name the token endpoint, never the
			// credential itself.
			return fmt.Errorf("vertex access token: %w", err)
		}
		typ := tok.Type
		if typ == "" {
			typ = "Bearer"
		}
		h.Set("Authorization", typ+" "+tok.Value)
	}
	return nil
}

// ChatRequest builds POST {base}/models/{model}:generateContent (or
// :streamGenerateContent?alt=sse) from the client's OpenAI body.
func (a *adapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	model := r.Model
	if model == "" {
		model = gjson.GetBytes(r.Body, "model").String()
	}
	if model == "" {
		return nil, &provider.RequestError{Param: "model", Message: "model is required"}
	}
	body, err := translateRequest(r.Body, ep.DefaultMaxTokens)
	if err != nil {
		return nil, err
	}
	u := a.modelURL(ep, model, "generateContent")
	if r.Stream {
		u = a.modelURL(ep, model, "streamGenerateContent") + "?alt=sse"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", a.kind, err)
	}
	if err := a.setHeaders(ctx, req.Header, ep, r.Header, r.APIKey); err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	return req, nil
}

// ChatResponse translates a 2xx GenerateContentResponse into a
// chat.completion.
func (a *adapter) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	return translateResponseIDs(body, requestedModel(r), a.now().Unix(), a.newID)
}

// requestedModel is the model asked for, reported when the answer names
// none.
func requestedModel(r *provider.Request) string {
	if r == nil {
		return ""
	}
	if r.Model != "" {
		return r.Model
	}
	return gjson.GetBytes(r.Body, "model").String()
}

// ProbeRequest costs no tokens: the Gemini API lists models (GET
// {base}/models?pageSize=1); Vertex AI, which has no models list under a
// project, counts the tokens of a one-word prompt (countTokens is free of
// charge). Both fail with 401/403 on a bad key or token.
func (a *adapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	var req *http.Request
	var err error
	if a.vertex {
		body := []byte(`{"contents":[{"role":"user","parts":[{"text":"ping"}]}]}`)
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, a.modelURL(ep, vertexProbeModel, "countTokens"), bytes.NewReader(body))
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, a.baseURL(ep)+"/models?pageSize=1", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("build %s probe: %w", a.kind, err)
	}
	if err := a.setHeaders(ctx, req.Header, ep, nil, ""); err != nil {
		return nil, err
	}
	if a.vertex {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Native serves the embeddings API with embedContent (provider.NativeAdapter).
func (a *adapter) Native(api provider.API) provider.Adapter {
	if api == provider.APIEmbeddings {
		return a.embed
	}
	return nil
}
