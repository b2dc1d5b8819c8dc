package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keeptrusts/gateway/pkg/config"
)

// docFiles are the documents whose commands and variables are checked
// against the code (relative to this package).
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md", "../../deploy/README.md"}
	more, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// codeBlock is a fenced block of a markdown file.
type codeBlock struct {
	file string
	line int    // of the opening fence
	lang string // the fence's info string
	// marker is the doc-test marker in an HTML comment on the line before
	// the fence ("run"), or "".
	marker string
	text   string
}

var docTestMarker = regexp.MustCompile(`^<!--\s*doc-test:\s*(\S+)\s*-->$`)

// markdownBlocks returns the fenced code blocks of a markdown document.
func markdownBlocks(file, doc string) []codeBlock {
	var (
		blocks []codeBlock
		cur    *codeBlock
		prev   string
		body   strings.Builder
	)
	for i, l := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &codeBlock{file: file, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			if m := docTestMarker.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				cur.marker = m[1]
			}
			body.Reset()
		case cur != nil && strings.HasPrefix(trimmed, "```"):
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			// List items indent their blocks.
			body.WriteString(strings.TrimPrefix(l, "  ") + "\n")
		}
		prev = l
	}
	return blocks
}

// shellCommands splits shell text into simple commands (argument lists):
// continuation lines joined, comments dropped, quotes removed, and split at
// |, ||, &&, ; and &. Command substitutions and heredoc bodies are kept as
// single words or skipped; it is enough for documentation samples.
func shellCommands(text string) [][]string {
	var cmds [][]string
	text = strings.ReplaceAll(text, "\\\n", " ")
	sc := bufio.NewScanner(strings.NewReader(text))
	heredoc := ""
	for sc.Scan() {
		line := sc.Text()
		if heredoc != "" {
			if strings.TrimSpace(line) == heredoc {
				heredoc = ""
			}
			continue
		}
		if _, after, ok := strings.Cut(line, "<<"); ok {
			heredoc = strings.Trim(strings.Fields(after + " x")[0], `'"-`)
		}
		var (
			words []string
			w     strings.Builder
			inW   bool
			quote rune
			depth int // $( ... ) nesting
		)
		flush := func() {
			if inW {
				words = append(words, w.String())
			}
			w.Reset()
			inW = false
		}
		end := func() {
			flush()
			if len(words) > 0 {
				cmds = append(cmds, words)
			}
			words = nil
		}
		rs := []rune(line)
	scan:
		for i := 0; i < len(rs); i++ {
			c := rs[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					w.WriteRune(c)
				}
			case depth > 0:
				w.WriteRune(c)
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
				}
			case c == '\'' || c == '"':
				quote, inW = c, true
			case c == '$' && i+1 < len(rs) && rs[i+1] == '(':
				w.WriteString("$(")
				i++
				depth, inW = 1, true
			case c == '#' && !inW:
				break scan
			case c == ' ' || c == '\t':
				flush()
			case c == '|' || c == ';' || c == '&':
				end()
				if i+1 < len(rs) && (rs[i+1] == c) {
					i++
				}
			case c == '>' || c == '<':
				// A redirection: drop it, its target and a file descriptor
				// number before it (2>>file).
				if inW && strings.Trim(w.String(), "0123456789") == "" {
					w.Reset()
					inW = false
				}
				flush()
				for i+1 < len(rs) && (rs[i+1] == '>' || rs[i+1] == '<' || rs[i+1] == '&' || rs[i+1] == '\'' || rs[i+1] == '-') {
					i++
				}
				for i+1 < len(rs) && rs[i+1] == ' ' {
					i++
				}
				for i+1 < len(rs) && rs[i+1] != ' ' {
					i++
				}
			default:
				w.WriteRune(c)
				inW = true
			}
		}
		end()
	}
	return cmds
}

var envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// ktArgs returns the arguments of a kt invocation (after any VAR=value
// prefixes), or false when cmd does not run kt.
func ktArgs(cmd []string) ([]string, bool) {
	for len(cmd) > 0 && envAssign.MatchString(cmd[0]) {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		return nil, false
	}
	switch cmd[0] {
	case "kt", "./bin/kt", "bin/kt", "$(BIN)/kt":
		return cmd[1:], true
	}
	return nil, false
}

