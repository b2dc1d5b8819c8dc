package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/keeptrusts/gateway/pkg/modelglob"
)

// Route sends the requests for the models it matches to its own targets, in
// its own order, with its own upstream model per target. Routes are tried in
// list order; the first whose model matches wins. With routes set, a model no
// route matches is answered 404 model_not_found without any upstream call.
type Route struct {
	// Model is the requested model name the route serves: an exact name
	// (which may be an alias no provider knows, such as "smart"), or a glob
	// where '*' matches any run of characters and '?' one ("gpt-4o*",
	// "claude-*"). Required.
	Model string `koanf:"model"`
	// Strategy is priority (targets in list order) or weighted (a split by
	// targets[].weight); default: the effective failover.strategy.
	Strategy string `koanf:"strategy"`
	// StickyHeader, with the weighted strategy, names the request header
	// whose value always picks the same target; default: failover's.
	StickyHeader string `koanf:"sticky_header"`
	// Targets are the route's targets, by id from providers.targets, in
	// priority order. Required.
	Targets []RouteTarget `koanf:"targets"`
	// Failover overrides providers.failover fields for this route only.
	// After Load it holds the effective settings: providers.failover with
	// the fields this section sets laid over it.
	Failover *Failover `koanf:"failover"`
	// AllowModelChange lets an embeddings request fail over to a target
	// asked for another model than the route's first choice. Off, such a
	// target is skipped for embeddings (vectors from two models are not
	// comparable), and lint refuses a route for an embedding model whose
	// targets name different models.
	AllowModelChange bool `koanf:"allow_model_change"`
}

// RouteTarget is one target of a route.
type RouteTarget struct {
	// Target is the id of an entry of providers.targets. Required.
	Target string `koanf:"target"`
	// Model is the upstream model asked of this target; default: the
	// requested model name.
	Model string `koanf:"model"`
	// Weight is the target's share of a weighted route's split; default:
	// the target's own weight. Ignored (and warned about) with priority.
	Weight *int `koanf:"weight"`
}

// IsAlias reports whether the route is an alias: an exact name whose every
// target is asked for a model of another name, so the name itself is never
// sent upstream.
func (r Route) IsAlias() bool {
	if modelglob.IsGlob(r.Model) || len(r.Targets) == 0 {
		return false
	}
	for _, t := range r.Targets {
		if t.Model == "" || t.Model == r.Model {
			return false
		}
	}
	return true
}

// EffectiveStrategy is the route's strategy, or its failover's when unset.
func (r Route) EffectiveStrategy() string {
	if r.Strategy != "" {
		return r.Strategy
	}
	if r.Failover != nil && r.Failover.Strategy != "" {
		return r.Failover.Strategy
	}
	return StrategyPriority
}

// resolveRouteFailovers replaces every route's failover section with the
// effective settings: a copy of global with the fields the route sets
// (present in raw) laid over it. It runs after defaults, so global is
// complete; a request timeout the user did not write is derived again from
// the route's own retry settings.
func resolveRouteFailovers(f *File, raw rawTree, failoverPath string) {
	global := f.Providers.Failover
	for i := range f.Routes {
		r := &f.Routes[i]
		eff := *global
		if r.Failover != nil {
			sub, _ := raw.get("routes", i, "failover")
			if m, ok := sub.(map[string]any); ok {
				overlay(reflect.ValueOf(&eff).Elem(), reflect.ValueOf(r.Failover).Elem(), m)
			}
			if !raw.has("routes", i, "failover", "request_timeout_seconds") && !raw.has(append(rawPrefix(failoverPath), "request_timeout_seconds")...) {
				attempts := 0
				if eff.Retry.MaxAttempts != nil {
					attempts = *eff.Retry.MaxAttempts
				}
				eff.RequestTimeoutSeconds = eff.Retry.TimeoutSeconds * float64(1+max(0, attempts))
			}
		}
		r.Failover = &eff
	}
}

// overlay copies into dst the fields of src whose koanf key raw holds,
// descending into sections. It never writes through a pointer dst shares
// with another value: pointer fields are replaced, sections behind
// pointers copied first. Reading the struct tags keeps it right for
// failover fields added later.
func overlay(dst, src reflect.Value, raw map[string]any) {
	t := dst.Type()
	for i := range t.NumField() {
		v, ok := raw[tagName(t.Field(i))]
		if !ok || v == nil {
			continue
		}
		df, sf := dst.Field(i), src.Field(i)
		sub, isMap := v.(map[string]any)
		if isMap && deref(df.Type()).Kind() == reflect.Struct {
			if df.Kind() == reflect.Pointer {
				if sf.IsNil() {
					continue
				}
				cp := reflect.New(df.Type().Elem())
				if !df.IsNil() {
					cp.Elem().Set(df.Elem())
				}
				overlay(cp.Elem(), sf.Elem(), sub)
				df.Set(cp)
				continue
			}
			overlay(df, sf, sub)
			continue
		}
		df.Set(sf)
	}
}

