package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/gateway/pkg/auth"
)

// maxKeyInput bounds what kt keys hash reads from stdin; a key is a few
// dozen bytes.
const maxKeyInput = 64 << 10

// shortKeyLen is the length under which kt keys hash warns: the fast hash
// is safe only for long random keys.
const shortKeyLen = 32

func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create gateway keys and compute their hashes for the config",
		Long: `keys creates the keys clients use to call the gateway. The configuration
stores only each key's hash ("sha256:<64 hex>") under auth.keys, with the
key's name and team; the key itself goes to the client, through your secret
manager. A leaked config therefore leaks no usable key.

  kt keys generate --team TEAM   new key on stdout, its config entry on stderr
  kt keys hash < key.txt         hash of an existing key`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newKeysGenerateCmd(e), newKeysHashCmd(e))
	return cmd
}

func newKeysGenerateCmd(e *env) *cobra.Command {
	var team, name string
	cmd := &cobra.Command{
		Use:   "generate --team TEAM [--name NAME]",
		Short: "Generate a new gateway key and print its config entry",
		Long: `generate creates a gateway key: "kt-" and 43 characters of base64url from 32
random bytes (256 bits).

The key is printed once, alone on stdout, so that $(...) or a redirect
captures exactly the key. The ready-to-paste auth.keys entry for the config
(name, team, hash: never the key) goes to stderr, so it shows on the
terminal without mixing into what you capture. The name defaults to
TEAM-<first 6 hex digits of the hash>.

Store the key in your secret manager right away: it is not shown again, and
the gateway keeps only its hash.`,
		Example: `  kt keys generate --team search
  KEY=$(kt keys generate --team search --name search-prod)   # entry on the terminal
  kt keys generate --team billing >billing.key 2>>keys-snippet.yaml`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			team, name = strings.TrimSpace(team), strings.TrimSpace(name)
			if team == "" {
				return errors.New("--team is empty: name the team the key belongs to")
			}
			key, err := auth.GenerateKey()
			if err != nil {
				return err
			}
			hash := auth.HashKey(key)
			if name == "" {
				name = team + "-" + strings.TrimPrefix(hash, auth.HashPrefix)[:6]
			}
			if _, err := fmt.Fprintln(e.stdout, key); err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			if _, err := io.WriteString(e.stderr, keySnippet(name, team, hash)); err != nil {
				return fmt.Errorf("write config entry: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "team the key belongs to (required)")
	cmd.Flags().StringVar(&name, "name", "", "key name in logs and metrics (default TEAM-<first 6 hex digits of the hash>)")
	_ = cmd.MarkFlagRequired("team")
	return cmd
}

// keySnippet is the auth.keys entry for a key, as YAML to paste into the
// config, followed by the hint as a YAML comment.
func keySnippet(name, team, hash string) string {
	return fmt.Sprintf(`auth:
  enabled: true   # keys are checked only when auth is enabled
  keys:
    - name: %s
      team: %s
      hash: %s
# Store the key in your secret manager now: it is not shown again, and the gateway keeps only the hash.
`, yamlString(name), yamlString(team), hash)
}

// plainYAML matches strings that YAML reads back as the same string
// without quotes.
var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

// yamlString renders s as a YAML scalar that reads back as the string s:
// plain when that is unambiguous, else double-quoted (a JSON string is a
// valid YAML double-quoted scalar).
func yamlString(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		// YAML 1.1 readers take these for booleans or null.
	default:
		if plainYAML.MatchString(s) {
			return s
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func newKeysHashCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "hash < KEYFILE",
		Short: "Print the config hash of a gateway key read from stdin",
		Long: `hash reads one gateway key from stdin and prints the hash to put in the
config's auth.keys[].hash, "sha256:<64 hex>". A trailing newline is
ignored; empty input, several lines and surrounding whitespace are refused.

The key is read from stdin, not taken as an argument, so that it stays out
of your shell history and the process list. It warns on stderr about keys
shorter than 32 characters: the gateway's fast hash is safe only for long
random keys such as kt keys generate makes.`,
		Example: `  kt keys hash < search.key
  vault kv get -field=key secret/kt/search | kt keys hash
  printf %s "$KEY" | kt keys hash`,
		// Not cobra.NoArgs: its error would quote the argument, the key.
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return errors.New("kt keys hash takes no arguments: pipe the key on stdin (arguments end up in shell history and the process list)")
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			key, err := readKey(c.InOrStdin())
			if err != nil {
				return err
			}
			if n := len(key); n < shortKeyLen {
				fmt.Fprintf(e.stderr, "warning: this key is short (%d characters); gateway keys should be long random tokens (kt keys generate)\n", n)
			}
			if _, err := fmt.Fprintln(e.stdout, auth.HashKey(key)); err != nil {
				return fmt.Errorf("write hash: %w", err)
			}
			return nil
		},
	}
}

// readKey reads one key from r: one trailing "\n" or "\r\n" is dropped.
// Errors describe the input, never quote it.
func readKey(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxKeyInput+1))
	if err != nil {
		return "", fmt.Errorf("read key from stdin: %w", err)
	}
	if len(b) > maxKeyInput {
		return "", fmt.Errorf("stdin holds more than %d KiB: expected one gateway key", maxKeyInput>>10)
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	switch {
	case s == "":
		return "", errors.New("no key on stdin: pipe one in, e.g. kt keys hash < key.txt")
	case strings.ContainsAny(s, "\r\n"):
		return "", errors.New("stdin holds more than one line: pipe exactly one key")
	case strings.TrimSpace(s) != s:
		return "", errors.New("the key has leading or trailing whitespace, which HTTP clients cannot send in a header: remove it")
	}
	return s, nil
}
