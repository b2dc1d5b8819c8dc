// Package azure is the adapter for Azure OpenAI: OpenAI's wire format at
// another URL and with another authentication. Requests, answers and
// streams are the openai adapter's; this package only places a request on
// the resource's deployment URL with its api-version, and authenticates it
// with the resource key (api-key header) or a Microsoft Entra ID token.
package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// KindName is the provider kind, as written in providers.targets[].provider.
const KindName = "azure_openai"

// DefaultAPIVersion is the api-version sent when a target sets none: the
// latest generally available version of the data-plane API whose
// deployments URL shape this adapter uses.
const DefaultAPIVersion = "2024-10-21"

// Scope is the Entra ID scope of Azure OpenAI (Cognitive Services) tokens.
const Scope = "https://cognitiveservices.azure.com/.default"

// The auth values a target may set.
const (
	// AuthAPIKey sends the target's secret_key_ref as the api-key header
	// (the default).
	AuthAPIKey = "api_key"
	// AuthEntra sends a Microsoft Entra ID token as Authorization: Bearer.
	AuthEntra = "entra"
)

// Kind is azure_openai's description for the kind table.
var Kind = provider.Kind{
	Name:            KindName,
	GenAIName:       "azure.ai.openai",
	BaseURLRequired: true,
	// Entra ID needs no key; Validate asks for one when auth is api_key.
	KeyRequired: false,
	Fields:      []string{"api_version", "deployments", "auth"},
	Sim:         KindName,
	Probe:       "GET {base_url}/openai/models?api-version=V (lists the resource's models; costs no tokens)",
	Validate:    Validate,
	New:         New,
}

// Adapter implements provider.Adapter for one Azure OpenAI target. It is
// built per target: the deployments, api-version and credential are the
// target's.
type Adapter struct {
	// oa builds the bodies and reads the answers: Azure speaks OpenAI's
	// format, and ignores the body's model (the deployment chooses it).
	oa *openai.Adapter
	// query is the encoded api-version query every request carries.
	query string
	// deployments maps a model to its deployment; a model without an
	// entry is its own deployment name.
	deployments map[string]string
	// cred issues Entra ID tokens; nil when the target uses its key.
	cred azcore.TokenCredential

	embeddings, completions *nativeAdapter
}

var (
	_ provider.Adapter       = (*Adapter)(nil)
	_ provider.NativeAdapter = (*Adapter)(nil)
	_ provider.Prefiller     = (*Adapter)(nil)
)

// New builds the adapter of one target. With auth entra it builds the
// target's credential (see NewCredential): a missing or broken
// configuration is an error at start-up, not on the first request.
func New(t *provider.TargetSpec) (provider.Adapter, error) {
	var cred azcore.TokenCredential
	if t.Auth == AuthEntra {
		c, err := NewCredential(t.Environ, CredentialOptions{})
		if err != nil {
			return nil, fmt.Errorf("entra credential: %w", err)
		}
		cred = c
	}
	return NewAdapter(t.APIVersion, t.Deployments, cred), nil
}

// NewAdapter returns an adapter sending apiVersion ("" = DefaultAPIVersion)
// and mapping models through deployments. cred, when not nil, authenticates
// every request with an Entra ID token for Scope instead of the key.
func NewAdapter(apiVersion string, deployments map[string]string, cred azcore.TokenCredential) *Adapter {
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	a := &Adapter{
		oa:          openai.New(KindName),
		query:       url.Values{"api-version": {apiVersion}}.Encode(),
		deployments: deployments,
		cred:        cred,
	}
	a.embeddings = &nativeAdapter{a: a, inner: a.oa.Native(provider.APIEmbeddings)}
	a.completions = &nativeAdapter{a: a, inner: a.oa.Native(provider.APICompletions)}
	return a
}

// Kind implements provider.Adapter.
func (a *Adapter) Kind() string { return KindName }

// Deployment is the deployment that serves model on this target.
func (a *Adapter) Deployment(model string) string {
	if d, ok := a.deployments[model]; ok && d != "" {
		return d
	}
	return model
}

