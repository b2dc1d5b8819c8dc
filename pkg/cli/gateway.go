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
		file string
		demo bool
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
Anthropic-shaped) and a gateway configured like the failover tutorial: no
keys, no Docker.`,
		Example: `  kt gateway run --policy-config policy-config.yaml --port 41002
  kt gateway run --demo`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			opts := config.LoadOptions{File: file, Environ: e.environ, Flags: c.Flags()}
			if demo {
				d, err := startDemo(ctx)
				if err != nil {
					return err
				}
				defer d.close()
				opts.File, opts.Data = "", d.config
				opts.Environ = append(append([]string{}, e.environ...), d.environ...)
				d.printBanner(e.stderr)
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
			if !demo {
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
	fl.BoolVar(&demo, "demo", false, "run with two in-process simulated providers and a tutorial-like configuration")
	cmd.AddCommand(run)
	return cmd
}
