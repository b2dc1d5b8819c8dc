package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server runs a Sim's API on one listener and its admin API on another. The
// fault "down" closes the API listener and its connections (clients get
// connection refused); any other fault re-opens it on the same address.
type Server struct {
	sim *Sim
	// addr is the API's resolved host:port, kept across down/up cycles.
	addr     string
	adminURL string
	errLog   *slog.Logger

	// mu guards the API incarnation and closed; reconcile reads the fault
	// under it so that concurrent changes settle on the latest fault.
	mu        sync.Mutex
	api       *http.Server
	apiCancel context.CancelFunc
	apiDone   chan struct{}
	closed    bool

	admin       *http.Server
	adminCancel context.CancelFunc
	adminDone   chan struct{}

	// flight counts API handlers so that Close returns only after they all
	// did; stopping turns late arrivals away.
	flightMu sync.Mutex
	flight   sync.WaitGroup
	stopping bool

	unhook    func()
	stopCtx   func() bool
	closeOnce sync.Once
	done      chan struct{}
}

// StartOption changes how Start serves a Sim.
type StartOption func(*startConfig)

// startConfig collects the StartOptions.
type startConfig struct {
	wrapAdmin func(http.Handler) http.Handler
}

// WithAdminGuard serves the admin API through wrap (e.g. an auth.Admin's
// Wrap), so that changing faults or reading stats needs what wrap demands.
// GET (and HEAD) /healthz bypasses wrap: it only reports liveness, kind and
// fault, and container health checks call it without credentials.
func WithAdminGuard(wrap func(http.Handler) http.Handler) StartOption {
	return func(c *startConfig) { c.wrapAdmin = wrap }
}

// guardAdmin puts wrap in front of every admin endpoint but the health check.
func guardAdmin(h http.Handler, wrap func(http.Handler) http.Handler) http.Handler {
	guarded := wrap(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// Start listens on apiAddr and adminAddr (e.g. "127.0.0.1:0"; an empty
// adminAddr runs no admin API) and serves s. If s's fault is down, the API
// address is reserved and closed at once. ctx bounds listening; when it is
// done the server closes itself. Without options the admin API is open to
// anyone who can reach adminAddr; see WithAdminGuard.
func Start(ctx context.Context, apiAddr, adminAddr string, s *Sim, opts ...StartOption) (*Server, error) {
	var cfg startConfig
	for _, o := range opts {
		o(&cfg)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", apiAddr)
	if err != nil {
		return nil, fmt.Errorf("listen api: %w", err)
	}
	srv := &Server{sim: s, addr: ln.Addr().String(), errLog: s.log, done: make(chan struct{})}
	if adminAddr != "" {
		aln, err := lc.Listen(ctx, "tcp", adminAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listen admin: %w", err)
		}
		srv.adminURL = "http://" + dialable(aln.Addr().String())
		actx, cancel := context.WithCancel(context.Background())
		admin := s.AdminHandler()
		if cfg.wrapAdmin != nil {
			admin = guardAdmin(admin, cfg.wrapAdmin)
		}
		srv.admin, srv.adminCancel, srv.adminDone = srv.httpServer(actx, admin), cancel, make(chan struct{})
		go func() {
			defer close(srv.adminDone)
			_ = srv.admin.Serve(aln)
		}()
	}
	srv.mu.Lock()
	if s.Fault().Kind == FaultDown {
		_ = ln.Close()
	} else {
		srv.serveAPI(ln)
	}
	srv.mu.Unlock()
	srv.unhook = s.onFaultChange(srv.reconcile)
	// A fault set between the check above and the hook would be missed.
	if err := srv.reconcile(); err != nil {
		_ = srv.Close()
		return nil, err
	}
	srv.stopCtx = context.AfterFunc(ctx, func() { _ = srv.Close() })
	return srv, nil
}

// URL is the API root, http://host:port. The OpenAI base URL is URL()+"/v1";
// the Anthropic and Azure OpenAI base URLs are URL() (see BaseURL).
func (srv *Server) URL() string { return "http://" + dialable(srv.addr) }

// BaseURL is the base_url a gateway target uses for this simulator's kind.
func (srv *Server) BaseURL() string {
	switch srv.sim.kind {
	case KindOpenAI:
		return srv.URL() + "/v1"
	case KindGemini:
		// The gemini provider kind's base_url; a vertex target takes URL()
		// with its project and location.
		return srv.URL() + "/v1beta"
	}
	return srv.URL()
}

// AdminURL is the admin API root, "" when none runs.
func (srv *Server) AdminURL() string { return srv.adminURL }

// Sim is the simulator being served.
func (srv *Server) Sim() *Sim { return srv.sim }

// Close stops both listeners, ends every request (hangs included) and waits
// for the server's goroutines. It is safe to call more than once.
func (srv *Server) Close() error {
	srv.closeOnce.Do(func() {
		if srv.stopCtx != nil {
			srv.stopCtx()
		}
		if srv.unhook != nil {
			srv.unhook()
		}
		srv.mu.Lock()
		srv.closed = true
		if srv.api != nil {
			srv.stopAPI()
		}
		srv.mu.Unlock()
		if srv.admin != nil {
			srv.adminCancel()
			_ = srv.admin.Close()
			<-srv.adminDone
		}
		srv.flightMu.Lock()
		srv.stopping = true
		srv.flightMu.Unlock()
		srv.flight.Wait()
		close(srv.done)
	})
	<-srv.done
	return nil
}

// reconcile opens or closes the API listener to match the current fault.
func (srv *Server) reconcile() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return nil
	}
	down := srv.sim.Fault().Kind == FaultDown
	switch {
	case down && srv.api != nil:
		srv.stopAPI()
		srv.errLog.Info("sim api down", "addr", srv.addr)
	case !down && srv.api == nil:
		ln, err := net.Listen("tcp", srv.addr)
		if err != nil {
			return fmt.Errorf("re-open api listener: %w", err)
		}
		srv.serveAPI(ln)
		srv.errLog.Info("sim api up", "addr", srv.addr)
	}
	return nil
}

// serveAPI starts one API incarnation on ln. srv.mu is held.
func (srv *Server) serveAPI(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	hs := srv.httpServer(ctx, srv.track(srv.sim.Handler()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.errLog.Error("sim api serve", "err", err)
		}
	}()
	srv.api, srv.apiCancel, srv.apiDone = hs, cancel, done
}

// stopAPI ends the current API incarnation: the listener and every
// connection close, and request contexts are cancelled so that hangs and
// delays end. srv.mu is held.
func (srv *Server) stopAPI() {
	srv.apiCancel()
	_ = srv.api.Close()
	<-srv.apiDone
	srv.api, srv.apiCancel, srv.apiDone = nil, nil, nil
}

// httpServer builds an http.Server whose request contexts derive from ctx.
func (srv *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// net/http complains about hijacked and aborted connections, which
		// the faults cause on purpose.
		ErrorLog: slog.NewLogLogger(srv.errLog.Handler(), slog.LevelDebug),
	}
}

// track counts in-flight API handlers for Close.
func (srv *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.flightMu.Lock()
		if srv.stopping {
			srv.flightMu.Unlock()
			panic(http.ErrAbortHandler)
		}
		srv.flight.Add(1)
		srv.flightMu.Unlock()
		defer srv.flight.Done()
		h.ServeHTTP(w, r)
	})
}

// dialable turns a listen address into one a client can dial: an
// unspecified host becomes loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