// ChatRequest implements provider.Adapter:
// POST {base}/openai/deployments/{deployment}/chat/completions?api-version=V.
func (a *Adapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	return a.build(ctx, ep, r, a.oa)
}

// build has inner (the openai adapter of the API) build the request against
// the deployment's URL without credentials, then adds the query and Azure's
// authentication.
func (a *Adapter) build(ctx context.Context, ep *provider.Endpoint, r *provider.Request, inner provider.Adapter) (*http.Request, error) {
	// Copies, so that the shared endpoint and the attempt's request are not
	// changed: without a key the openai adapter sets no Authorization.
	dep := provider.Endpoint{
		BaseURL:          ep.BaseURL + "/openai/deployments/" + url.PathEscape(a.Deployment(r.Model)),
		Header:           ep.Header,
		DefaultMaxTokens: ep.DefaultMaxTokens,
	}
	rr := *r
	rr.APIKey = ""
	req, err := inner.ChatRequest(ctx, &dep, &rr)
	if err != nil {
		return nil, err
	}
	req.URL.RawQuery = a.query
	if err := a.authorize(ctx, req.Header, ep.APIKey, r.APIKey); err != nil {
		return nil, err
	}
	return req, nil
}

// authorize sets the request's credentials: a forwarded client key wins,
// then an Entra ID token, then the target's key.
func (a *Adapter) authorize(ctx context.Context, h http.Header, key, override string) error {
	switch {
	case override != "":
		h["Api-Key"] = []string{override}
	case a.cred != nil:
		// The credential caches its token and refreshes it before it
		// expires: most calls return at once without a round trip.
		tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
		if err != nil {
			return fmt.Errorf("entra token: %w", err)
		}
		h["Authorization"] = []string{"Bearer " + tok.Token}
	case key != "":
		h["Api-Key"] = []string{key}
	}
	return nil
}

// ChatResponse implements provider.Adapter: OpenAI's chat completion. An
// answer whose finish_reason is content_filter (the completion was
// filtered) is an answer and passes as is.
func (a *Adapter) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	return a.oa.ChatResponse(body, r)
}

// NewStream implements provider.Adapter: OpenAI's chunks. Azure's first
// chunk carries only prompt_filter_results (no choices, no model); it is a
// lifecycle frame like the role-only chunk.
func (a *Adapter) NewStream(r *provider.Request) provider.Stream { return a.oa.NewStream(r) }

// ErrorBody implements provider.Adapter: see errorBody.
func (a *Adapter) ErrorBody(status int, body []byte) []byte { return errorBody(status, body) }

// ProbeRequest implements provider.Adapter: GET {base}/openai/models lists
// the models the resource offers, costs no tokens and fails with a bad key
// or token.
func (a *Adapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.BaseURL+"/openai/models?"+a.query, nil)
	if err != nil {
		return nil, fmt.Errorf("build probe: %w", err)
	}
	for k, v := range ep.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	if err := a.authorize(ctx, req.Header, ep.APIKey, ""); err != nil {
		return nil, err
	}
	return req, nil
}

// WantsMaxCompletionTokens implements provider.TokenLimiter: Azure serves
// OpenAI's models, whose reasoning models refuse max_tokens.
func (a *Adapter) WantsMaxCompletionTokens() bool { return true }

// AcceptsPrefill implements provider.Prefiller: Azure serves OpenAI's
// models, which answer a final assistant message as a new turn.
func (a *Adapter) AcceptsPrefill(string) bool { return false }

// Native implements provider.NativeAdapter: embeddings and legacy
// completions pass through on their deployment URLs. The Responses API is
// served by the bridge to chat (nil here): Azure serves it only on its
// newer /openai/v1 surface, not under deployments.
func (a *Adapter) Native(api provider.API) provider.Adapter {
	switch api {
	case provider.APIEmbeddings:
		return a.embeddings
	case provider.APICompletions:
		return a.completions
	}
	return nil
}

// nativeAdapter serves one of the other OpenAI APIs on a deployment URL.
type nativeAdapter struct {
	a     *Adapter
	inner provider.Adapter
}

