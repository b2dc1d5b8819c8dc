// Package faults is the process-level failover suite of issue 17: it builds
// kt, runs `kt sim` upstreams (an OpenAI-shaped primary, an Anthropic-shaped
// fallback) and `kt gateway run` as real processes on 127.0.0.1, injects
// the sixteen documented faults per model, and checks what the client
// received, the attempts each simulator saw, the time it took and the event
// the gateway wrote. docs/faults.md lists the faults and the test of each.
package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

var (
	// ktBin is the kt binary under test; "" when it could not be built.
	ktBin string
	// buildErr says why kt could not be built (the tests skip with it).
	buildErr error
	// stateDir keeps the kt processes' default state out of the user's.
	stateDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kt-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stateDir = filepath.Join(dir, "state")
	bin := filepath.Join(dir, "kt")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/kt")
	if out, err := build.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("build kt: %v\n%s", err, out)
	} else {
		ktBin = bin
	}
	code := m.Run()
	if code == 0 {
		// The load loops and the processes' waiters must all have ended.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// needKT skips the test when kt could not be built (no toolchain in PATH).
func needKT(t *testing.T) {
	t.Helper()
	if ktBin == "" {
		t.Skipf("kt binary unavailable: %v", buildErr)
	}
}
