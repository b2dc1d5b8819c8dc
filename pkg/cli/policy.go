package cli

import (
	"github.com/spf13/cobra"

	"github.com/keeptrusts/gateway/pkg/config"
)

func newPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with gateway configuration files",
	}
	var file string
	lint := &cobra.Command{
		Use:   "lint --file FILE",
		Short: "Validate a configuration file without starting anything",
		Long: `lint loads a configuration file exactly as the gateway would (YAML, then KT_
environment overrides), reports every problem at once with its field path,
and summarises the targets' priorities and health-check settings when the
file is valid. Secret values are never printed, only where they come from.

Exit status: 0 when valid (warnings allowed), 1 when there are errors.`,
		Example: "  kt policy lint --file policy-config.yaml",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			f, problems, err := config.Load(config.LoadOptions{File: file, Environ: e.environ})
			if err != nil {
				return err
			}
			if !config.Lint(e.stdout, file, f, problems) {
				return exitError{code: 1}
			}
			return nil
		},
	}
	lint.Flags().StringVarP(&file, "file", "f", config.DefaultConfigFile, "configuration file to validate")
	cmd.AddCommand(lint)
	return cmd
}
