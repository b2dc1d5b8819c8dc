package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const singleTarget = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: http://127.0.0.1:%d/v1
      secret_key_ref: {env: OPENAI_API_KEY}
events:
  path: %s
`

// countStored reads the event store directly (the gateway is down) through
// kt events tail's offline fallback.
func countStored(t *testing.T, store string) int {
	t.Helper()
	tail := exec.Command(ktBin, "events", "tail", "--last", "10000", "--format", "json", "--gateway", "http://127.0.0.1:1", "--store", store)
	out, err := tail.Output()
	if err != nil {
		t.Fatalf("tail: %v\n%s", err, out)
	}
	var evs []json.RawMessage
	if err := json.Unmarshal(out, &evs); err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestEventsSurviveShutdownAndCrash checks that SIGTERM flushes every event
// and that SIGKILL loses at most the batch in memory (documented bound:
// events.BatchSize = 256, or 200 ms worth).
func TestEventsSurviveShutdownAndCrash(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "events.db")
	oaPort, gwPort := freePort(t), freePort(t)
	startSim(t, "openai", oaPort, openAIKey)
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, singleTarget, oaPort, store), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"OPENAI_API_KEY=" + openAIKey}
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", gwPort)
	send := func(n int) {
		t.Helper()
		for range n {
			resp, err := http.Post(url, "application/json", strings.NewReader(step4Body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
	}

	// SIGTERM right after the last answer: nothing may be lost.
	gw := startGateway(t, env, cfg, "--port", fmt.Sprint(gwPort))
	send(100)
	stop(t, gw)
	if n := countStored(t, store); n != 100 {
		t.Fatalf("after SIGTERM %d of 100 events stored", n)
	}

	// SIGKILL after the flush interval: everything answered is stored.
	gw = startGateway(t, env, cfg, "--port", fmt.Sprint(gwPort))
	send(50)
	time.Sleep(time.Second) // > FlushInterval (200 ms) with room for a loaded machine
	kill(t, gw)
	if n := countStored(t, store); n != 150 {
		t.Fatalf("after SIGKILL past the flush interval %d of 150 events stored", n)
	}

	// SIGKILL at once: at most the last batch is lost.
	gw = startGateway(t, env, cfg, "--port", fmt.Sprint(gwPort))
	send(50)
	kill(t, gw)
	n := countStored(t, store)
	if n < 150 || n > 200 {
		t.Fatalf("after an immediate SIGKILL %d events stored, want 150..200", n)
	}
	t.Logf("immediate SIGKILL lost %d of the last 50 events (bound: one batch)", 200-n)
}

func kill(t *testing.T, p *proc) {
	t.Helper()
	p.Kill()
}