// routes checks the route table: targets that exist, routes that can be
// reached, strategies and weights that fit, per-route failover overrides.
func (v *validator) routes(f *File) {
	ids := map[string]bool{}
	var known []string
	for _, t := range f.Providers.Targets {
		if t.ID != "" && !ids[t.ID] {
			ids[t.ID] = true
			known = append(known, t.ID)
		}
	}
	for i, r := range f.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Model == "":
			v.errorf(p+".model", "required (a model name, an alias or a glob such as \"gpt-4o*\")")
		case !validModelPattern(r.Model):
			v.errorf(p+".model", "%s is not a valid model name or glob", quote(r.Model))
		default:
			v.shadowed(f.Routes, i)
		}
		strategy := r.EffectiveStrategy()
		if r.Strategy != "" && r.Strategy != StrategyPriority && r.Strategy != StrategyWeighted {
			v.errorf(p+".strategy", "unknown strategy %s (want priority or weighted)", quote(r.Strategy))
		}
		if r.StickyHeader != "" && !validHeaderName(r.StickyHeader) {
			v.errorf(p+".sticky_header", "%s is not a valid header name", quote(r.StickyHeader))
		}
		if len(r.Targets) == 0 {
			if !v.failed(p + ".targets") {
				v.errorf(p+".targets", "at least one target is required")
			}
		}
		seen := map[string]int{}
		positive := 0
		for j, rt := range r.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", p, j)
			switch {
			case rt.Target == "":
				v.errorf(tp+".target", "required (a target id from providers.targets)")
			case !ids[rt.Target]:
				v.errorf(tp+".target", "unknown target %s (known: %s)", quote(rt.Target), strings.Join(known, ", "))
			default:
				if first, dup := seen[rt.Target]; dup {
					v.errorf(tp+".target", "%s is already targets[%d] of this route", quote(rt.Target), first)
				}
				seen[rt.Target] = j
			}
			if rt.Model != "" && !validModelName(rt.Model) {
				v.errorf(tp+".model", "%s is not a valid model name", quote(rt.Model))
			}
			if rt.Weight != nil {
				switch {
				case *rt.Weight < 0:
					v.errorf(tp+".weight", "must be 0 or greater (got %d; 0 = fallback only)", *rt.Weight)
				case strategy != StrategyWeighted:
					v.warnf(tp+".weight", "is ignored with strategy priority (set strategy: weighted to split traffic)")
				}
			}
			if w := routeWeight(f, rt); w > 0 {
				positive++
			}
		}
		if strategy == StrategyWeighted && len(r.Targets) > 0 && positive == 0 {
			v.errorf(p+".targets", "strategy weighted needs at least one target with a weight above 0")
		}
		if !r.AllowModelChange {
			v.embeddingModels(p, r)
		}
		v.routeFailover(p+".failover", i, r.Failover)
	}
}

// IsEmbeddingModel reports whether a model name (or route pattern) names
// an embedding model, by the word every provider puts in their names
// (text-embedding-3-small, gemini-embedding-001, embed-english-v3.0,
// nomic-embed-text, amazon.titan-embed-text-v2).
func IsEmbeddingModel(name string) bool {
	return strings.Contains(strings.ToLower(name), "embed")
}

// embeddingModels refuses a route for an embedding model whose targets ask
// for different models: its failover would answer with vectors another
// model made, which cannot be compared with the first choice's.
func (v *validator) embeddingModels(p string, r Route) {
	first := ""
	for j, rt := range r.Targets {
		m := rt.Model
		if m == "" {
			m = r.Model
		}
		if j == 0 {
			first = m
			continue
		}
		if m != first && (IsEmbeddingModel(m) || IsEmbeddingModel(first)) {
			v.errorf(fmt.Sprintf("%s.targets[%d].model", p, j), "embeddings from %s would fail over to %s: vectors from two models are not comparable (set %s.allow_model_change: true if that is intended)", quote(first), quote(m), p)
		}
	}
}

// routeWeight is a route target's weight: its own, else its target's.
func routeWeight(f *File, rt RouteTarget) int {
	if rt.Weight != nil {
		return *rt.Weight
	}
	for _, t := range f.Providers.Targets {
		if t.ID == rt.Target && t.Weight != nil {
			return *t.Weight
		}
	}
	return DefaultWeight
}

