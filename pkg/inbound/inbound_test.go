package inbound

import (
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// TestAdapters holds the table of how each kind serves each API: native,
// bridged through chat, or not at all.
func TestAdapters(t *testing.T) {
	no := false
	const (
		native  = "native"
		bridged = "bridge"
		none    = "-"
	)
	tests := []struct {
		name string
		base provider.Adapter
		opts Options
		want [provider.NumAPIs]string
	}{
		{"openai", openai.New("openai"), Options{}, [provider.NumAPIs]string{native, bridged, none, native, native, native}},
		{"openai_compatible", openai.New("openai_compatible"), Options{}, [provider.NumAPIs]string{native, bridged, none, native, native, native}},
		{"openai_compatible without the Responses API", openai.New("openai_compatible"), Options{ResponsesAPI: &no}, [provider.NumAPIs]string{native, bridged, none, bridged, native, native}},
		{"anthropic", anthropic.New(), Options{}, [provider.NumAPIs]string{native, native, native, bridged, none, none}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Adapters(tt.base, tt.opts)
			for api := provider.APIChat; api < provider.NumAPIs; api++ {
				how := none
				switch ad := got[api]; {
				case ad == nil:
				case isBridge(ad):
					how = bridged
					if ad.(provider.Bridge).Wrapped() != tt.base {
						t.Errorf("%s: the bridge does not wrap the target's chat adapter", api)
					}
				default:
					how = native
				}
				if how != tt.want[api] {
					t.Errorf("%s: %s, want %s", api, how, tt.want[api])
				}
				if ad := got[api]; ad != nil && ad.Kind() != tt.base.Kind() {
					t.Errorf("%s: kind %s, want %s", api, ad.Kind(), tt.base.Kind())
				}
			}
		})
	}
}

func isBridge(ad provider.Adapter) bool {
	_, ok := ad.(provider.Bridge)
	return ok
}
