package anthropic

import "github.com/keeptrusts/gateway/pkg/provider"

// Kind is the anthropic provider kind: Anthropic's Messages API, which
// requires max_tokens on every request.
var Kind = provider.Kind{
	Name:             "anthropic",
	GenAIName:        "anthropic",
	DefaultBaseURL:   defaultBaseURL,
	KeyRequired:      true,
	DefaultMaxTokens: 4096,
	Fields:           []string{"anthropic_version"},
	Sim:              "anthropic",
	Probe:            "GET /v1/models?limit=1 (lists one model, no tokens)",
	Prefill:          true,
	New:              func(*provider.TargetSpec) (provider.Adapter, error) { return New(), nil },
}
