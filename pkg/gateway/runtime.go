package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/inbound"
	"github.com/keeptrusts/gateway/pkg/limits"
	"github.com/keeptrusts/gateway/pkg/policy"
	"github.com/keeptrusts/gateway/pkg/pricing"
	"github.com/keeptrusts/gateway/pkg/router"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// runtime is everything a configuration builds that requests read: the
// router and its targets, policies, prices, the model list, gateway keys and
// the admin guard. The gateway swaps it atomically on reload; a request
// keeps the runtime it started with, so in-flight requests never see half a
// configuration.
type runtime struct {
	cfg          *config.File
	router       *router.Router
	routes       *router.Table    // nil without routes: router serves every model
	targets      []*router.Target // in routing (priority) order
	probes       []health.Probe
	conns        map[string]*conn // by target id
	policies     *policy.Engine
	prices       *pricing.Table
	models       []byte
	keys         *auth.Keyring // nil when auth is off
	admin        *auth.Admin
	stickyHeader string
	maxBody      int64
}

// conn is what a target's connection settings build: its adapter, endpoint,
// HTTP client, health (breaker and probe state) and probe. A reload keeps a
// conn, and so its breaker and health state, when the target's connection
// settings and resolved key are unchanged; routing settings (priority,
// weight, models) may change around it.
type conn struct {
	spec   config.Target // the target's config without its routing settings
	key    string
	target router.Target // template; Priority and Weight are set per runtime
	probe  health.Probe
}

// connSpec strips the settings a conn does not depend on.
func connSpec(t config.Target) config.Target {
	t.Priority, t.Weight, t.Models = 0, nil, nil
	return t
}

// buildRuntime builds a runtime from a validated configuration. Targets
// whose connection settings did not change since prev keep prev's conn.
func buildRuntime(cfg *config.File, environ []string, prev *runtime, logger *slog.Logger, tel *telemetry.Telemetry, obs router.Observer) (*runtime, error) {
	rt := &runtime{cfg: cfg, conns: map[string]*conn{}, maxBody: cfg.Server.MaxRequestBodyBytes}
	var err error
	if rt.policies, err = policy.New(cfg.Policies); err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	rt.prices = pricing.Default().With(prices(cfg.Pricing))
	if rt.keys, err = keyring(cfg, environ); err != nil {
		return nil, err
	}
	token, err := config.ResolveRef(cfg.Admin.TokenRef, "admin.token_ref", environ)
	if err != nil {
		return nil, err
	}
	rt.admin = auth.NewAdmin(cfg.Server.Host, token)

	var targets []*router.Target
	for i, tc := range cfg.Providers.Targets {
		key, err := cfg.ResolveSecret(i, environ)
		if err != nil {
			return nil, fmt.Errorf("providers.targets[%d] (%s): %w", i, tc.ID, err)
		}
		spec := connSpec(tc)
		var c *conn
		if prev != nil {
			if old := prev.conns[tc.ID]; old != nil && old.key == key && reflect.DeepEqual(old.spec, spec) {
				c = old
			}
		}
		if c == nil {
			if c, err = newConn(spec, key, environ, logger, tel); err != nil {
				return nil, fmt.Errorf("providers.targets[%d]: %w", i, err)
			}
		}
		rt.conns[tc.ID] = c
		t := c.target
		t.Priority = tc.Priority
		if tc.Weight != nil {
			t.Weight = *tc.Weight
		}
		t.Prefill = tc.Capabilities.Prefill
		t.APIs = inbound.Adapters(t.Adapter, inbound.Options{ResponsesAPI: tc.Capabilities.ResponsesAPI})
		targets = append(targets, &t)
		rt.probes = append(rt.probes, c.probe)
	}

	fo := cfg.Providers.Failover
	rt.router = router.New(targets, routerSettings(cfg, fo, fo.Strategy, ""), obs)
	rt.targets = rt.router.Targets()
	if fo.Strategy == config.StrategyWeighted {
		rt.stickyHeader = fo.StickyHeader
	}
	if len(cfg.Routes) > 0 {
		rt.routes = buildRoutes(cfg, targets, obs)
	}
	rt.models = modelsBody(cfg, rt.routes)
	return rt, nil
}

