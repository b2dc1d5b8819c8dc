package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/internal/proctest"
	"github.com/keeptrusts/gateway/pkg/config"
)

// TestDemoPortTaken checks that the demo starts when a simulator port is
// taken: that simulator listens elsewhere, the configuration and the banner
// point at where it does, and its fault injection answers there. The test
// picks and holds its own ports, so it holds whether or not a demo (make
// run) holds the default ones.
func TestDemoPortTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	heldPort := held.Addr().(*net.TCPAddr).Port
	ports := []int{heldPort, proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)}
	d, err := startDemo(context.Background(), demoOptions{ports: ports, storePath: filepath.Join(t.TempDir(), "events.db")})
	if err != nil {
		t.Fatalf("startDemo with %d taken: %v", heldPort, err)
	}
	t.Cleanup(d.close)
	oa, an := d.servers[0], d.servers[1]
	if strings.Contains(oa.URL(), loopback(ports[0])) || strings.Contains(oa.AdminURL(), loopback(ports[1])) {
		t.Fatalf("openai simulator at %s (admin %s), want other ports than the taken %d", oa.URL(), oa.AdminURL(), heldPort)
	}
	if an.URL() != "http://"+loopback(ports[2]) || an.AdminURL() != "http://"+loopback(ports[3]) {
		t.Errorf("anthropic simulator at %s (admin %s), want the requested ports %d and %d", an.URL(), an.AdminURL(), ports[2], ports[3])
	}
	if !bytes.Contains(d.config, []byte(oa.URL()+"/v1")) {
		t.Errorf("demo config does not point at %s:\n%s", oa.URL(), d.config)
	}
	var banner bytes.Buffer
	d.printBanner(&banner, "http://localhost:1")
	for _, want := range []string{loopback(ports[0]) + " or " + loopback(ports[1]) + " in use", "fault injection: " + oa.AdminURL() + "/fault"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	if strings.Count(banner.String(), " in use") != 1 {
		t.Errorf("banner names ports in use that the demo was not asked for:\n%s", banner.String())
	}
	req, _ := http.NewRequest(http.MethodPut, oa.AdminURL()+"/fault", strings.NewReader(`{"kind":"down"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("fault injection at the moved simulator: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("fault injection at the moved simulator: status %d", resp.StatusCode)
	}
}

// runDemo runs `kt gateway run --demo` in process with args added, on ports
// the system picks, and returns its output and gateway root once it is
// ready; it is stopped when the test ends.
func runDemo(t *testing.T, environ []string, args ...string) (out *lockedBuffer, gw string) {
	t.Helper()
	out = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- MainEnv(ctx, append([]string{"gateway", "run", "--demo", "--demo-sim-ports", "0,0,0,0"}, args...), io.Discard, out, environ)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	ready := regexp.MustCompile(`Gateway ready addr=(http://\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := ready.FindStringSubmatch(out.String()); m != nil {
			return out, m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("demo exited: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready:\n%s", out.String())
		}
	}
}

// TestDemoShowsWhatTheREADMEShows runs the demo on a port other than 41002
// and checks what a newcomer sees: curl lines for the port in use, /metrics
// served, events in the demo's own store (printed), and a warning about the
// hang fault.
func TestDemoShowsWhatTheREADMEShows(t *testing.T) {
	state := t.TempDir()
	port := proctest.FreePort(t)
	out, gw := runDemo(t, []string{"XDG_STATE_HOME=" + state}, "--port", fmt.Sprint(port))
	banner := out.String()
	t.Run("curl lines name the port in use", func(t *testing.T) {
		want := fmt.Sprintf("http://localhost:%d/", port)
		if n := strings.Count(banner, want); n < 2 {
			t.Errorf("banner names %s %d times, want the chat and /health lines:\n%s", want, n, banner)
		}
		if strings.Contains(banner, ":41002") {
			t.Errorf("banner names 41002 although the demo listens on %d:\n%s", port, banner)
		}
	})
	t.Run("every endpoint answers", func(t *testing.T) {
		for _, c := range []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`},
			{"/v1/messages", `{"model":"claude-sonnet-4-20250514","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`},
			{"/v1/messages/count_tokens", `{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"Hi"}]}`},
			{"/v1/responses", `{"model":"gpt-4o-mini","input":"Hi"}`},
			{"/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`},
			{"/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}`},
		} {
			resp, err := http.Post(gw+c.path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("POST %s on the demo: %d\n%.300s", c.path, resp.StatusCode, b)
			}
		}
		if !strings.Contains(banner, "/v1/messages") || !strings.Contains(banner, "ANTHROPIC_BASE_URL=") {
			t.Errorf("the banner does not show the other endpoints:\n%s", banner)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(gw + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("# TYPE")) {
			t.Fatalf("GET /metrics on the demo: %d\n%.300s", resp.StatusCode, b)
		}
	})
	t.Run("own event store", func(t *testing.T) {
		store := filepath.Join(state, "keeptrusts", "demo", "events.db")
		if !strings.Contains(banner, store) {
			t.Errorf("banner does not say where events go (%s):\n%s", store, banner)
		}
		if _, err := os.Stat(store); err != nil {
			t.Errorf("demo store: %v", err)
		}
		if _, err := os.Stat(filepath.Join(state, "keeptrusts", "events.db")); err == nil {
			t.Error("the demo opened the default event store")
		}
	})
	t.Run("alias route", func(t *testing.T) {
		for _, want := range []string{`"model":"smart"`, "Route smart: strategy=priority, targets=anthropic-fallback(claude-sonnet-4-20250514) > openai-primary(gpt-4o)"} {
			if !strings.Contains(banner, want) {
				t.Errorf("demo output lacks %q:\n%s", want, banner)
			}
		}
		resp, err := http.Post(gw+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"smart","messages":[{"role":"user","content":"Hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"provider":"anthropic-fallback"`)) {
			t.Fatalf("smart on the demo: %d %.300s", resp.StatusCode, b)
		}
	})
	t.Run("hang warning", func(t *testing.T) {
		if !strings.Contains(banner, `"hang" holds every request`) {
			t.Errorf("banner does not warn about hang:\n%s", banner)
		}
	})
}

func TestDemoSimPortsNeedsDemo(t *testing.T) {
	_, _, err := run(t, nil, "gateway", "run", "--demo-sim-ports", "0,0,0,0", "--port", "0")
	if err == nil || !strings.Contains(err.Error(), "--demo") {
		t.Fatalf("err = %v, want it to ask for --demo", err)
	}
}

// TestDemoConfigRoutes checks the demo's configuration lints clean and
// keeps the tutorial's routing (gpt-4o-mini to OpenAI, then Claude) beside
// the "smart" alias.
func TestDemoConfigRoutes(t *testing.T) {
	data := fmt.Appendf(nil, demoConfig, "http://127.0.0.1:1", "http://127.0.0.1:2", strconv.Quote(filepath.Join(t.TempDir(), "events.db")))
	f, ps, err := config.Load(config.LoadOptions{Data: data, Environ: []string{demoOpenAIKeyEnv + "=x", demoAnthropicKeyEnv + "=y"}})
	if err != nil || len(ps) != 0 {
		t.Fatalf("demo config: %v %v", err, ps)
	}
	var names []string
	for _, r := range f.Routes {
		names = append(names, r.Model)
	}
	if want := "smart gpt-4o* claude-* *"; strings.Join(names, " ") != want {
		t.Fatalf("routes %q, want %q", names, want)
	}
	if r := f.Routes[1]; r.Targets[0].Target != "openai-primary" || r.Targets[1].Model != "claude-sonnet-4-20250514" {
		t.Fatalf("gpt-4o* route %+v", r)
	}
}