// routeFailover checks the fields a route overrides; inherited values were
// checked where they were written.
func (v *validator) routeFailover(p string, i int, fo *Failover) {
	if fo == nil {
		return
	}
	set := func(keys ...any) bool { return v.raw.has(append([]any{"routes", i, "failover"}, keys...)...) }
	if set("model_mapping") {
		v.errorf(p+".model_mapping", "has no effect in a route; set the upstream model per target with targets[].model")
	}
	if set("allow_model_change") {
		v.errorf(p+".allow_model_change", "is a route setting: set routes[%d].allow_model_change", i)
	}
	if set("strategy") && fo.Strategy != StrategyPriority && fo.Strategy != StrategyWeighted {
		v.errorf(p+".strategy", "unknown strategy %s (want priority or weighted)", quote(fo.Strategy))
	}
	if set("retry", "max_attempts") && fo.Retry.MaxAttempts != nil && *fo.Retry.MaxAttempts < 0 {
		v.errorf(p+".retry.max_attempts", "must be 0 or greater (got %d; 0 means no fallback)", *fo.Retry.MaxAttempts)
	}
	if set("retry", "timeout_seconds") {
		v.positive(p+".retry.timeout_seconds", fo.Retry.TimeoutSeconds)
	}
	if set("first_token_timeout_seconds") && !(fo.FirstTokenTimeoutSeconds >= 0) {
		v.errorf(p+".first_token_timeout_seconds", "must be 0 (use the attempt timeout) or greater (got %s)", num(fo.FirstTokenTimeoutSeconds))
	}
	if set("request_timeout_seconds") {
		v.positive(p+".request_timeout_seconds", fo.RequestTimeoutSeconds)
	}
	if set("drop_unsupported_params") {
		v.dropParams(p+".drop_unsupported_params", fo)
	}
}

// dropParams checks a drop_unsupported_params value.
func (v *validator) dropParams(p string, fo *Failover) {
	switch fo.DropParams() {
	case DropParamsOnFailover, DropParamsNever, DropParamsAlways:
	default:
		v.errorf(p, "unknown value %s (want true, false or always)", quote(fo.DropUnsupportedParams))
	}
}

// shadowed reports route i when an earlier route already takes every model
// it matches (an exact duplicate, or a glob that matches its pattern read
// literally: "gpt-*" before "gpt-4o*"), and an alias that a later glob also
// matches, so readers cannot tell which one serves the name.
func (v *validator) shadowed(rs []Route, i int) {
	r := rs[i]
	p := fmt.Sprintf("routes[%d].model", i)
	for k := range i {
		e := rs[k]
		if e.Model == "" || !validModelPattern(e.Model) {
			continue
		}
		if e.Model == r.Model || (modelglob.IsGlob(e.Model) && modelglob.Match(e.Model, r.Model)) {
			v.errorf(p, "unreachable: routes[%d] (%s) comes first and matches every model this route matches", k, quote(e.Model))
			return
		}
	}
	if !r.IsAlias() {
		return
	}
	for k := i + 1; k < len(rs); k++ {
		// A catch-all "*" is meant to take whatever the routes before it
		// do not: an alias before it is no collision.
		if e := rs[k]; e.Model != "*" && modelglob.IsGlob(e.Model) && modelglob.Match(e.Model, r.Model) {
			v.warnf(p, "alias %s also matches the glob of routes[%d] (%s); rename the alias so it cannot be taken for a model of that route", quote(r.Model), k, quote(e.Model))
			return
		}
	}
}

// validModelPattern accepts a model name with '*' and '?' wildcards.
func validModelPattern(s string) bool {
	return validModelName(strings.NewReplacer("*", "x", "?", "x").Replace(s))
}

// routeSummary writes the route table of the lint report.
func routeSummary(b *strings.Builder, f *File) {
	if len(f.Routes) == 0 {
		return
	}
	fmt.Fprintf(b, "  routes: %d (first match wins; other models get 404 model_not_found)\n", len(f.Routes))
	var rows [][]string
	for _, r := range f.Routes {
		kind := "exact"
		switch {
		case modelglob.IsGlob(r.Model):
			kind = "glob"
		case r.IsAlias():
			kind = "alias"
		}
		var chain []string
		for _, t := range r.Targets {
			s := clean(t.Target)
			if t.Model != "" {
				s += ":" + clean(t.Model)
			}
			if r.EffectiveStrategy() == StrategyWeighted {
				s += fmt.Sprintf("(w=%d)", routeWeight(f, t))
			}
			chain = append(chain, s)
		}
		fo := r.Failover
		attempts := 0
		if fo != nil && fo.Retry.MaxAttempts != nil {
			attempts = *fo.Retry.MaxAttempts
		}
		failover := "failover=disabled"
		if fo == nil || fo.IsEnabled() {
			failover = fmt.Sprintf("max_attempts=%d", attempts)
		}
		drop := DropParamsOnFailover
		if fo != nil {
			drop = fo.DropParams()
		}
		rows = append(rows, []string{
			"route " + clean(r.Model), kind, "strategy=" + r.EffectiveStrategy(), failover,
			"drop_unsupported_params=" + drop, strings.Join(chain, " -> "),
		})
	}
	writeAligned(b, rows)
}