// routerSettings turns effective failover settings into a router's.
func routerSettings(cfg *config.File, fo *config.Failover, strategy, route string) router.Settings {
	maxAttempts := config.DefaultRetryMaxAttempts
	if fo.Retry.MaxAttempts != nil {
		maxAttempts = *fo.Retry.MaxAttempts
	}
	return router.Settings{
		Strategy:          strategy,
		Failover:          fo.IsEnabled(),
		MaxAttempts:       maxAttempts,
		ModelMapping:      fo.ModelMapping,
		AttemptTimeout:    seconds(fo.Retry.TimeoutSeconds),
		FirstTokenTimeout: seconds(fo.FirstTokenTimeoutSeconds),
		StreamIdleTimeout: seconds(fo.StreamIdleTimeoutSeconds),
		Midstream:         fo.Midstream.Enabled,
		RequestTimeout:    seconds(fo.RequestTimeoutSeconds),
		MaxResponseBytes:  cfg.Server.MaxResponseBodyBytes,
		SameTarget: router.SameTargetRetry{
			MaxRetries:    fo.Retry.SameTarget.MaxRetries,
			Backoff:       seconds(float64(fo.Retry.SameTarget.BackoffMS) / 1000),
			MaxRetryAfter: seconds(fo.Retry.SameTarget.MaxRetryAfterSeconds),
		},
		ContextLengthFailover: fo.OnContextLengthExceeded == config.OnContextLengthFailover,
		Route:                 route,
		DropParams:            fo.DropParams(),
		NoFanOut:              !fo.FanOutEnabled(),
		AllowModelChange:      fo.AllowModelChange,
	}
}

// buildRoutes compiles cfg.Routes into a route table. Each route gets its
// own Router over copies of the shared targets (its own order, weights and
// upstream models) whose Health is the target's one, so breakers and
// health stay per target whichever routes use it.
func buildRoutes(cfg *config.File, targets []*router.Target, obs router.Observer) *router.Table {
	byID := make(map[string]*router.Target, len(targets))
	for _, t := range targets {
		byID[t.ID] = t
	}
	routes := make([]*router.Route, 0, len(cfg.Routes))
	for _, rc := range cfg.Routes {
		fo := rc.Failover
		if fo == nil {
			fo = cfg.Providers.Failover
		}
		strategy := rc.EffectiveStrategy()
		ts := make([]*router.Target, 0, len(rc.Targets))
		for j, e := range rc.Targets {
			shared := byID[e.Target]
			if shared == nil {
				continue // lint refuses unknown ids; a built runtime never has one
			}
			t := *shared
			t.Priority = j + 1
			t.Model = e.Model
			if e.Weight != nil {
				t.Weight = *e.Weight
			}
			ts = append(ts, &t)
		}
		s := routerSettings(cfg, fo, strategy, rc.Model)
		s.ModelMapping = nil // a route names its models per target
		s.AllowModelChange = rc.AllowModelChange
		sticky := ""
		if strategy == config.StrategyWeighted {
			sticky = rc.StickyHeader
			if sticky == "" {
				sticky = fo.StickyHeader
			}
		}
		routes = append(routes, &router.Route{Model: rc.Model, Router: router.New(ts, s, obs), StickyHeader: sticky})
	}
	return router.NewTable(routes)
}

// keyring builds the gateway keys, or nil when auth is off. Keys given by
// reference are read and hashed here; only hashes are kept.
func keyring(cfg *config.File, environ []string) (*auth.Keyring, error) {
	if !cfg.Auth.Enabled {
		return nil, nil
	}
	keys := make([]auth.Key, 0, len(cfg.Auth.Keys))
	for i, k := range cfg.Auth.Keys {
		what := fmt.Sprintf("auth.keys[%d] (%s)", i, k.Name)
		hash := k.Hash
		if k.KeyRef != nil {
			secret, err := config.ResolveRef(k.KeyRef, what, environ)
			if err != nil {
				return nil, err
			}
			hash = auth.HashKey(secret)
		}
		sum, err := auth.ParseHash(hash)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		keys = append(keys, auth.Key{Name: k.Name, Team: k.Team, Hash: sum})
	}
	kr, err := auth.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("auth.keys: %w", err)
	}
	return kr, nil
}

// teamLimits turns the configured teams into the limiter's settings.
func teamLimits(cfg *config.File) map[string]limits.Limits {
	out := make(map[string]limits.Limits, len(cfg.Teams))
	for _, t := range cfg.Teams {
		out[t.ID] = limits.Limits{
			RequestsPerMinute: t.RateLimit.RequestsPerMinute,
			TokensPerMinute:   t.RateLimit.TokensPerMinute,
			DailyUSD:          t.Budget.DailyUSD,
			MonthlyUSD:        t.Budget.MonthlyUSD,
		}
	}
	return out
}

// closeRemoved closes the idle connections of prev's conns that next no
// longer uses; requests still running on them finish undisturbed.
func closeRemoved(prev, next *runtime) {
	if prev == nil {
		return
	}
	for id, c := range prev.conns {
		if next == nil || next.conns[id] != c {
			c.target.Client.CloseIdleConnections()
		}
	}
}

// probeRun is one set of running health probes.
type probeRun struct {
	cancel  context.CancelFunc
	checker *health.Checker
}

func startProbeRun(probes []health.Probe) *probeRun {
	ctx, cancel := context.WithCancel(context.Background())
	return &probeRun{cancel: cancel, checker: health.StartChecker(ctx, probes)}
}

func (p *probeRun) stop() {
	if p == nil {
		return
	}
	p.cancel()
	p.checker.Wait()
}
