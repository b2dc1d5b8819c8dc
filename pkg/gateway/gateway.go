package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/limits"
	"github.com/keeptrusts/gateway/pkg/pricing"
	"github.com/keeptrusts/gateway/pkg/router"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// Gateway is the running product: router, health, policies, gateway keys
// and team limits, event log, telemetry and the HTTP API.
type Gateway struct {
	rt       atomic.Pointer[runtime]
	logger   *slog.Logger
	environ  []string
	obs      router.Observer
	limits   *limits.Set
	events   *eventLog
	tel      *telemetry.Telemetry
	ownTel   bool
	ready    atomic.Bool
	draining atomic.Bool
	stopping chan struct{} // closed when follow streams must end
	stopOnce sync.Once
	stopFoll sync.Once

	// Reload: load re-reads the configuration; watch is the file to watch.
	load     Loader
	watch    string
	reloadMu sync.Mutex // serialises reloads and guards probes
	probes   *probeRun  // the running probes, once serving

	// responses remembers which target answered recent Responses API
	// requests (see responseTarget); its zero value is ready.
	responses responseCache
}

// Loader loads and validates the configuration again, as at start-up (file,
// then environment, then flags), for a reload.
type Loader func() (*config.File, config.Problems, error)

// Option adjusts how New builds a gateway.
type Option func(*options)

type options struct {
	tel     *telemetry.Telemetry
	version string
	load    Loader
	watch   string
}

// WithTelemetry makes the gateway use tel (owned by the caller) instead of
// setting telemetry up from the configuration.
func WithTelemetry(tel *telemetry.Telemetry) Option { return func(o *options) { o.tel = tel } }

// WithVersion sets the version reported as service.version.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithReload enables configuration hot reload: on SIGHUP, on POST
// /admin/reload and, when watchFile is not "" and reload.watch is on, when
// watchFile changes, load is called and a valid result replaces the running
// configuration.
func WithReload(load Loader, watchFile string) Option {
	return func(o *options) { o.load, o.watch = load, watchFile }
}

// New builds a gateway from a validated configuration. environ is where
// secrets and OTEL_* settings are read (os.Environ() in production). The
// gateway owns what it opens (event store, telemetry): Serve releases it on
// shutdown; a gateway that is never served must be Closed.
func New(cfg *config.File, environ []string, logger *slog.Logger, opts ...Option) (_ *Gateway, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{environ: environ, stopping: make(chan struct{}), tel: o.tel, load: o.load, watch: o.watch}
	defer func() {
		if err != nil {
			_ = g.Close(context.Background())
		}
	}()
	if g.tel == nil {
		tc, err := telemetry.NewConfig(cfg, environ)
		if err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		if g.tel, err = telemetry.Setup(context.Background(), tc, o.version); err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		g.ownTel = true
	}
	g.logger = slog.New(g.tel.LogHandler(logger.Handler()))
	g.obs = observers{logObserver{logger: g.logger.With("component", "router")}, g.tel.Observer()}
	if g.events, err = openEventLog(cfg.Events, g.logger); err != nil {
		return nil, err
	}
	rt, err := buildRuntime(cfg, environ, nil, g.logger, g.tel, g.obs)
	if err != nil {
		return nil, err
	}
	g.rt.Store(rt)
	g.limits = limits.New(teamLimits(cfg))
	if err := g.seedSpend(context.Background(), teamIDs(cfg, nil)); err != nil {
		return nil, err
	}
	if err := g.tel.ObserveTargets(func() []telemetry.TargetState { return telemetry.TargetStates(g.rt.Load().targets)() }); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return g, nil
}

// seedSpend loads today's and this month's spend of teams from the event
// store, so that budgets hold across restarts (and for teams a reload adds).
func (g *Gateway) seedSpend(ctx context.Context, teams []string) error {
	if g.events == nil || len(teams) == 0 {
		return nil
	}
	now := time.Now()
	month, err := g.events.store.SpendByTeam(ctx, limits.MonthStart(now))
	if err != nil {
		return fmt.Errorf("read team spend from the event store: %w", err)
	}
	day, err := g.events.store.SpendByTeam(ctx, limits.DayStart(now))
	if err != nil {
		return fmt.Errorf("read team spend from the event store: %w", err)
	}
	for _, team := range teams {
		g.limits.Seed(team, day[team], month[team], now)
	}
	return nil
}

