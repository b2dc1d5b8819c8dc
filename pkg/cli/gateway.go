package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/gateway"
	"github.com/keeptrusts/gateway/pkg/logging"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

func newGatewayCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the gateway",
	}
	var (
		file      string
		isDemo    bool
		demoPorts []int
	)
	run := &cobra.Command{
		Use:   "run [--policy-config FILE] [--port N] [--host ADDR]",
		Short: "Run the gateway until SIGINT or SIGTERM",
		Long: `run loads the configuration (YAML file, then KT_ environment overrides, then
these flags), probes every target once, and serves the OpenAI-compatible API:

  POST /v1/chat/completions   chat completions, streaming or not, with failover
  GET  /v1/models             the models the gateway can serve
  GET  /health                per-provider health (?verbose=1 adds circuit state)
  GET  /livez, /readyz        liveness and readiness for orchestrators
  GET  /metrics               Prometheus metrics (telemetry.prometheus.enabled)

On SIGTERM it stops accepting connections and drains in-flight requests and
streams for up to server.shutdown_timeout_seconds.

On SIGHUP, on POST /admin/reload and (reload.watch, on by default) when the
file changes, it reloads the configuration: the new one is validated first
and applied atomically; in-flight requests finish with the old one, and
targets whose connection settings did not change keep their circuit breaker
and health state. An invalid file is rejected with lint-style errors in the
log and the running configuration keeps serving. Listener, logging,
telemetry and events settings need a restart.

Management endpoints (GET /v1/events, /v1/events/stream, /health?verbose=1,
POST /admin/reload) need the admin token (admin.token_ref) when one is set;
without one they are open on a loopback bind and refused on any other.

--demo starts two simulated providers in-process (OpenAI- and
Anthropic-shaped, on 127.0.0.1:41010 and :41020 with fault injection on
:41011 and :41021; --demo-sim-ports changes them, and a taken port moves its
simulator to a free one) and a gateway configured like the failover
tutorial: no keys, no Docker, Prometheus metrics at /metrics, and an event
store of its own (printed in the banner) so demo traffic never mixes with
real events.`,
		Example: `  kt gateway run --policy-config policy-config.yaml --port 41002
  kt gateway run --demo
  kt gateway run --demo --port 8080 --demo-sim-ports 0,0,0,0`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			opts := config.LoadOptions{File: file, Environ: e.environ, Flags: c.Flags()}
			var d *demo
			if isDemo {
				store, err := demoStorePath(e.environ)
				if err != nil {
					return err
				}
				if d, err = startDemo(ctx, demoOptions{ports: demoPorts, storePath: store}); err != nil {
					return err
				}
				defer d.close()
				opts.File, opts.Data = "", d.config
				opts.Environ = append(append([]string{}, e.environ...), d.environ...)
			} else if c.Flags().Changed("demo-sim-ports") {
				return fmt.Errorf("--demo-sim-ports needs --demo")
			}
			f, problems, err := config.Load(opts)
			if err != nil {
				return err
			}
			for _, p := range problems.Warnings() {
				fmt.Fprintln(e.stderr, p.String())
			}
			if err := problems.Err(); err != nil {
				return fmt.Errorf("invalid configuration (run kt policy lint --file %s):\n%w", file, err)
			}
			logger, err := logging.New(e.stderr, f.Logging.Format, f.Logging.Level)
			if err != nil {
				return err
			}
			// Export failures are logged, never fatal: telemetry is not on
			// the request path.
			otel.SetErrorHandler(telemetry.ErrorHandler(logger))
			gopts := []gateway.Option{gateway.WithVersion(Version)}
			if !isDemo {
				// Reload re-reads the file with the same environment and flags.
				gopts = append(gopts, gateway.WithReload(func() (*config.File, config.Problems, error) { return config.Load(opts) }, file))
			}
			gw, err := gateway.New(f, opts.Environ, logger, gopts...)
			if err != nil {
				return err
			}
			ln, err := gw.Listen()
			if err != nil {
				return err
			}
			if d != nil {
				// After Listen: the banner's curl lines name the port
				// actually used, and the store the one actually opened
				// (KT_EVENTS__PATH may have moved it).
				d.storePath = f.Events.Path
				d.printBanner(e.stderr, gatewayURL(ln.Addr()))
			}
			return gw.Serve(ctx, ln)
		},
	}
	fl := run.Flags()
	fl.StringVar(&file, "policy-config", config.DefaultConfigFile, "configuration file")
	fl.StringVar(&file, "config", config.DefaultConfigFile, "alias of --policy-config")
	_ = fl.MarkHidden("config")
	fl.Int("port", config.DefaultPort, "port to listen on (overrides server.port)")
	fl.String("host", config.DefaultHost, "address to bind (overrides server.host; 0.0.0.0 in containers)")
	fl.String("log-format", config.DefaultLogFormat, "log format: text or json (overrides logging.format)")
	fl.String("log-level", config.DefaultLogLevel, "log level: debug, info, warn or error (overrides logging.level)")
	fl.BoolVar(&isDemo, "demo", false, "run with two in-process simulated providers and a tutorial-like configuration")
	fl.IntSliceVar(&demoPorts, "demo-sim-ports", demoSimPorts, "with --demo: the simulators' ports (openai, openai admin, anthropic, anthropic admin; 0 = any free port)")
	cmd.AddCommand(run)
	return cmd
}
