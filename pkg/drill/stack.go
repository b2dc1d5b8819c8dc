package drill

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/gateway"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
	"github.com/keeptrusts/gateway/pkg/sim"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// StackOptions configures StartStack.
type StackOptions struct {
	// File is the configuration file; Data, when set, is used instead (File
	// then only names the source in errors).
	File string
	// Data is the configuration as YAML.
	Data []byte
	// Environ is read for KT_ overrides and the targets' secret variables. A
	// variable that is set becomes the key its simulator expects (it never
	// leaves 127.0.0.1); a missing one is generated.
	Environ []string
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// Telemetry, when set, is used by the gateway instead of the one the
	// configuration describes (tests record spans with it).
	Telemetry *telemetry.Telemetry
	// Dir holds the event store; "" makes a temporary directory that Close
	// removes.
	Dir string
}

// Stack is an in-process drill environment: one kt sim per target of the
// configuration, each speaking its target's wire format, and a gateway
// pointed at them, all on 127.0.0.1.
type Stack struct {
	// GatewayURL is the gateway's root, http://127.0.0.1:port.
	GatewayURL string
	// AdminURLs are the simulators' admin roots, in target priority order.
	AdminURLs []string
	// Targets are the target ids, in priority order.
	Targets []string
	// Config is the configuration the gateway runs (base URLs rewritten).
	Config *config.File
	// Environ is the environment the gateway was given (generated keys
	// included).
	Environ []string

	sims      []*sim.Server
	cancel    context.CancelFunc
	served    chan error
	tempDir   string
	closeOnce sync.Once
	closeErr  error
}

// LoadTargets loads a configuration without checking secrets and returns it
// with its targets' indexes in priority order.
func LoadTargets(file string, data []byte) (*config.File, []int, error) {
	f, problems, err := config.Load(config.LoadOptions{File: file, Data: data})
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	if err := problems.Err(); err != nil {
		return nil, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	order := make([]int, len(f.Providers.Targets))
	for i := range order {
		order[i] = i
	}
	ts := f.Providers.Targets
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ts[a].Priority, ts[b].Priority) })
	return f, order, nil
}

// simKind is the simulator that speaks a provider kind's wire format. A
// kind without one is an error: a drill against the wrong simulator would
// measure nothing real.
func simKind(provider string) (sim.Kind, error) {
	k, ok := kinds.Lookup(provider)
	if !ok {
		return "", fmt.Errorf("unknown provider %q", provider)
	}
	if k.Sim == "" {
		return "", fmt.Errorf("no simulator speaks provider %s", k.Name)
	}
	sk, err := sim.ParseKind(k.Sim)
	if err != nil {
		return "", fmt.Errorf("provider %s: %w", k.Name, err)
	}
	return sk, nil
}

// simModels is what a target's simulator serves: its kind's defaults plus
// every name the target may send as a model (its models, and the
// deployments an azure_openai target sends instead: Azure's simulator
// answers an unknown deployment 404, as Azure does). nil keeps the
// defaults.
func simModels(kind sim.Kind, t *config.Target) []string {
	if len(t.Models) == 0 && len(t.Deployments) == 0 {
		return nil
	}
	models := slices.Clone(sim.DefaultModels(kind))
	models = append(models, t.Models...)
	for _, dep := range t.Deployments {
		models = append(models, dep)
	}
	slices.Sort(models)
	return slices.Compact(models)
}

// StartStack starts a simulator per target and a gateway serving the
// configuration against them. Close stops everything.
func StartStack(ctx context.Context, opts StackOptions) (_ *Stack, err error) {
	first, order, err := LoadTargets(opts.File, opts.Data)
	if err != nil {
		return nil, err
	}
	st := &Stack{served: make(chan error, 1)}
	defer func() {
		if err != nil {
			st.closeSims()
			st.removeTemp()
		}
	}()
	environ := slices.Clone(opts.Environ)
	keys := make([]string, len(first.Providers.Targets))
	for i, t := range first.Providers.Targets {
		name := ""
		if t.SecretKeyRef != nil {
			name = t.SecretKeyRef.Env
		}
		if name == "" {
			// A file reference (or none) cannot be pointed at a simulator
			// key; a variable of the drill's own replaces it.
			name = fmt.Sprintf("KT_DRILL_KEY_%d", i)
		}
		if v, ok := lookupEnv(environ, name); ok && v != "" {
			keys[i] = v
		} else {
			keys[i] = "sk-drill-" + randomHex(12)
			environ = append(environ, name+"="+keys[i])
		}
		first.Providers.Targets[i].SecretKeyRef = &config.SecretKeyRef{Env: name}
	}
	st.Environ = environ
	// The second load applies KT_ overrides and checks the secrets now that
	// every variable is set.
	cfg, problems, err := config.Load(config.LoadOptions{File: opts.File, Data: opts.Data, Environ: environ})
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if err := problems.Err(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	for _, i := range order {
		t := &cfg.Providers.Targets[i]
		kind, err := simKind(t.Provider)
		if err != nil {
			return nil, fmt.Errorf("providers.targets[%d] (%s): %w", i, t.ID, err)
		}
		srv, err := sim.Start(ctx, "127.0.0.1:0", "127.0.0.1:0", sim.New(sim.Options{Kind: kind, ExpectKey: keys[i], Models: simModels(kind, t)}))
		if err != nil {
			return nil, fmt.Errorf("start simulator for %s: %w", t.ID, err)
		}
		st.sims = append(st.sims, srv)
		t.BaseURL = srv.BaseURL()
		t.SecretKeyRef = first.Providers.Targets[i].SecretKeyRef
		st.AdminURLs = append(st.AdminURLs, srv.AdminURL())
		st.Targets = append(st.Targets, t.ID)
	}
	cfg.Server.Host, cfg.Server.Port = "127.0.0.1", 0
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kt-drill-"); err != nil {
			return nil, fmt.Errorf("event store directory: %w", err)
		}
		st.tempDir = dir
	}
	cfg.Events.Path = filepath.Join(dir, "events.db")
	st.Config = cfg
	var gopts []gateway.Option
	if opts.Telemetry != nil {
		gopts = append(gopts, gateway.WithTelemetry(opts.Telemetry))
	}
	gw, err := gateway.New(cfg, environ, opts.Logger, gopts...)
	if err != nil {
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	ln, err := gw.Listen()
	if err != nil {
		_ = gw.Close(context.Background())
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	st.GatewayURL = "http://" + ln.Addr().String()
	sctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	go func() { st.served <- gw.Serve(sctx, ln) }()
	return st, nil
}

// Close stops the gateway (draining it, which flushes its events), then the
// simulators, and removes a temporary event store. It is safe to call more
// than once.
func (st *Stack) Close() error {
	st.closeOnce.Do(func() {
		st.cancel()
		st.closeErr = <-st.served
		st.closeSims()
		st.removeTemp()
	})
	return st.closeErr
}

func (st *Stack) closeSims() {
	for _, s := range st.sims {
		_ = s.Close()
	}
}

func (st *Stack) removeTemp() {
	if st.tempDir != "" {
		_ = os.RemoveAll(st.tempDir)
	}
}

// lookupEnv finds name in environ; the last assignment wins, as in exec.
func lookupEnv(environ []string, name string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(errors.New("drill: crypto/rand failed"))
	}
	return hex.EncodeToString(b)
}