// teamIDs lists the teams of cfg that prev (nil: none) does not have.
func teamIDs(cfg, prev *config.File) []string {
	var ids []string
	for _, t := range cfg.Teams {
		if prev == nil || !slices.ContainsFunc(prev.Teams, func(p config.Team) bool { return p.ID == t.ID }) {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

func prices(ps map[string]config.Price) map[string]pricing.Price {
	out := make(map[string]pricing.Price, len(ps))
	for m, p := range ps {
		out[m] = pricing.Price{InputPerMTok: p.InputPerMTok, OutputPerMTok: p.OutputPerMTok,
			CacheReadPerMTok: p.CacheReadPerMTok, CacheWritePerMTok: p.CacheWritePerMTok}
	}
	return out
}

// Close releases what the gateway opened: it flushes pending events and
// telemetry. Serve calls it on shutdown; it is safe to call more than once.
func (g *Gateway) Close(ctx context.Context) error {
	var errs []error
	g.stopOnce.Do(func() {
		g.stopFollowers()
		closeRemoved(g.rt.Load(), nil)
		errs = append(errs, g.events.close(ctx))
		if g.ownTel && g.tel != nil {
			errs = append(errs, g.tel.Shutdown(ctx))
		}
	})
	return errors.Join(errs...)
}

// Handler returns the gateway's HTTP API.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", g.handleChat)
	mux.HandleFunc("POST /v1/messages", g.handleMessages)
	mux.HandleFunc("POST /v1/messages/count_tokens", g.handleCountTokens)
	mux.HandleFunc("POST /v1/responses", g.handleResponses)
	mux.HandleFunc("GET /v1/responses/{id}", g.handleResponse)
	mux.HandleFunc("DELETE /v1/responses/{id}", g.handleResponse)
	mux.HandleFunc("POST /v1/embeddings", g.handleEmbeddings)
	mux.HandleFunc("POST /v1/completions", g.handleCompletions)
	mux.HandleFunc("GET /v1/models", g.handleModels)
	mux.HandleFunc("GET /v1/models/{id...}", g.handleModel)
	mux.HandleFunc("GET /health", g.handleHealth)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", g.handleReady)
	mux.Handle("GET /v1/events", g.adminOnly(g.handleEvents))
	mux.Handle("GET /v1/events/stream", g.adminOnly(g.handleEventStream))
	mux.Handle("POST /admin/reload", g.adminOnly(g.handleReload))
	if ph := g.tel.PrometheusHandler(); ph != nil {
		mux.Handle("GET /metrics", ph)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path+".", "invalid_request_error", "", "unknown_url")
	})
	return g.tel.Middleware(mux)
}

