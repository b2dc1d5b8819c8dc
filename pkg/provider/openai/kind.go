package openai

import "github.com/keeptrusts/gateway/pkg/provider"

// Kind is the openai provider kind: OpenAI's public API.
var Kind = provider.Kind{
	Name:           "openai",
	GenAIName:      "openai",
	DefaultBaseURL: "https://api.openai.com/v1",
	KeyRequired:    true,
	Sim:            "openai",
	Probe:          "GET /models (lists models, no tokens)",
	New:            func(*provider.TargetSpec) (provider.Adapter, error) { return New("openai"), nil },
}

// CompatibleKind is the openai_compatible provider kind: a server speaking
// OpenAI's format (vLLM, Ollama, LM Studio, a proxy). It has no public API
// to default to, and many such servers take no key. Its spans name the
// format it speaks ("openai"); the kind stays in keeptrusts.target.kind.
var CompatibleKind = provider.Kind{
	Name:            "openai_compatible",
	GenAIName:       "openai",
	BaseURLRequired: true,
	Sim:             "openai",
	Probe:           "GET /models (lists models, no tokens)",
	Prefill:         true,
	New:             func(*provider.TargetSpec) (provider.Adapter, error) { return New("openai_compatible"), nil },
}
