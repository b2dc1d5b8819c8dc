// Package responses serves stateless OpenAI Responses API requests on
// targets without that API: requests are translated to Chat Completions
// for the target's own adapter, and answers, streams and errors back.
package responses

import "github.com/keeptrusts/gateway/pkg/provider"

// Bridge returns the adapter serving the Responses API through inner, a
// target's chat adapter. Not built yet: nil, the API is not served.
func Bridge(inner provider.Adapter) provider.Adapter { return nil }
