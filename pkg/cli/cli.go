// Package cli holds the kt commands (cobra), their flags and output formats.
// Every command returns an error up to Main; ExitCode turns it into the
// process exit code and prints it once.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Version is the build's version, set with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// exitError carries an exit code for a failure that was already reported
// (e.g. lint problems printed to stdout).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode prints err (unless already reported) to stderr and returns the
// process exit code: 0 for nil, the carried code, or 1.
func ExitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "kt: "+err.Error())
	return 1
}

// env is the process environment, read once per command run so that tests
// can pass their own.
type env struct {
	stdout, stderr io.Writer
	environ        []string
}

// Main runs the kt command line with args (without the program name).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return MainEnv(ctx, args, stdout, stderr, os.Environ())
}

// MainEnv is Main with an explicit environment (for tests).
func MainEnv(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	e := &env{stdout: stdout, stderr: stderr, environ: environ}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "kt",
		Short: "Keeptrusts gateway: an OpenAI-compatible LLM gateway with failover you can trust and see",
		Long: `kt runs the Keeptrusts gateway, an OpenAI-compatible LLM gateway that puts
circuit breakers and active health checks around every provider target and
fails over by priority, with model mapping, retries and timeouts.

Start with the embedded demo (simulated providers, no keys):
  kt gateway run --demo

Validate and run your own configuration:
  kt policy lint --file policy-config.yaml
  kt gateway run --policy-config policy-config.yaml`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newGatewayCmd(e), newPolicyCmd(e), newEventsCmd(e), newSimCmd(e), newKeysCmd(e), newDrillCmd(e), newVersionCmd(e))
	return root
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the kt version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(e.stdout, "kt "+Version)
			return err
		},
	}
}
