package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/router"
)

// Gateway is the running product: router, health and HTTP API.
type Gateway struct {
	cfg      *config.File
	logger   *slog.Logger
	router   *router.Router
	targets  []*router.Target
	probes   []health.Probe
	maxBody  int64
	models   []byte
	ready    atomic.Bool
	draining atomic.Bool
}

// New builds a gateway from a validated configuration. environ is where
// secrets are resolved (os.Environ() in production).
func New(cfg *config.File, environ []string, logger *slog.Logger) (*Gateway, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	targets, probes, err := buildTargets(cfg, environ, logger)
	if err != nil {
		return nil, err
	}
	fo := cfg.Providers.Failover
	maxAttempts := config.DefaultRetryMaxAttempts
	if fo.Retry.MaxAttempts != nil {
		maxAttempts = *fo.Retry.MaxAttempts
	}
	rt := router.New(targets, router.Settings{
		Failover:          fo.IsEnabled(),
		MaxAttempts:       maxAttempts,
		ModelMapping:      fo.ModelMapping,
		AttemptTimeout:    seconds(fo.Retry.TimeoutSeconds),
		FirstTokenTimeout: seconds(fo.FirstTokenTimeoutSeconds),
		RequestTimeout:    seconds(fo.RequestTimeoutSeconds),
		MaxResponseBytes:  cfg.Server.MaxResponseBodyBytes,
	}, logObserver{logger: logger.With("component", "router")})
	g := &Gateway{
		cfg:     cfg,
		logger:  logger,
		router:  rt,
		targets: rt.Targets(),
		probes:  probes,
		maxBody: cfg.Server.MaxRequestBodyBytes,
	}
	g.models = modelsBody(cfg)
	return g, nil
}

// Handler returns the gateway's HTTP API.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", g.handleChat)
	mux.HandleFunc("GET /v1/models", g.handleModels)
	mux.HandleFunc("GET /health", g.handleHealth)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", g.handleReady)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path+".", "invalid_request_error", "", "unknown_url")
	})
	return mux
}

// Listen opens the configured listener.
func (g *Gateway) Listen() (net.Listener, error) {
	addr := net.JoinHostPort(g.cfg.Server.Host, strconv.Itoa(g.cfg.Server.Port))
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
	probeCtx, stopProbes := context.WithCancel(context.Background())
	checker := startProbes(probeCtx, g)
	defer func() {
		stopProbes()
		checker.Wait()
	}()

	sc := g.cfg.Server
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
	checker.WaitFirstRound(wctx)
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
	g.logger.Info("Shutting down, draining in-flight requests", "timeout", seconds(sc.ShutdownTimeoutSeconds))
	sctx, scancel := context.WithTimeout(context.Background(), seconds(sc.ShutdownTimeoutSeconds))
	defer scancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		g.logger.Warn("Shutdown deadline passed; closed remaining connections")
	}
	<-errc
	g.logger.Info("Gateway stopped")
	return nil
}

func (g *Gateway) logStartup() {
	f := g.cfg
	g.logger.Info(fmt.Sprintf("Loaded %d provider(s), %d policy(ies)", len(f.Providers.Targets), len(f.Policies)))
	for _, t := range g.targets {
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
	for _, p := range f.Policies {
		g.logger.Warn(fmt.Sprintf("Policy %s: type %s is validated but not enforced by this build", p.Name, p.Type))
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

// logObserver logs failovers, and failed attempts at debug level.
type logObserver struct{ logger *slog.Logger }

func (o logObserver) StartAttempt(ctx context.Context, _ *router.Attempt) context.Context { return ctx }

func (o logObserver) EndAttempt(ctx context.Context, a *router.Attempt) {
	if a.Outcome.OK() || !o.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	o.logger.DebugContext(ctx, "attempt failed", "target", a.Target, "reason", string(a.Outcome.Reason),
		"status", a.Outcome.Status, "skipped", a.Skipped, "duration", a.Duration)
}

func (o logObserver) Failover(ctx context.Context, f router.FailoverStep) {
	o.logger.InfoContext(ctx, "failover", "from", f.From, "to", f.To, "reason", string(f.Reason), "from_model", f.FromModel, "to_model", f.ToModel)
}

// startProbes starts the active health checks of every target.
func startProbes(ctx context.Context, g *Gateway) *health.Checker {
	return health.StartChecker(ctx, g.probes)
}
