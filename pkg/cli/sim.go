package cli

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/logging"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// adminTokenEnv names the environment variable holding the admin token:
// the one kt sim requires on its admin API and kt events tail sends to the
// gateway. Not KT_-prefixed: those are configuration overrides.
const adminTokenEnv = "KEEPTRUSTS_ADMIN_TOKEN"

// getenvFrom is the value of key in environ ("KEY=value" entries; the last
// one wins, as in os/exec), "" when unset.
func getenvFrom(environ []string, key string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

func newSimCmd(e *env) *cobra.Command {
	var (
		kind, host, expectKey, faultKind, logLevel string
		port, adminPort, status, retryAfter        int
		latency, chunkDelay, delay                 time.Duration
		afterChunks, count                         int
	)
	cmd := &cobra.Command{
		Use:   "sim --kind openai|anthropic [--port N] [--admin-port N]",
		Short: "Run a simulated provider (OpenAI- or Anthropic-shaped) with fault injection",
		Long: `sim runs a local provider simulator that speaks the OpenAI Chat Completions or
the Anthropic Messages wire format, streaming and not, with the providers'
real error bodies and GET /v1/models. It answers deterministically (the
tutorial's question gets "Paris") and checks the API key with --expect-key.

Faults can be set at start-up (--fault ...) and changed at run time on the
admin port:
  curl -X PUT  http://127.0.0.1:ADMIN/fault -d '{"kind":"error","status":503}'
  curl -X DELETE http://127.0.0.1:ADMIN/fault
  curl http://127.0.0.1:ADMIN/stats

Fault kinds: none, down, reset, hang, slow_first_token, slow_stream, error,
rate_limit, reset_mid_stream, wrong_key, stream_error.

The admin API is guarded like the gateway's management endpoints: set
KEEPTRUSTS_ADMIN_TOKEN in the environment and every admin request needs
"Authorization: Bearer $KEEPTRUSTS_ADMIN_TOKEN"; without it the admin API is open
when --host is loopback (the default, 127.0.0.1) and refused (403) otherwise.
GET /healthz stays open for container health checks.

The gateway's base_url for an openai sim is http://HOST:PORT/v1; for an
anthropic sim it is http://HOST:PORT.`,
		Example: `  kt sim --kind openai --port 41010 --expect-key sk-test
  kt sim --kind anthropic --port 41020 --fault error --status 529
  KEEPTRUSTS_ADMIN_TOKEN=$(cat admin-token) kt sim --kind openai --host 0.0.0.0
  curl -H "Authorization: Bearer $(cat admin-token)" http://127.0.0.1:41011/stats`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			logger, err := logging.New(e.stderr, "text", logLevel)
			if err != nil {
				return err
			}
			if adminPort == 0 && port != 0 {
				adminPort = port + 1
			}
			opts := sim.Options{
				Kind:       sim.Kind(kind),
				ExpectKey:  expectKey,
				Latency:    latency,
				ChunkDelay: chunkDelay,
				Logger:     logger.With("component", "sim"),
				Fault: sim.Fault{Kind: sim.FaultKind(faultKind), Status: status, RetryAfterSeconds: retryAfter,
					Delay: delay, AfterChunks: afterChunks, Count: count},
			}
			if opts.Kind != sim.KindOpenAI && opts.Kind != sim.KindAnthropic {
				return fmt.Errorf("--kind %q: want openai or anthropic", kind)
			}
			guard := auth.NewAdmin(host, getenvFrom(e.environ, adminTokenEnv)).WithTokenHint(adminTokenEnv)
			srv, err := sim.Start(c.Context(), net.JoinHostPort(host, strconv.Itoa(port)), net.JoinHostPort(host, strconv.Itoa(adminPort)), sim.New(opts),
				sim.WithAdminGuard(guard.Wrap))
			if err != nil {
				return err
			}
			defer srv.Close()
			base := srv.URL()
			if opts.Kind == sim.KindOpenAI {
				base += "/v1"
			}
			logger.Info("Simulated "+kind+" provider ready", "base_url", base, "admin", srv.AdminURL(), "admin_auth", guard.String())
			<-c.Context().Done()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kind, "kind", "openai", "wire format: openai or anthropic")
	fl.StringVar(&host, "host", "127.0.0.1", "address to bind")
	fl.IntVar(&port, "port", 41010, "API port (0 = any free port)")
	fl.IntVar(&adminPort, "admin-port", 0, "admin port for fault injection (default: port+1)")
	fl.StringVar(&expectKey, "expect-key", "", "API key to require (wrong or missing keys get the provider's 401)")
	fl.DurationVar(&latency, "latency", 0, "delay before each answer or first stream chunk")
	fl.DurationVar(&chunkDelay, "chunk-delay", 0, "delay between stream chunks")
	fl.StringVar(&faultKind, "fault", "none", "initial fault kind")
	fl.IntVar(&status, "status", 0, "HTTP status for --fault error")
	fl.IntVar(&retryAfter, "retry-after", 0, "Retry-After seconds for --fault rate_limit")
	fl.DurationVar(&delay, "delay", 0, "delay for slow_first_token / slow_stream faults")
	fl.IntVar(&afterChunks, "after-chunks", 0, "chunks sent before reset_mid_stream / stream_error")
	fl.IntVar(&count, "count", 0, "apply the fault to the next N chat requests only (0 = until changed)")
	fl.StringVar(&logLevel, "log-level", "info", "log level")
	return cmd
}
