package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/gateway"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// liveGateway runs a real gateway in-process in front of a simulated provider.
func liveGateway(t *testing.T) string {
	t.Helper()
	up, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", sim.New(sim.Options{Kind: sim.KindOpenAI}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	yaml := fmt.Sprintf("version: '1'\nproviders:\n  targets:\n    - id: openai-primary\n      provider: openai\n      base_url: %s/v1\n      secret_key_ref: {env: K}\nevents:\n  path: %s\n",
		up.URL(), filepath.Join(t.TempDir(), "events.db"))
	cfg, problems, err := config.Load(config.LoadOptions{Data: []byte(yaml), Environ: []string{"K=x"}})
	if err != nil || problems.Err() != nil {
		t.Fatal(err, problems)
	}
	gw, err := gateway.New(cfg, []string{"K=x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.Close(); _ = gw.Close(context.Background()) })
	return srv.URL
}

func ask(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestEventsTail(t *testing.T) {
	url := liveGateway(t)
	for range 3 {
		ask(t, url)
	}
	var out string
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		out, _, err = run(t, nil, "events", "tail", "--gateway", url, "--last", "2", "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var evs []events.Event
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("not one JSON array: %v\n%s", err, out)
		}
		if len(evs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 2 events, got %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _, err := run(t, nil, "events", "tail", "--gateway", url, "--format", "table")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "openai-primary") {
		t.Fatalf("table:\n%s", out)
	}
	if _, _, err := run(t, nil, "events", "tail", "--gateway", url, "--format", "xml"); err == nil {
		t.Fatal("--format xml accepted")
	}
}

func TestEventsTailFollow(t *testing.T) {
	url := liveGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- MainEnv(ctx, []string{"events", "tail", "--follow", "--format", "json", "--gateway", url}, out, io.Discard, nil)
	}()
	// The follower subscribes after printing the (empty) history; keep
	// asking until a followed event shows up.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"provider":"openai-primary"`) {
		if time.Now().After(deadline) {
			t.Fatalf("--follow printed no new event: %q", out.String())
		}
		ask(t, url)
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow ended with %v", err)
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	var e events.Event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("--follow --format json prints one JSON object per line: %v %q", err, line)
	}
}
