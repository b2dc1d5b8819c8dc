// Package inbound decides how each target serves each of the gateway's
// APIs (provider.API): with its kind's native adapter for that API when
// the kind has one (provider.NativeAdapter: Anthropic's Messages API on an
// anthropic target, the Responses API on an openai one), else through a
// bridge that translates the API to and from Chat Completions and hands
// the chat request to the target's own adapter (messages.Bridge,
// responses.Bridge), else not at all (embeddings and legacy completions
// have no chat equivalent). The router reads the result from
// router.Target.APIs; nothing else chooses.
package inbound

import (
	"github.com/keeptrusts/gateway/pkg/inbound/messages"
	"github.com/keeptrusts/gateway/pkg/inbound/responses"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// Options are a target's settings that change how it serves an API.
type Options struct {
	// ResponsesAPI is capabilities.responses_api: false sends Responses
	// API requests through the chat bridge even when the kind serves the
	// API natively (an OpenAI-compatible server without /v1/responses);
	// nil = the kind's default.
	ResponsesAPI *bool
}

// Adapters returns the adapter serving each API on a target whose chat
// adapter is base; nil entries are APIs the target does not serve.
func Adapters(base provider.Adapter, o Options) [provider.NumAPIs]provider.Adapter {
	var out [provider.NumAPIs]provider.Adapter
	out[provider.APIChat] = base
	native, _ := base.(provider.NativeAdapter)
	for api := provider.APIChat + 1; api < provider.NumAPIs; api++ {
		if native != nil && !(api == provider.APIResponses && o.ResponsesAPI != nil && !*o.ResponsesAPI) {
			if ad := native.Native(api); ad != nil {
				out[api] = ad
				continue
			}
		}
		switch api {
		case provider.APIMessages:
			out[api] = messages.Bridge(base)
		case provider.APIResponses:
			out[api] = responses.Bridge(base)
		}
	}
	return out
}
