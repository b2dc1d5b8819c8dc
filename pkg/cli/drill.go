package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/gateway/pkg/drill"
)

func newDrillCmd(e *env) *cobra.Command {
	var (
		file, scenario, format, gatewayURL string
		admins                             []string
		rps, maxRequests                   int
		duration                           time.Duration
		streamShare                        float64
		model                              string
		quiet                              bool
	)
	cmd := &cobra.Command{
		Use:   "drill --config FILE [--scenario NAME] [--rps N] [--duration D]",
		Short: "Run a scripted outage under bounded load and report detection, failover and recovery",
		Long: `drill validates a configuration's failover before production. Without
--gateway it starts one simulated provider per target (kt sim, matching each
target's provider kind; keys from the targets' variables when set, generated
otherwise) and a gateway with the configuration pointed at them, all on
127.0.0.1. It sends open-loop traffic at --rps for --duration (a share of it
streaming), injects the scenario's faults (20% normal, 40% fault, 40%
recovered), prints progress once a second to stderr, and ends with a report:
requests, errors by status, time to detect (first fallback answer, breaker
opened, health flipped), failover latency added, attempts wasted on a
known-bad target, time to recover, and events written vs requests sent;
then, read from the gateway's events, same-target retries (and answers by a
retry), mid-stream continuations (ok/refused/failed), stalls and stall
detection time (p50/max), interrupted streams, and the upstream streams that
ended without [DONE]. A figure the run could not give says why.

Scenarios:
  primary-down    the primary refuses connections
  primary-slow    the primary's first token comes after the attempt timeout
  primary-429     the primary rate-limits with Retry-After
  flapping        the primary goes down and up every few seconds
  all-down        every target is down in the middle (503s expected)
  transient       one 500 at a time, then one 429 (Retry-After 1): retried
  stall           the primary's streams go silent mid-answer: detected, continued
  cut             the primary's streams are cut mid-answer: continued
  no-done         the primary's complete streams lack [DONE]: still successes
  context-length  the primary refuses the prompt as too long: moved to the fallback

transient, stall, cut and context-length need failover settings that are off
by default (same_target.max_retries, stream_idle_timeout_seconds short enough
for the fault, midstream.enabled, on_context_length_exceeded): when the
configuration leaves them at their defaults the drill sets them on its own
gateway (KT_ overrides) and lists them in the report. stall, cut and no-done
send only streams unless --stream-share is given.

With --gateway URL and --sim-admin URL,URL (kt sim admin roots in target
priority order) it drives a running stack instead.`,
		Example: `  kt drill --config policy-config.yaml --scenario primary-down --duration 30s
  kt drill --config policy-config.yaml --scenario flapping --duration 10m --format json
  kt drill --config policy-config.yaml --scenario stall --duration 30s
  kt drill --config policy-config.yaml --gateway http://127.0.0.1:41002 \
    --sim-admin http://127.0.0.1:41011,http://127.0.0.1:41021`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sc, err := drill.ParseScenario(scenario)
			if err != nil {
				return err
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			if gatewayURL == "" && len(admins) > 0 {
				return fmt.Errorf("--sim-admin needs --gateway")
			}
			if _, err := os.Stat(file); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			opts := drill.Options{
				File: file, Environ: e.environ, Scenario: sc, RPS: rps, Duration: duration,
				MaxRequests: maxRequests, StreamShare: streamShare, Model: model,
				Gateway: gatewayURL, SimAdmin: admins,
			}
			switch {
			case !c.Flags().Changed("stream-share"):
				opts.StreamShare = 0 // the scenario's default
			case streamShare == 0:
				opts.StreamShare = -1 // 0 asked for: no streams
			}
			if !quiet {
				opts.Progress = e.stderr
			}
			rep, err := drill.Run(c.Context(), opts)
			if err != nil {
				return err
			}
			if format == "json" {
				return rep.WriteJSON(e.stdout)
			}
			return rep.WriteTable(e.stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "config", "policy-config.yaml", "configuration file")
	fl.StringVar(&file, "policy-config", "policy-config.yaml", "alias of --config")
	_ = fl.MarkHidden("policy-config")
	fl.StringVar(&scenario, "scenario", string(drill.PrimaryDown), "primary-down, primary-slow, primary-429, flapping, all-down, transient, stall, cut, no-done or context-length")
	fl.IntVar(&rps, "rps", drill.DefaultRPS, "requests per second (open loop)")
	fl.DurationVar(&duration, "duration", drill.DefaultDuration, "how long the load runs")
	fl.IntVar(&maxRequests, "max-requests", 0, "cap on requests sent (0 = rps × duration)")
	fl.Float64Var(&streamShare, "stream-share", drill.DefaultStreamShare, "fraction of streaming requests, 0 to 1 (stall, cut and no-done: 1 unless given)")
	fl.StringVar(&model, "model", "", "model to request (default: a model_mapping key)")
	fl.StringVar(&format, "format", "table", "report format: table or json")
	fl.StringVar(&gatewayURL, "gateway", "", "drive a running gateway at this URL instead of starting one")
	fl.StringSliceVar(&admins, "sim-admin", nil, "admin URLs of the running stack's simulators, primary first")
	fl.BoolVar(&quiet, "quiet", false, "no progress lines")
	return cmd
}
