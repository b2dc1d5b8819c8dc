package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// reloadDebounce gathers the burst of file events one save makes (editors
// write, chmod, rename) into one reload.
const reloadDebounce = 250 * time.Millisecond

// ReloadError is a rejected reload: the new configuration is invalid and
// the running one keeps serving. Problems are the lint-style problems.
type ReloadError struct {
	// Problems found in the new configuration (errors and warnings).
	Problems config.Problems
	// Err is set when the configuration was valid but could not be built
	// (for example a referenced secret is missing).
	Err error
}

func (e *ReloadError) Error() string {
	if e.Err != nil {
		return "configuration rejected, still serving the previous one: " + e.Err.Error()
	}
	var lines []string
	for _, p := range e.Problems.Errors() {
		lines = append(lines, p.String())
	}
	return "configuration rejected, still serving the previous one:\n" + strings.Join(lines, "\n")
}

// Unwrap returns the build error, if any.
func (e *ReloadError) Unwrap() error { return e.Err }

// ReloadResult says what a successful reload changed.
type ReloadResult struct {
	// Added, Removed, Changed and Kept list target ids. Kept targets keep
	// their circuit breaker and health state; changed ones (connection
	// settings or key changed) start fresh.
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	Kept    []string `json:"kept"`
	// RestartRequired lists sections whose changes take effect only after
	// a restart (server, logging, telemetry, events); the rest is applied.
	RestartRequired []string `json:"restart_required,omitempty"`
	// Warnings are the new configuration's lint warnings.
	Warnings []string `json:"warnings,omitempty"`
}

// ErrReloadDisabled is returned by Reload when the gateway was built
// without WithReload (for example --demo, whose configuration is built in).
var ErrReloadDisabled = errors.New("configuration reload is not available: the gateway was not started from a configuration file")

// Reload loads the configuration again and, when it is valid, applies it
// atomically: requests already running finish with the configuration they
// started with; targets whose connection settings are unchanged keep their
// breaker and health state; team limits keep what was used. An invalid
// configuration is rejected with a *ReloadError and changes nothing.
func (g *Gateway) Reload(ctx context.Context) (*ReloadResult, error) {
	if g.load == nil {
		return nil, ErrReloadDisabled
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f, problems, err := g.load()
	if err != nil {
		return nil, &ReloadError{Err: err}
	}
	if problems.Err() != nil {
		return nil, &ReloadError{Problems: problems}
	}
	old := g.rt.Load()
	// Spans of the new targets (probes start with the build) need their
	// server.address; restored if the build fails.
	g.tel.SetTargets(targetURLs(f))
	rt, err := buildRuntime(f, g.environ, old, g.logger, g.tel, g.obs)
	if err != nil {
		g.tel.SetTargets(targetURLs(old.cfg))
		return nil, &ReloadError{Err: err}
	}
	res := diffRuntimes(old, rt)
	for _, p := range problems.Warnings() {
		res.Warnings = append(res.Warnings, p.String())
	}
	g.rt.Store(rt)
	g.limits.Update(teamLimits(f))
	if err := g.seedSpend(ctx, teamIDs(f, old.cfg)); err != nil {
		// The configuration is applied; only the new teams' budgets start
		// from zero instead of today's spend.
		g.logger.Warn("Could not read the spend of added teams", "error", err)
	}
	if g.probes != nil {
		g.probes.stop()
		g.probes = startProbeRun(rt.probes)
	}
	closeRemoved(old, rt)
	g.logger.Info("Configuration reloaded", "targets", len(rt.targets), "added", res.Added, "removed", res.Removed,
		"changed", res.Changed, "kept", len(res.Kept), "teams", len(f.Teams), "keys", len(f.Auth.Keys))
	if len(res.RestartRequired) > 0 {
		g.logger.Warn("Some changed settings take effect only after a restart", "sections", res.RestartRequired)
	}
	return res, nil
}

// targetURLs maps a configuration's target ids to their base URLs.
func targetURLs(f *config.File) map[string]string {
	m := make(map[string]string, len(f.Providers.Targets))
	for _, t := range f.Providers.Targets {
		m[t.ID] = t.BaseURL
	}
	return m
}

// diffRuntimes describes a reload.
func diffRuntimes(old, next *runtime) *ReloadResult {
	res := &ReloadResult{Added: []string{}, Removed: []string{}, Changed: []string{}, Kept: []string{}}
	for _, t := range next.targets {
		switch oc, ok := old.conns[t.ID]; {
		case !ok:
			res.Added = append(res.Added, t.ID)
		case oc == next.conns[t.ID]:
			res.Kept = append(res.Kept, t.ID)
		default:
			res.Changed = append(res.Changed, t.ID)
		}
	}
	for _, t := range old.targets {
		if _, ok := next.conns[t.ID]; !ok {
			res.Removed = append(res.Removed, t.ID)
		}
	}
	for _, s := range []struct {
		name     string
		old, new any
	}{
		{"server", old.cfg.Server, next.cfg.Server},
		{"logging", old.cfg.Logging, next.cfg.Logging},
		{"telemetry", old.cfg.Telemetry, next.cfg.Telemetry},
		{"events", old.cfg.Events, next.cfg.Events},
		{"reload", old.cfg.Reload, next.cfg.Reload},
	} {
		if !reflect.DeepEqual(s.old, s.new) {
			res.RestartRequired = append(res.RestartRequired, s.name)
		}
	}
	return res
}

// startReloaders reloads on SIGHUP and, when enabled, on changes of the
// configuration file, until the returned function is called.
func (g *Gateway) startReloaders() (stop func()) {
	if g.load == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var watcher *fsnotify.Watcher
	if g.watch != "" && g.rt.Load().cfg.Reload.WatchEnabled() {
		w, err := watchFile(g.watch)
		if err != nil {
			g.logger.Warn("Cannot watch the configuration file; reload with SIGHUP or POST /admin/reload", "file", g.watch, "error", err)
		} else {
			watcher = w
			g.logger.Debug("Watching the configuration file for changes", "file", g.watch)
		}
	}
	go func() {
		defer close(done)
		g.reloadLoop(ctx, hup, watcher)
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
		if watcher != nil {
			_ = watcher.Close()
		}
	}
}

// reloadLoop turns SIGHUPs and debounced file events into reloads.
func (g *Gateway) reloadLoop(ctx context.Context, hup <-chan os.Signal, w *fsnotify.Watcher) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	var target, dir string
	if w != nil {
		events, errs = w.Events, w.Errors
		target = filepath.Clean(g.watch)
		dir = filepath.Dir(target)
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			g.reloadAndLog("SIGHUP")
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// The file itself, or (Kubernetes ConfigMap volumes) the
			// ..data symlink swap in its directory.
			name := filepath.Clean(ev.Name)
			if name == target || (filepath.Dir(name) == dir && strings.HasPrefix(filepath.Base(name), "..")) {
				if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write|fsnotify.Create) {
					continue
				}
				debounce.Reset(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			g.logger.Warn("Configuration file watch error", "error", err)
		case <-debounce.C:
			if _, err := os.Stat(target); err != nil {
				// Mid-rename, or deleted: a later event brings it back.
				continue
			}
			g.reloadAndLog("file change")
		}
	}
}

