package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// Demo ports: fixed by default so that the README's and the tutorial's
// fault-injection commands work as written; --demo-sim-ports changes them
// (tests pass ports they picked, so they never depend on these being free
// or taken).
const (
	demoOpenAIPort      = 41010
	demoOpenAIAdmin     = 41011
	demoAnthropicPort   = 41020
	demoAnthropicAdmin  = 41021
	demoOpenAIKey       = "sk-demo-openai"
	demoAnthropicKey    = "sk-ant-demo-anthropic"
	demoOpenAIKeyEnv    = "DEMO_OPENAI_API_KEY"
	demoAnthropicKeyEnv = "DEMO_ANTHROPIC_API_KEY"
)

// demoSimPorts is the default of --demo-sim-ports: the OpenAI simulator's
// API and admin ports, then the Anthropic simulator's.
var demoSimPorts = []int{demoOpenAIPort, demoOpenAIAdmin, demoAnthropicPort, demoAnthropicAdmin}

// demoConfig is the tutorial's configuration pointed at the simulators, with
// a 5 s probe interval so that failover and recovery show within seconds,
// the Prometheus endpoint on (the README's /metrics) and an event store of
// its own, so that demo traffic never mixes with the user's real events.
const demoConfig = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref:
        env: ` + demoOpenAIKeyEnv + `
      health_check:
        interval_seconds: 5
        timeout_seconds: 2
    - id: anthropic-fallback
      provider: anthropic
      base_url: %s
      secret_key_ref:
        env: ` + demoAnthropicKeyEnv + `
      health_check:
        interval_seconds: 5
        timeout_seconds: 2
  failover:
    enabled: true
    strategy: priority
    retry:
      max_attempts: 1
      timeout_seconds: 30
# The tutorial's model_mapping as routes, plus an alias: apps ask for
# "smart" and the route decides what answers (Anthropic first here).
# Claude models (Claude Code, the Anthropic SDKs on /v1/messages) go to
# Anthropic first and fail over to OpenAI's gpt-4o through translation.
routes:
  - model: smart
    targets:
      - {target: anthropic-fallback, model: claude-sonnet-4-20250514}
      - {target: openai-primary, model: gpt-4o}
  - model: "gpt-4o*"
    targets:
      - target: openai-primary
      - {target: anthropic-fallback, model: claude-sonnet-4-20250514}
  - model: "claude-*"
    targets:
      - target: anthropic-fallback
      - {target: openai-primary, model: gpt-4o}
  - model: "*"
    targets:
      - target: openai-primary
      - target: anthropic-fallback
events:
  path: %s
telemetry:
  prometheus:
    enabled: true
