package cli

import (
	"errors"
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
		kind, host, expectKey, logLevel     string
		faultSpecs                          []string
		port, adminPort, status, retryAfter int
		latency, chunkDelay, delay          time.Duration
		afterChunks, count                  int
	)
	cmd := &cobra.Command{
		Use:   "sim --kind openai|anthropic|bedrock [--port N] [--admin-port N]",
		Short: "Run a simulated provider (OpenAI- or Anthropic-shaped) with fault injection",
		Long: `sim runs a local provider simulator that speaks the OpenAI Chat Completions or
the Anthropic Messages wire format, streaming and not, with the providers'
real error bodies and GET /v1/models. It answers deterministically (the
tutorial's question gets "Paris") and checks the API key with --expect-key.

Faults can be set at start-up (--fault, repeatable) and changed at run time
on the admin port. A fault is simulator-wide, or scoped to one model (it then
applies to that model's chat requests only and takes precedence there), so
one simulator can serve several behaviours at once:
  curl -X PUT  http://127.0.0.1:ADMIN/fault -d '{"kind":"error","status":503}'
  curl -X PUT  http://127.0.0.1:ADMIN/fault -d '{"kind":"stall","after_chunks":5,"model":"gpt-4o"}'
  curl -X DELETE http://127.0.0.1:ADMIN/fault            (?model=M: that model's)
  curl http://127.0.0.1:ADMIN/faults                     (PUT an array to replace all)
  curl http://127.0.0.1:ADMIN/stats                      (attempts per model under "models")

--fault takes a spec:  [model=NAME:]kind[:param[,key=value...]]
A bare first parameter is the kind's main one; keys: status, retry_after,
delay, after_chunks, context_window, code, count, model. A bare kind takes
its parameters from --status, --retry-after, --delay, --after-chunks and
--count instead (only one --fault may then be given).
  --fault error:503                       every request: 503
  --fault rate_limit:2,count=1            one 429 with Retry-After: 2, then OK
  --fault error:500,count=1               one 500, then OK
  --fault model=gpt-4o:stall:5            gpt-4o streams 5 frames, then silence
  --fault cut:3,model=llama3:8b           the same scoping as a parameter

Fault kinds (faults with count apply to that many chat requests, then clear;
a model's count is its own):
  none                 answer normally
  down                 API listener closed: connection refused (not per model)
  reset                TCP reset before any response
  hang                 never answer
  slow_first_token:D   wait D before the response headers
  slow_stream:D        wait D before every stream frame
  slow_first_content:D role chunk (OpenAI) / message_start+ping (Anthropic) at
                       once, then wait D before the first content delta
  error:STATUS         the provider's error body for STATUS (default 500)
  rate_limit:SECS      429 with Retry-After: SECS (default 1)
  wrong_key            401 as for a wrong key (probes too)
  reset_mid_stream:N   N frames, then a TCP reset
  cut:N                N frames, then the connection closes (no finish_reason)
  stall:N              N frames, then silence until the client goes away
  stream_error:STATUS  N frames (after_chunks), then an in-stream error event
  malformed:N          frame N has its JSON cut in half; the rest follows
  no_done              complete stream without data: [DONE] (Anthropic: no
                       message_stop), then a clean end of body
  context_length:M     400 context_length_exceeded / "prompt is too long: N
                       tokens > M maximum" (with M, only prompts over M tokens)
  content_policy:CODE  400 content_policy_violation (or content_filter);
                       Anthropic "Output blocked by content filtering policy"
  refuse_prefill       400 "This model does not support assistant message
                       prefill..." when the last message is an assistant's

Answers are deterministic; a request ending in an assistant message
(prefill) is continued: see docs/sim.md for how the text is derived.

The admin API is guarded like the gateway's management endpoints: set
KEEPTRUSTS_ADMIN_TOKEN in the environment and every admin request needs
"Authorization: Bearer $KEEPTRUSTS_ADMIN_TOKEN"; without it the admin API is open
when --host is loopback (the default, 127.0.0.1) and refused (403) otherwise.
GET /healthz stays open for container health checks.

The gateway's base_url for an openai sim is http://HOST:PORT/v1; for an
anthropic, azure_openai or bedrock sim it is http://HOST:PORT (an azure_openai
sim serves /openai/deployments/{deployment}/... with api-version, its
deployments being the listed models). A bedrock sim's --expect-key is
ACCESS_KEY_ID:SECRET_ACCESS_KEY: requests must be SigV4-signed with it, or
carry the whole value as a Bedrock API key (Authorization: Bearer).`,
		Example: `  kt sim --kind openai --port 41010 --expect-key sk-test
  kt sim --kind anthropic --port 41020 --fault error --status 529
  kt sim --kind azure_openai --port 41030 --expect-key az-key --fault content_policy
  kt sim --kind bedrock --port 41040 --expect-key AKIDSIM:simsecret
  kt sim --kind gemini --port 41030 --expect-key test-key
  kt sim --kind openai --fault model=gpt-4o:stall:5 --fault model=gpt-4o-mini:error:500,count=1
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
			simKind, err := sim.ParseKind(kind)
			if err != nil {
				return fmt.Errorf("--kind: %w", err)
			}
			opts := sim.Options{
				Kind:       simKind,
				ExpectKey:  expectKey,
				Latency:    latency,
				ChunkDelay: chunkDelay,
				Logger:     logger.With("component", "sim"),
			}
			k, err := sim.ParseKind(kind)
			if err != nil {
				return fmt.Errorf("--kind: %w", err)
			}
			opts.Kind = k
			fl := c.Flags()
			faults, err := simFaults(faultSpecs, sim.Fault{Status: status, RetryAfterSeconds: retryAfter,
				Delay: delay, AfterChunks: afterChunks, Count: count},
				fl.Changed("status") || fl.Changed("retry-after") || fl.Changed("delay") || fl.Changed("after-chunks") || fl.Changed("count"))
			if err != nil {
				return err
			}
			s := sim.New(opts)
			s.SetFaults(faults...)
			guard := auth.NewAdmin(host, getenvFrom(e.environ, adminTokenEnv)).WithTokenHint(adminTokenEnv)
			srv, err := sim.Start(c.Context(), net.JoinHostPort(host, strconv.Itoa(port)), net.JoinHostPort(host, strconv.Itoa(adminPort)), s,
				sim.WithAdminGuard(guard.Wrap))
			if err != nil {
				return err
			}
			defer srv.Close()
			base := srv.BaseURL()
			logger.Info("Simulated "+kind+" provider ready", "base_url", base, "admin", srv.AdminURL(), "admin_auth", guard.String())
			<-c.Context().Done()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kind, "kind", "openai", "wire format: openai, anthropic, azure_openai, bedrock or gemini (gemini also serves the Vertex AI URL shape)")
	fl.StringVar(&host, "host", "127.0.0.1", "address to bind")
	fl.IntVar(&port, "port", 41010, "API port (0 = any free port)")
	fl.IntVar(&adminPort, "admin-port", 0, "admin port for fault injection (default: port+1)")
	fl.StringVar(&expectKey, "expect-key", "", "API key to require (wrong or missing keys get the provider's 401; bedrock: ACCESS_KEY_ID:SECRET for SigV4, 403)")
	fl.DurationVar(&latency, "latency", 0, "delay before each answer or first stream chunk")
	fl.DurationVar(&chunkDelay, "chunk-delay", 0, "delay between stream chunks")
	fl.StringArrayVar(&faultSpecs, "fault", nil, "initial fault: a kind or a spec [model=NAME:]kind[:params] (repeatable; default none)")
	fl.IntVar(&status, "status", 0, "HTTP status for a bare --fault error / stream_error")
	fl.IntVar(&retryAfter, "retry-after", 0, "Retry-After seconds for a bare --fault rate_limit / error")
	fl.DurationVar(&delay, "delay", 0, "delay for a bare --fault slow_first_token / slow_stream / slow_first_content")
	fl.IntVar(&afterChunks, "after-chunks", 0, "frames sent before a bare --fault reset_mid_stream / stream_error / stall / cut / malformed")
	fl.IntVar(&count, "count", 0, "apply a bare --fault to the next N chat requests only (0 = until changed)")
	fl.StringVar(&logLevel, "log-level", "info", "log level")
	return cmd
}

// simFaults turns the --fault values into faults, each validated. A bare
// kind ("error") takes its parameters from the separate flags (params), as
// kt sim always did; a spec ("error:503", "model=gpt-4o:stall:5") carries its
// own, and the separate flags are then an error (flagsSet), as they would
// apply to nothing. At most one fault may be simulator-wide and one per model.
func simFaults(specs []string, params sim.Fault, flagsSet bool) ([]sim.Fault, error) {
	var faults []sim.Fault
	bare := 0
	for _, spec := range specs {
		if !strings.ContainsAny(spec, ":,=") {
			bare++
			f := params
			f.Kind = sim.FaultKind(strings.TrimSpace(spec))
			if err := f.Validate(); err != nil {
				return nil, fmt.Errorf("--fault %s: %w", spec, err)
			}
			faults = append(faults, f)
			continue
		}
		f, err := sim.ParseFault(spec)
		if err != nil {
			return nil, fmt.Errorf("--fault %s: %w", spec, err)
		}
		faults = append(faults, f)
	}
	switch {
	case flagsSet && bare == 0:
		return nil, errors.New("--status, --retry-after, --delay, --after-chunks and --count need a bare --fault kind (or put them in the spec: --fault error:status=503)")
	case flagsSet && len(specs) > 1:
		return nil, errors.New("--status, --retry-after, --delay, --after-chunks and --count need a single --fault (put parameters in each spec instead)")
	}
	if err := sim.ValidateFaults(faults); err != nil {
		return nil, fmt.Errorf("--fault: %w", err)
	}
	return faults, nil
}
