package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// Demo ports: fixed so that the README's fault-injection commands work as
// written.
const (
	demoOpenAIAddr      = "127.0.0.1:41010"
	demoOpenAIAdmin     = "127.0.0.1:41011"
	demoAnthropicAddr   = "127.0.0.1:41020"
	demoAnthropicAdmin  = "127.0.0.1:41021"
	demoOpenAIKey       = "sk-demo-openai"
	demoAnthropicKey    = "sk-ant-demo-anthropic"
	demoOpenAIKeyEnv    = "DEMO_OPENAI_API_KEY"
	demoAnthropicKeyEnv = "DEMO_ANTHROPIC_API_KEY"
)

// demoConfig is the tutorial's configuration pointed at the simulators, with
// a 5 s probe interval so that failover and recovery show within seconds.
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
routes:
  - model: smart
    targets:
      - {target: anthropic-fallback, model: claude-sonnet-4-20250514}
      - {target: openai-primary, model: gpt-4o}
  - model: "gpt-4o*"
    targets:
      - target: openai-primary
      - {target: anthropic-fallback, model: claude-sonnet-4-20250514}
  - model: "*"
    targets:
      - target: openai-primary
      - target: anthropic-fallback
`

type demo struct {
	servers []*sim.Server
	config  []byte
	environ []string
	// moved lists the fixed ports that were taken, so that their
	// simulator listens elsewhere (the banner says where).
	moved []string
}

func startDemo(ctx context.Context) (*demo, error) {
	d := &demo{environ: []string{demoOpenAIKeyEnv + "=" + demoOpenAIKey, demoAnthropicKeyEnv + "=" + demoAnthropicKey}}
	oa, err := d.startSim(ctx, demoOpenAIAddr, demoOpenAIAdmin, sim.Options{Kind: sim.KindOpenAI, ExpectKey: demoOpenAIKey})
	if err != nil {
		return nil, fmt.Errorf("start simulated openai provider: %w", err)
	}
	an, err := d.startSim(ctx, demoAnthropicAddr, demoAnthropicAdmin, sim.Options{Kind: sim.KindAnthropic, ExpectKey: demoAnthropicKey})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("start simulated anthropic provider: %w", err)
	}
	d.config = fmt.Appendf(nil, demoConfig, oa.URL(), an.URL())
	return d, nil
}

// startSim starts a simulator on its fixed demo ports or, when one of them
// is taken (another demo, or any program, holds it), on ports the system
// picks: the demo still starts, and its banner prints where to reach it.
func (d *demo) startSim(ctx context.Context, api, admin string, o sim.Options) (*sim.Server, error) {
	srv, err := sim.Start(ctx, api, admin, sim.New(o))
	if errors.Is(err, syscall.EADDRINUSE) {
		d.moved = append(d.moved, api, admin)
		srv, err = sim.Start(ctx, "127.0.0.1:0", "127.0.0.1:0", sim.New(o))
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

func (d *demo) printBanner(w io.Writer) {
	if len(d.moved) > 0 {
		fmt.Fprintf(w, "Demo mode: %s in use, so the simulators listen on other ports (below).\n", strings.Join(d.moved, " or "))
	}
	fmt.Fprintf(w, `Demo mode: two simulated providers, no keys needed.
  openai-primary      %s/v1   (fault injection: %s/fault)
  anthropic-fallback  %s      (fault injection: %s/fault)

Try:
  curl -s http://localhost:41002/v1/chat/completions -H "Content-Type: application/json" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}' \
    | jq '{model: .model, provider: .keeptrusts_metadata.provider}'
Take the primary down and try again (or use "wrong_key", "error", "hang"; DELETE to recover):
  curl -s -X PUT %s/fault -d '{"kind":"down"}'
  curl -s http://localhost:41002/health | jq '.providers'

`, d.servers[0].URL(), d.servers[0].AdminURL(), d.servers[1].URL(), d.servers[1].AdminURL(), d.servers[0].AdminURL())
}
