// Package kinds is the one list of provider kinds the gateway knows. Each
// kind is declared by its adapter package; adding a kind is its package
// plus one row in table. Config validation and defaults, the gateway's
// adapter choice, telemetry names, the simulator a drill or the demo
// starts, and lint all read this list, so an unknown kind is an error
// everywhere rather than a silent default.
package kinds

import (
	"slices"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/provider/azure"
	"github.com/keeptrusts/gateway/pkg/provider/bedrock"
	"github.com/keeptrusts/gateway/pkg/provider/gemini"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// table lists every kind, in the order error messages and docs name them.
// Explicit rather than registered from init(): the list is visible here,
// and a kind exists only if it is linked into it.
var table = []*provider.Kind{
	&openai.Kind,
	&anthropic.Kind,
	&openai.CompatibleKind,
	&azure.Kind,
	&bedrock.Kind,
	&gemini.Kind,
	&gemini.VertexKind,
}

// All returns every kind, in table order. The slice is a copy; the kinds
// are shared and must not be modified.
func All() []*provider.Kind { return slices.Clone(table) }

// Lookup returns the kind named name (as written in
// providers.targets[].provider).
func Lookup(name string) (*provider.Kind, bool) {
	// A linear scan: the table is a handful of rows, and callers on a
	// request's path (telemetry) compare short strings.
	for _, k := range table {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

// Names returns every kind's name, in table order.
func Names() []string {
	names := make([]string, len(table))
	for i, k := range table {
		names[i] = k.Name
	}
	return names
}

// TakingField returns the names of the kinds that accept the
// kind-specific target field (e.g. "region"), for lint messages.
func TakingField(field string) []string {
	var names []string
	for _, k := range table {
		if slices.Contains(k.Fields, field) {
			names = append(names, k.Name)
		}
	}
	return names
}