// reloadAndLog reloads and logs a rejection with every problem, as kt
// policy lint prints them.
func (g *Gateway) reloadAndLog(cause string) {
	g.logger.Info("Reloading configuration", "cause", cause)
	if _, err := g.Reload(context.Background()); err != nil {
		var re *ReloadError
		if errors.As(err, &re) && re.Err == nil {
			for _, p := range re.Problems {
				g.logger.Error("Configuration rejected: " + p.String())
			}
			g.logger.Error("Configuration rejected; still serving the previous configuration", "errors", len(re.Problems.Errors()))
			return
		}
		g.logger.Error("Configuration rejected; still serving the previous configuration", "error", err)
	}
}

// watchFile watches the directory holding path: editors and Kubernetes
// replace files by rename, which a watch on the file itself would lose.
func watchFile(path string) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(filepath.Clean(path))); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	return w, nil
}

// handleReload answers POST /admin/reload: 200 with what changed, or 422
// with the problems of a rejected configuration (the old one keeps
// serving).
func (g *Gateway) handleReload(w http.ResponseWriter, r *http.Request) {
	res, err := g.Reload(r.Context())
	if err != nil {
		var re *ReloadError
		switch {
		case errors.Is(err, ErrReloadDisabled):
			writeError(w, http.StatusConflict, err.Error(), provider.ErrTypeInvalidRequest, "", "reload_unavailable")
		case errors.As(err, &re):
			body := struct {
				Error struct {
					Message  string          `json:"message"`
					Type     string          `json:"type"`
					Code     string          `json:"code"`
					Problems []reloadProblem `json:"problems"`
				} `json:"error"`
			}{}
			body.Error.Message, body.Error.Type, body.Error.Code = re.Error(), provider.ErrTypeInvalidRequest, "invalid_configuration"
			body.Error.Problems = []reloadProblem{}
			for _, p := range re.Problems {
				body.Error.Problems = append(body.Error.Problems, reloadProblem{Path: p.Path, Message: p.Message, Severity: p.Severity.String()})
			}
			b, _ := json.Marshal(body)
			writeJSON(w, http.StatusUnprocessableEntity, b)
		default:
			writeError(w, http.StatusInternalServerError, "Reload failed: "+err.Error(), provider.ErrTypeServer, "", "reload_failed")
		}
		return
	}
	b, _ := json.Marshal(struct {
		Status string `json:"status"`
		*ReloadResult
	}{"reloaded", res})
	writeJSON(w, http.StatusOK, b)
}

type reloadProblem struct {
	Path     string `json:"path"`
	Message  string `json:"message"`
	Severity string `json:"severity"`
}

// adminOnly guards a management endpoint with the admin token rule
// (auth.Admin) of the running configuration.
func (g *Gateway) adminOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if admin := g.rt.Load().admin; !admin.Allow(r) {
			admin.Refuse(w)
			return
		}
		h(w, r)
	})
}