// checkKT parses args as kt would, without running anything: the command
// path must exist and be runnable, every flag must exist and take the value
// given, and positional arguments must be accepted.
func checkKT(args []string) error {
	root := newRoot(&env{})
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	pos := cmd.Flags().Args()
	if cmd.HasAvailableSubCommands() && !cmd.Runnable() {
		if len(pos) > 0 {
			return fmt.Errorf("%s: unknown command %q", cmd.CommandPath(), pos[0])
		}
		return fmt.Errorf("%s is not a command on its own", cmd.CommandPath())
	}
	if cmd == root && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err := cmd.ValidateArgs(pos); err != nil {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	return nil
}

// makeTargets are the Makefile's targets.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9_-]*):`).FindAllStringSubmatch(string(b), -1) {
		targets[m[1]] = true
	}
	return targets
}

// TestDocumentedCommandsParse checks every kt and make command in the
// documents' shell blocks and in every command's help examples against the
// code: a misspelt or removed command, flag or make target fails here.
func TestDocumentedCommandsParse(t *testing.T) {
	targets := makeTargets(t)
	type sample struct{ where, text string }
	var samples []sample
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range markdownBlocks(f, string(b)) {
			switch bl.lang {
			case "sh", "bash", "shell", "console":
				samples = append(samples, sample{fmt.Sprintf("%s:%d", filepath.Base(f), bl.line), bl.text})
			}
		}
	}
	walkCommands(newRoot(&env{}), func(c *cobra.Command) {
		samples = append(samples, sample{c.CommandPath() + " --help", c.Example})
	})
	checked := 0
	for _, s := range samples {
		for _, cmd := range shellCommands(s.text) {
			if args, ok := ktArgs(cmd); ok {
				checked++
				if err := checkKT(args); err != nil {
					t.Errorf("%s: kt %s: %v", s.where, strings.Join(args, " "), err)
				}
				continue
			}
			if cmd[0] == "make" {
				for _, a := range cmd[1:] {
					if !strings.Contains(a, "=") && !targets[a] {
						t.Errorf("%s: make %s: no such target in the Makefile", s.where, a)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d kt commands: is the extraction broken?", checked)
	}
}

func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, fn)
	}
}

// TestCheckKTRejects keeps the checker honest: wrong commands and flags
// must fail it.
func TestCheckKTRejects(t *testing.T) {
	for _, args := range [][]string{
		{"gateway", "run", "--demo", "--prot", "1"},
		{"events", "tial"},
		{"events"},
		{"nope"},
		{"drill", "--duration", "soon"},
		{"policy", "lint", "--file", "x", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if err := checkKT(args); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := checkKT([]string{"gateway", "run", "--demo", "--port", "41002"}); err != nil {
		t.Fatal(err)
	}
}

var ktVariable = regexp.MustCompile(`\b(KT|KEEPTRUSTS)_[A-Z0-9_]+\b`)

// TestDocumentedVariablesExist checks every KT_ and KEEPTRUSTS_ variable
// named in the documents and the help texts: KEEPTRUSTS_ADMIN_TOKEN is the
// one kt reads, a KT_A__B name must be a configuration setting, and other
// KT_ names must be the compose file's or the Makefile's.
func TestDocumentedVariablesExist(t *testing.T) {
	var outside strings.Builder
	for _, f := range []string{"../../docker-compose.yaml", "../../Makefile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outside.Write(b)
	}
	texts := map[string]string{}
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[filepath.Base(f)] = string(b)
	}
	walkCommands(newRoot(&env{}), func(c *cobra.Command) {
		var flags strings.Builder
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { flags.WriteString(f.Usage + "\n") })
		texts[c.CommandPath()+" --help"] = c.Long + "\n" + c.Example + "\n" + flags.String()
	})
	for where, text := range texts {
		for _, v := range ktVariable.FindAllString(text, -1) {
			switch {
			case v == adminTokenEnv:
			case strings.HasPrefix(v, "KEEPTRUSTS_"):
				t.Errorf("%s names %s; kt reads %s", where, v, adminTokenEnv)
			case strings.Contains(v, "__"):
				if problem := configSettingProblem(t, v); problem != "" {
					t.Errorf("%s names %s: %s", where, v, problem)
				}
			case !strings.Contains(outside.String(), v):
				t.Errorf("%s names %s, which neither kt, the compose file nor the Makefile reads", where, v)
			}
		}
	}
}

// configSettingProblem loads a minimal configuration with v set and returns
// the problem reported about v itself, if any.
func configSettingProblem(t *testing.T, v string) string {
	t.Helper()
	data := []byte("version: '1'\nproviders:\n  targets:\n    - {id: a, provider: openai, secret_key_ref: {env: X}}\n")
	_, problems, err := config.Load(config.LoadOptions{Data: data, Environ: []string{v + "=1"}})
	if err != nil {
		return err.Error()
	}
	for _, p := range problems {
		if strings.Contains(p.String(), v) && strings.Contains(p.String(), "not a configuration setting") {
			return p.String()
		}
	}
	return ""
}
