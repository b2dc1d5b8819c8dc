package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runBlock is a fenced shell block marked <!-- doc-test: run --> in a
// document: a command block a newcomer runs as written, offline.
type runBlock struct {
	line int
	text string
}

var runMarker = regexp.MustCompile(`^<!--\s*doc-test:\s*run\s*-->$`)

func runBlocks(t *testing.T, file string) []runBlock {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out        []runBlock
		prev       string
		in, marked bool
		start      int
		body       strings.Builder
	)
	for i, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in, marked, start = true, runMarker.MatchString(strings.TrimSpace(prev)), i+1
			body.Reset()
		case in && strings.HasPrefix(trimmed, "```"):
			if marked {
				out = append(out, runBlock{line: start, text: body.String()})
			}
			in = false
		case in:
			body.WriteString(l + "\n")
		}
		prev = l
	}
	return out
}

// docHarness is sourced before each block: make knows only "build" (the
// test built kt already, with the same command), and curl fails on an HTTP
// error so that a wrong URL or a refused request fails the block.
const docHarness = `set -euo pipefail
make() {
  case "$*" in
    build) mkdir -p bin && cp "$KT_TEST_BIN" bin/kt ;;
    *) echo "doc test: make $* is not run by the test" >&2; return 1 ;;
  esac
}
curl() { command curl --fail-with-body --max-time 40 "$@"; }
`

// TestDocumentedBlocksRun runs the blocks of the README and the tutorial
// marked to run, in order, in a fresh directory, against a demo started on
// ports the test picks (the documents' 41002, 41010, 41011, 41020 and 41021
// are rewritten to them), so that they hold whether or not a demo (make
// run) holds the fixed ports.
func TestDocumentedBlocksRun(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the documents' blocks need it", tool)
		}
	}
	for _, doc := range []string{"../README.md", "../docs/tutorial.md"} {
		t.Run(filepath.Base(doc), func(t *testing.T) {
			blocks := runBlocks(t, doc)
			if len(blocks) == 0 {
				t.Fatalf("%s has no blocks marked <!-- doc-test: run -->", doc)
			}
			gwPort := freePort(t)
			sims := []int{freePort(t), freePort(t), freePort(t), freePort(t)}
			gw := start(t, nil, "gateway", "run", "--demo", "--port", fmt.Sprint(gwPort),
				"--demo-sim-ports", fmt.Sprintf("%d,%d,%d,%d", sims[0], sims[1], sims[2], sims[3]))
			waitOutput(t, gw, "Gateway ready")
			ports := strings.NewReplacer("41002", fmt.Sprint(gwPort), "41010", fmt.Sprint(sims[0]), "41011", fmt.Sprint(sims[1]),
				"41020", fmt.Sprint(sims[2]), "41021", fmt.Sprint(sims[3]))
			dir := t.TempDir()
			for _, bl := range blocks {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				cmd := exec.CommandContext(ctx, "bash", "-c", docHarness+ports.Replace(bl.text))
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "KT_TEST_BIN="+ktBin, "XDG_STATE_HOME="+stateDir,
					"PATH="+filepath.Dir(ktBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Fatalf("%s:%d: %v\n--- block\n%s--- output\n%s\n--- demo\n%s", doc, bl.line, err, bl.text, out, gw.Output())
				}
				t.Logf("%s:%d:\n%s", doc, bl.line, out)
			}
		})
	}
}
