package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/keeptrusts/gateway/pkg/auth"
)

// weights checks the weighted strategy's split.
func (v *validator) weights(ts []Target) {
	total := 0
	for _, t := range ts {
		if t.Weight != nil && *t.Weight > 0 {
			total += *t.Weight
		}
	}
	if total == 0 && len(ts) > 0 {
		v.errorf(v.failoverPath+".strategy", "weighted needs at least one target with a weight above 0 (providers.targets[*].weight)")
	}
}

// auth checks the gateway keys.
func (v *validator) auth(f *File) {
	a := f.Auth
	if a.Enabled && len(a.Keys) == 0 && !v.failed("auth.keys") {
		v.errorf("auth.keys", "auth is enabled but no keys are configured: every request would be refused (kt keys generate makes one)")
	}
	if !a.Enabled && len(a.Keys) > 0 {
		v.warnf("auth.enabled", "is false: the %d key(s) under auth.keys are not checked and requests carry no team", len(a.Keys))
	}
	if a.Enabled {
		for i, t := range f.Providers.Targets {
			if t.ForwardClientAuth {
				v.errorf(fmt.Sprintf("providers.targets[%d].forward_client_auth", i),
					"cannot be used with auth.enabled: the client's Authorization header carries its gateway key, which must not reach a provider")
			}
		}
	}
	names := map[string]int{}
	hashes := map[string]int{}
	for i, k := range a.Keys {
		p := fmt.Sprintf("auth.keys[%d]", i)
		v.name(p+".name", k.Name, names, "auth.keys[%d]", i)
		if k.Team == "" {
			v.errorf(p+".team", "required")
		} else if !validID(k.Team) {
			v.errorf(p+".team", "%s is not a valid team id (%s)", quote(k.Team), idRule)
		}
		switch {
		case k.Hash != "" && k.KeyRef != nil:
			v.errorf(p, "set hash or key_ref, not both")
		case k.Hash != "":
			if _, err := auth.ParseHash(k.Hash); err != nil {
				v.errorf(p+".hash", "%v", err)
			} else if first, dup := hashes[k.Hash]; dup {
				v.errorf(p+".hash", "the same key is already configured as auth.keys[%d]", first)
			} else {
				hashes[k.Hash] = i
			}
		case k.KeyRef != nil:
			v.ref(p+".key_ref", k.KeyRef)
		default:
			if !v.failed(p) {
				v.errorf(p, "set hash (kt keys generate prints one) or key_ref (env or file holding the key)")
			}
		}
	}
}

// name checks a required, unique name; seen maps names to their index.
func (v *validator) name(path, name string, seen map[string]int, listFmt string, i int) {
	switch {
	case name == "":
		v.errorf(path, "required")
	case !validID(name):
		v.errorf(path, "%s is not a valid name (%s)", quote(name), idRule)
	default:
		if first, dup := seen[name]; dup {
			v.errorf(path, "duplicate %s (already used by "+listFmt+")", quote(name), first)
			return
		}
		seen[name] = i
	}
}

// teams checks the per-team limits.
func (v *validator) teams(f *File) {
	keyTeams := map[string]bool{}
	for _, k := range f.Auth.Keys {
		keyTeams[k.Team] = true
	}
	ids := map[string]int{}
	for i, t := range f.Teams {
		p := fmt.Sprintf("teams[%d]", i)
		v.name(p+".id", t.ID, ids, "teams[%d]", i)
		// A slice, not a map: problems are reported in a stable order.
		for _, f := range []struct {
			field string
			val   float64
		}{
			{"rate_limit.requests_per_minute", t.RateLimit.RequestsPerMinute},
			{"rate_limit.tokens_per_minute", t.RateLimit.TokensPerMinute},
			{"budget.daily_usd", t.Budget.DailyUSD},
			{"budget.monthly_usd", t.Budget.MonthlyUSD},
		} {
			if !(f.val >= 0) {
				v.errorf(p+"."+f.field, "must be 0 (unlimited) or greater (got %s)", num(f.val))
			}
		}
		if b := t.Budget; b.DailyUSD > 0 && b.MonthlyUSD > 0 && b.DailyUSD > b.MonthlyUSD {
			v.warnf(p+".budget.daily_usd", "%s is above monthly_usd (%s): the monthly budget binds first", num(b.DailyUSD), num(b.MonthlyUSD))
		}
		if t.ID != "" && f.Auth.Enabled && !keyTeams[t.ID] {
			v.warnf(p+".id", "no key in auth.keys belongs to team %s: its limits never apply", quote(t.ID))
		}
	}
	if len(f.Teams) > 0 && !f.Auth.Enabled {
		v.warnf("teams", "limits apply to requests authenticated by a gateway key; auth.enabled is false, so none apply")
	}
}

// admin checks the admin token reference and warns when management
// endpoints would be refused.
func (v *validator) admin(f *File) {
	if f.Admin.TokenRef != nil {
		v.ref("admin.token_ref", f.Admin.TokenRef)
		return
	}
	if f.Server.Host != "" && !auth.IsLoopback(f.Server.Host) {
		v.warnf("admin.token_ref", "not set and server.host is %s: the management endpoints (events API, verbose health, reload) are refused; set admin.token_ref to use them", quote(f.Server.Host))
	}
}

// idRule describes valid ids and names.
var idRule = fmt.Sprintf("up to %d lowercase letters, digits, '-', '_' or '.', starting with a letter or digit", maxIDLength)

func validID(s string) bool { return len(s) <= maxIDLength && idPattern.MatchString(s) }

// ResolveRef reads the secret ref points at (an environment variable or a
// file, trimmed). what names the setting in errors ("auth.keys[0]
// (checkout)"). Errors name the variable or file, never the value.
func ResolveRef(ref *SecretKeyRef, what string, environ []string) (string, error) {
	switch {
	case ref == nil:
		return "", nil
	case ref.Env != "" && ref.File != "":
		return "", fmt.Errorf("%s: sets both env and file", what)
	case ref.Env != "":
		val, ok := lookupEnv(environ, ref.Env)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, ref.Env)
		}
		// A key pasted with a trailing newline would corrupt the header.
		if val = strings.TrimSpace(val); val == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty", what, ref.Env)
		}
		return val, nil
	case ref.File != "":
		b, err := os.ReadFile(ref.File)
		if err != nil {
			return "", fmt.Errorf("%s: read secret file: %w", what, err)
		}
		val := strings.TrimSpace(string(b))
		if val == "" {
			return "", fmt.Errorf("%s: secret file %s is empty", what, ref.File)
		}
		return val, nil
	}
	return "", fmt.Errorf("%s: sets neither env nor file", what)
}
