package provider

import "net/http"

// Kind describes one provider kind: everything the rest of the gateway
// (config validation and defaults, the gateway's adapter choice, telemetry
// names, the simulator a drill or the demo starts, lint) needs to know
// about it. Each adapter package declares its kind(s) once (openai.Kind,
// anthropic.Kind, ...); pkg/provider/kinds lists them in one table, and
// nothing else names a kind.
type Kind struct {
	// Name is the kind as written in providers.targets[].provider.
	Name string
	// GenAIName is the OpenTelemetry gen_ai.provider.name of the kind's
	// requests ("openai", "anthropic", "azure.ai.openai", "aws.bedrock",
	// "gcp.gemini", "gcp.vertex_ai").
	GenAIName string
	// DefaultBaseURL is the provider's public API, used when base_url is
	// not set; "" when the URL is derived from other fields (Region,
	// Project and Location) or must be given.
	DefaultBaseURL string
	// BaseURLRequired makes base_url mandatory (openai_compatible).
	BaseURLRequired bool
	// KeyRequired makes secret_key_ref mandatory; kinds that authenticate
	// with cloud credentials (SigV4, Google or Entra tokens) leave it off.
	KeyRequired bool
	// DefaultMaxTokens is the max_tokens sent when a request has none and
	// the provider requires it; 0 = not required.
	DefaultMaxTokens int
	// Fields are the kind-specific target fields it accepts, by their
	// config name (api_version, deployments, region, project, location,
	// auth, anthropic_version); any other kind-specific field set on a
	// target of this kind is a lint error.
	Fields []string
	// Prefill is the kind's default for capabilities.prefill: its targets
	// may continue a partial assistant message (mid-stream continuation
	// needs one). The adapter's AcceptsPrefill still decides per model;
	// this only lets lint tell whether any target could.
	Prefill bool
	// Sim is the `kt sim --kind` that speaks the kind's wire format, for
	// drills and the demo.
	Sim string
	// Probe says in a few words how the kind's health probe costs no
	// tokens (docs and lint output).
	Probe string
	// Validate checks the kind-specific fields of a target; each problem
	// names its field (relative to the target, e.g. "deployments"). May be
	// nil.
	Validate func(t *TargetSpec) []FieldProblem
	// New builds the adapter of one target.
	New func(t *TargetSpec) (Adapter, error)
}

// KeyConfigured is the APIKey Kind.Validate sees for a target that will
// have a key: validation checks that there is one, never what it is.
const KeyConfigured = "(configured)"

// TargetSpec is what a kind's constructor and validation get of one
// target's configuration: pkg/config's types stay out of pkg/provider.
type TargetSpec struct {
	// ID is the target id.
	ID string
	// BaseURL is base_url ("" = the kind's default).
	BaseURL string
	// APIKey is the resolved secret_key_ref ("" when none). Kind.Validate
	// runs before secrets are resolved and sees KeyConfigured instead when
	// the target has secret_key_ref or forward_client_auth.
	APIKey string
	// Header holds the target's static headers.
	Header http.Header
	// DefaultMaxTokens is default_max_tokens (0 = the kind's default).
	DefaultMaxTokens int
	// AnthropicVersion is anthropic_version.
	AnthropicVersion string
	// APIVersion is api_version (azure_openai).
	APIVersion string
	// Deployments maps a model to its deployment name (azure_openai).
	Deployments map[string]string
	// Region is the cloud region (bedrock).
	Region string
	// Project and Location place a Vertex AI endpoint (vertex).
	Project, Location string
	// Auth chooses how the target authenticates when the kind offers more
	// than one way ("" = its default; azure_openai: "api_key" or "entra").
	Auth string
	// Environ is the environment the gateway was started with, for
	// credential chains that read it (AWS_*, AZURE_*,
	// GOOGLE_APPLICATION_CREDENTIALS); nil = the process environment.
	Environ []string
}

// FieldProblem is a problem with one kind-specific field of a target.
type FieldProblem struct {
	// Field is the field's path under the target ("deployments.gpt-4o").
	Field string
	// Message explains it; never a secret's value.
	Message string
}
