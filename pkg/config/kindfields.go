package config

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// kindField is a target field that only some provider kinds take; each
// kind lists the ones it takes in provider.Kind.Fields.
type kindField struct {
	name string
	// value is the field as the lint report shows it; "" = not set.
	value func(t *Target) string
}

// kindFields are the kind-specific fields of a target, by config name.
var kindFields = []kindField{
	{"anthropic_version", func(t *Target) string { return t.AnthropicVersion }},
	{"api_version", func(t *Target) string { return t.APIVersion }},
	{"deployments", func(t *Target) string {
		if len(t.Deployments) == 0 {
			return ""
		}
		return strconv.Itoa(len(t.Deployments))
	}},
	{"region", func(t *Target) string { return t.Region }},
	{"project", func(t *Target) string { return t.Project }},
	{"location", func(t *Target) string { return t.Location }},
	{"auth", func(t *Target) string { return t.Auth }},
}

// Spec returns what the target's provider kind validates and is built
// from. APIKey and Environ are left for the caller that resolves them.
func (t Target) Spec() provider.TargetSpec {
	var hdr http.Header
	if len(t.Headers) > 0 {
		hdr = make(http.Header, len(t.Headers))
		for k, v := range t.Headers {
			hdr.Set(k, v)
		}
	}
	var dep map[string]string
	if len(t.Deployments) > 0 {
		dep = make(map[string]string, len(t.Deployments))
		for k, v := range t.Deployments {
			dep[k] = v
		}
	}
	return provider.TargetSpec{
		ID:               t.ID,
		BaseURL:          t.BaseURL,
		Header:           hdr,
		DefaultMaxTokens: t.DefaultMaxTokens,
		AnthropicVersion: t.AnthropicVersion,
		APIVersion:       t.APIVersion,
		Deployments:      dep,
		Region:           t.Region,
		Project:          t.Project,
		Location:         t.Location,
		Auth:             t.Auth,
	}
}

// kindFields reports a kind-specific field set on a target whose kind does
// not take it (naming the kinds that do), then the kind's own problems
// with the fields it takes, each under the target's path p.
func (v *validator) kindFields(p string, t Target, kind *provider.Kind) {
	for _, f := range kindFields {
		if f.value(&t) == "" || slices.Contains(kind.Fields, f.name) {
			continue
		}
		if takers := kinds.TakingField(f.name); len(takers) > 0 {
			v.errorf(p+"."+f.name, "not used by %s targets (only by %s)", kind.Name, strings.Join(takers, ", "))
		} else {
			v.errorf(p+"."+f.name, "not used by %s targets (no provider kind takes it yet)", kind.Name)
		}
	}
	if kind.Validate == nil {
		return
	}
	spec := t.Spec()
	// Validation never resolves secrets, so the kind is told only that a
	// key will be there (a reference, or the client's own forwarded key).
	if t.SecretKeyRef != nil || t.ForwardClientAuth {
		spec.APIKey = provider.KeyConfigured
	}
	for _, pr := range kind.Validate(&spec) {
		v.errorf(fieldPath(p, pr.Field), "%s", pr.Message)
	}
}

// fieldPath joins a target path and a field path relative to it.
func fieldPath(p, field string) string {
	switch {
	case field == "":
		return p
	case strings.HasPrefix(field, "["):
		return p + field
	}
	return fmt.Sprintf("%s.%s", p, field)
}

// kindSummary is the lint report's view of a target's kind-specific
// fields: those set, apart from defaults, so that a target of today's
// kinds reads as it did before these fields existed.
func kindSummary(t Target) string {
	var b strings.Builder
	for _, f := range kindFields {
		val := f.value(&t)
		if val == "" || f.name == "anthropic_version" && val == DefaultAnthropicVersion {
			continue
		}
		b.WriteString(" " + f.name + "=" + clean(val))
	}
	return b.String()
}