`

// demoOptions says where the demo's simulators listen and where its events
// go.
type demoOptions struct {
	// ports are the OpenAI simulator's API and admin ports, then the
	// Anthropic simulator's; 0 lets the system pick.
	ports []int
	// storePath is the demo's own event store.
	storePath string
}

type demo struct {
	servers   []*sim.Server
	config    []byte
	environ   []string
	storePath string
	// moved lists the requested ports that were taken, so that their
	// simulator listens elsewhere (the banner says where).
	moved []string
}

// demoStorePath is the demo's event store: beside the default store, in a
// directory of its own, so that `kt events tail` on a real gateway never
// shows demo traffic (and the demo's survives its restarts, as the
// tutorial's events step needs).
func demoStorePath(environ []string) (string, error) {
	if dir := getenvFrom(environ, "XDG_STATE_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "keeptrusts", "demo", "events.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("demo event store: no home directory (%v); set XDG_STATE_HOME", err)
	}
	return filepath.Join(home, ".local", "state", "keeptrusts", "demo", "events.db"), nil
}

func startDemo(ctx context.Context, o demoOptions) (*demo, error) {
	if len(o.ports) != 4 {
		return nil, fmt.Errorf("--demo-sim-ports: want 4 ports (openai, openai admin, anthropic, anthropic admin), got %d", len(o.ports))
	}
	for _, p := range o.ports {
		if p < 0 || p > 65535 {
			return nil, fmt.Errorf("--demo-sim-ports: %d is not a port", p)
		}
	}
	d := &demo{storePath: o.storePath, environ: []string{demoOpenAIKeyEnv + "=" + demoOpenAIKey, demoAnthropicKeyEnv + "=" + demoAnthropicKey}}
	// The demo's file names these two kinds; their simulators are the
	// ones the kinds name, as in a drill.
	oaKind, err := sim.ParseKind(openai.Kind.Sim)
	if err != nil {
		return nil, err
	}
	anKind, err := sim.ParseKind(anthropic.Kind.Sim)
	if err != nil {
		return nil, err
	}
	oa, err := d.startSim(ctx, o.ports[0], o.ports[1], sim.Options{Kind: oaKind, ExpectKey: demoOpenAIKey})
	if err != nil {
		return nil, fmt.Errorf("start simulated openai provider: %w", err)
	}
	an, err := d.startSim(ctx, o.ports[2], o.ports[3], sim.Options{Kind: anKind, ExpectKey: demoAnthropicKey})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("start simulated anthropic provider: %w", err)
	}
	d.config = fmt.Appendf(nil, demoConfig, oa.URL(), an.URL(), strconv.Quote(o.storePath))
	return d, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// startSim starts a simulator on its requested ports or, when one of them
// is taken (another demo, or any program, holds it), on ports the system
// picks: the demo still starts, and its banner prints where to reach it.
func (d *demo) startSim(ctx context.Context, api, admin int, o sim.Options) (*sim.Server, error) {
	srv, err := sim.Start(ctx, loopback(api), loopback(admin), sim.New(o))
	if errors.Is(err, syscall.EADDRINUSE) {
		d.moved = append(d.moved, loopback(api), loopback(admin))
		srv, err = sim.Start(ctx, loopback(0), loopback(0), sim.New(o))
	}
	if err != nil {
		return nil, err
	}
	d.servers = append(d.servers, srv)
	return srv, nil
}

func (d *demo) close() {
	var errs []error
	for _, s := range d.servers {
		errs = append(errs, s.Close())
	}
	_ = errors.Join(errs...)
}

// gatewayURL is the root to print for a listener: localhost for a loopback
// bind (the README's spelling), else the address itself.
func gatewayURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// printBanner prints how to use the demo; gw is the gateway's root URL as it
// actually listens (--port may have moved it from 41002).
func (d *demo) printBanner(w io.Writer, gw string) {
	if len(d.moved) > 0 {
		fmt.Fprintf(w, "Demo mode: %s in use, so the simulators listen on other ports (below).\n", strings.Join(d.moved, " or "))
	}
	fmt.Fprintf(w, `Demo mode: two simulated providers, no keys needed.
  openai-primary      %s/v1   (fault injection: %s/fault)
  anthropic-fallback  %s      (fault injection: %s/fault)
  events              %s (the demo's own store)
  metrics             %s/metrics

Try:
  curl -s %s/v1/chat/completions -H "Content-Type: application/json" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}' \
    | jq '{model: .model, provider: .keeptrusts_metadata.provider}'
Ask the alias "smart" (a route: Anthropic first, then OpenAI's gpt-4o) the same way:
  -d '{"model":"smart","messages":[{"role":"user","content":"Hi"}]}'
Every endpoint answers: /v1/messages (Anthropic's format; Claude Code:
ANTHROPIC_BASE_URL=%s), /v1/messages/count_tokens, /v1/responses,
/v1/embeddings, /v1/completions. For example:
  curl -s %s/v1/messages -H "Content-Type: application/json" \
    -d '{"model":"claude-sonnet-4-20250514","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}'
  curl -s %s/v1/embeddings -H "Content-Type: application/json" \
    -d '{"model":"text-embedding-3-small","input":["a","b"]}' | jq '.data | length'
Take the primary down and try again (DELETE to recover):
  curl -s -X PUT %s/fault -d '{"kind":"down"}'
  curl -s %s/health | jq '.providers'
Other faults: "wrong_key", "error", "slow_first_token" with "delay":"2s".
Note: "hang" holds every request to the primary until the 30 s attempt
timeout before it fails over; for a quick look use "slow_first_token".

`, d.servers[0].URL(), d.servers[0].AdminURL(), d.servers[1].URL(), d.servers[1].AdminURL(), d.storePath, gw,
		gw, gw, gw, gw, d.servers[0].AdminURL(), gw)
}
