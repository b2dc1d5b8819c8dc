// Package messages serves Anthropic's Messages API on targets that do not
// speak it: requests are translated to OpenAI Chat Completions for the
// target's own adapter, and answers, streams and errors back.
package messages

import "github.com/keeptrusts/gateway/pkg/provider"

// Bridge returns the adapter serving the Messages API through inner, a
// target's chat adapter. Not built yet: nil, the API is not served.
func Bridge(inner provider.Adapter) provider.Adapter { return nil }