// Kind implements provider.Adapter.
func (n *nativeAdapter) Kind() string { return KindName }

// ChatRequest implements provider.Adapter.
func (n *nativeAdapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	return n.a.build(ctx, ep, r, n.inner)
}

// ChatResponse implements provider.Adapter.
func (n *nativeAdapter) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	return n.inner.ChatResponse(body, r)
}

// NewStream implements provider.Adapter.
func (n *nativeAdapter) NewStream(r *provider.Request) provider.Stream { return n.inner.NewStream(r) }

// ErrorBody implements provider.Adapter.
func (n *nativeAdapter) ErrorBody(status int, body []byte) []byte { return errorBody(status, body) }

// ProbeRequest implements provider.Adapter.
func (n *nativeAdapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	return n.a.ProbeRequest(ctx, ep)
}

// errorBody maps Azure's error bodies to OpenAI's shape. Azure's own
// {"error":{"code","message",...}} keeps everything it says (the
// content_filter innererror and its filter results tell the client what
// was filtered), with the "type" OpenAI's SDKs read added when Azure left
// it out or null. The {"statusCode":N,"message":"..."} of the gateway in
// front of some resources, and anything else, become an OpenAI error.
func errorBody(status int, body []byte) []byte {
	msg := fmt.Sprintf("upstream answered HTTP %d", status)
	if gjson.ValidBytes(body) {
		res := gjson.GetManyBytes(body, "error.message", "error.type", "message")
		if res[0].Type == gjson.String {
			if res[1].Type == gjson.String && res[1].Str != "" {
				return body
			}
			if out, err := sjson.SetBytes(body, "error.type", provider.ErrorTypeForStatus(status)); err == nil {
				return out
			}
			return body
		}
		if res[2].Type == gjson.String && res[2].Str != "" {
			msg += ": " + res[2].Str
		}
	}
	return provider.ErrorJSON(msg, provider.ErrorTypeForStatus(status), "", "")
}

// apiVersionRE is the shape of a dated api-version (2024-10-21,
// 2025-04-01-preview).
var apiVersionRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$`)

// deploymentRE is what Azure accepts as a deployment name: letters,
// digits, '_', '-' and '.', up to 64 characters.
var deploymentRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate checks an azure_openai target's fields: auth, api_version's
// shape, the deployment names, a key when auth is api_key, and a base_url
// that is the resource endpoint (not a deployment URL).
func Validate(t *provider.TargetSpec) []provider.FieldProblem {
	var out []provider.FieldProblem
	add := func(field, format string, args ...any) {
		out = append(out, provider.FieldProblem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch t.Auth {
	case "", AuthAPIKey:
		if t.APIKey == "" && !t.HasKey {
			add("secret_key_ref", "azure_openai with auth %s needs the resource key (or set auth: %s)", AuthAPIKey, AuthEntra)
		}
	case AuthEntra:
	default:
		add("auth", "%q is not an azure_openai auth: want %s or %s", t.Auth, AuthAPIKey, AuthEntra)
	}
	if t.APIVersion != "" && !apiVersionRE.MatchString(t.APIVersion) {
		add("api_version", "%q is not an Azure OpenAI api-version (want a date such as %s, or one with -preview)", t.APIVersion, DefaultAPIVersion)
	}
	for model, dep := range t.Deployments {
		switch {
		case model == "":
			add("deployments", "a deployment is mapped from an empty model name")
		case !deploymentRE.MatchString(dep):
			add("deployments."+model, "%q is not a deployment name (1 to 64 letters, digits, '_', '-' or '.')", dep)
		}
	}
	if t.BaseURL != "" {
		u, err := url.Parse(t.BaseURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add("base_url", "the resource endpoint must be an http(s) URL such as https://NAME.openai.azure.com")
		case u.RawQuery != "" || strings.Contains(strings.TrimSuffix(u.Path, "/")+"/", "/openai/"):
			add("base_url", "give the resource endpoint (https://NAME.openai.azure.com): the gateway adds /openai/deployments/... and api-version itself")
		}
	}
	return out
}