// Listen opens the configured listener.
func (g *Gateway) Listen() (net.Listener, error) {
	sc := g.rt.Load().cfg.Server
	addr := net.JoinHostPort(sc.Host, strconv.Itoa(sc.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve runs the gateway on ln until ctx is done, then drains in-flight
// requests and streams for up to server.shutdown_timeout_seconds. Requests
// do not inherit ctx: a shutdown lets them finish.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	g.logStartup()
	rt := g.rt.Load()
	g.reloadMu.Lock()
	g.probes = startProbeRun(rt.probes)
	first := g.probes.checker
	g.reloadMu.Unlock()
	defer func() {
		g.reloadMu.Lock()
		g.probes.stop()
		g.probes = nil
		g.reloadMu.Unlock()
	}()
	stopReload := g.startReloaders()
	defer stopReload()

	sc := rt.cfg.Server
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: seconds(sc.ReadHeaderTimeoutSeconds),
		IdleTimeout:       seconds(sc.IdleTimeoutSeconds),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}
	// The first probe round makes /health meaningful at once; a hung
	// provider cannot hold start-up longer than one probe timeout.
	wctx, cancel := context.WithTimeout(ctx, seconds(config.DefaultHealthTimeoutSeconds))
	first.WaitFirstRound(wctx)
	cancel()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	g.ready.Store(true)
	g.logger.Info("Gateway ready", "addr", "http://"+ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.draining.Store(true)
	g.stopFollowers()
	g.logger.Info("Shutting down, draining in-flight requests", "timeout", seconds(sc.ShutdownTimeoutSeconds))
	sctx, scancel := context.WithTimeout(context.Background(), seconds(sc.ShutdownTimeoutSeconds))
	defer scancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		g.logger.Warn("Shutdown deadline passed; closed remaining connections")
	}
	<-errc
	err = g.Close(sctx)
	g.logger.Info("Gateway stopped")
	return err
}

func (g *Gateway) logStartup() {
	rt := g.rt.Load()
	f := rt.cfg
	g.logger.Info(fmt.Sprintf("Loaded %d provider(s), %d policy(ies)", len(f.Providers.Targets), len(f.Policies)))
	for _, t := range rt.targets {
		hc := "disabled"
		if t.Health.Snapshot().ProbeEnabled {
			hc = "enabled"
		}
		g.logger.Info(fmt.Sprintf("Provider %s: priority=%d, health_check=%s", t.ID, t.Priority, hc))
	}
	fo := f.Providers.Failover
	if fo.IsEnabled() {
		g.logger.Info(fmt.Sprintf("Failover: strategy=%s, model_mappings=%d", fo.Strategy, len(fo.ModelMapping)))
	} else {
		g.logger.Info("Failover: disabled")
	}
	for _, r := range f.Routes {
		g.logger.Info("Route " + r.Model + ": strategy=" + r.EffectiveStrategy() + ", targets=" + routeTargets(r))
	}
	for _, p := range f.Policies {
		g.logger.Debug(fmt.Sprintf("Policy %s: type=%s, action=%s", p.Name, p.Type, p.Action))
	}
}

func (g *Gateway) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !g.ready.Load() || g.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// stopFollowers ends the event follow streams, which would otherwise hold
// the shutdown until its deadline.
func (g *Gateway) stopFollowers() { g.stopFoll.Do(func() { close(g.stopping) }) }

// observers fans an attempt out to several observers; StartAttempt threads
// the context through them in order.
type observers []router.Observer

func (os observers) StartAttempt(ctx context.Context, a *router.Attempt) context.Context {
	for _, o := range os {
		ctx = o.StartAttempt(ctx, a)
	}
	return ctx
}

func (os observers) EndAttempt(ctx context.Context, a *router.Attempt) {
	for _, o := range os {
		o.EndAttempt(ctx, a)
	}
}

func (os observers) Failover(ctx context.Context, f router.FailoverStep) {
	for _, o := range os {
		o.Failover(ctx, f)
	}
}

// logObserver logs failovers, and failed attempts at debug level.
type logObserver struct{ logger *slog.Logger }

// StartAttempt logs a same-target retry as it is sent, like a failover: a
// retried target is one that failed.
func (o logObserver) StartAttempt(ctx context.Context, a *router.Attempt) context.Context {
	if a.Retry.N > 0 && o.logger.Enabled(ctx, slog.LevelInfo) {
		o.logger.InfoContext(ctx, "retry", "target", a.Target, "retry", a.Retry.N, "reason", string(a.Retry.Reason),
			"wait", a.Retry.Wait, "model", a.Model)
	}
	return ctx
}

func (o logObserver) EndAttempt(ctx context.Context, a *router.Attempt) {
	if a.Outcome.OK() || !o.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	o.logger.DebugContext(ctx, "attempt failed", "target", a.Target, "reason", string(a.Outcome.Reason),
		"status", a.Outcome.Status, "skipped", a.Skipped, "duration", a.Duration)
}

func (o logObserver) Failover(ctx context.Context, f router.FailoverStep) {
	level := slog.LevelInfo
	switch f.Reason {
	case classify.CircuitOpen, classify.ProviderUnhealthy:
		// Skipping a target known to be down happens on every request
		// until it recovers; its state change was already logged once.
		level = slog.LevelDebug
	}
	if !o.logger.Enabled(ctx, level) {
		return
	}
	o.logger.Log(ctx, level, "failover", "from", f.From, "to", f.To, "reason", string(f.Reason), "from_model", f.FromModel, "to_model", f.ToModel)
}

// routeTargets lists a route's targets in order for the start-up log, each
// with the upstream model it is asked for when that is not the requested
// one: "anthropic-fallback(claude-sonnet-4-20250514) > openai-primary".
func routeTargets(r config.Route) string {
	var b strings.Builder
	for i, t := range r.Targets {
		if i > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(t.Target)
		if t.Model != "" && t.Model != r.Model {
			b.WriteString("(" + t.Model + ")")
		}
	}
	return b.String()
}
