package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
)

// TestDemoPortTaken checks that the demo starts when a fixed simulator port
// is taken: that simulator listens elsewhere, the configuration and the
// banner point at where it does, and its fault injection answers there.
func TestDemoPortTaken(t *testing.T) {
	// Hold the OpenAI simulator's port (if something else already holds
	// it, it is taken all the same).
	if ln, err := net.Listen("tcp", demoOpenAIAddr); err == nil {
		t.Cleanup(func() { _ = ln.Close() })
	}
	d, err := startDemo(context.Background())
	if err != nil {
		t.Fatalf("startDemo with %s taken: %v", demoOpenAIAddr, err)
	}
	t.Cleanup(d.close)
	oa := d.servers[0]
	if strings.Contains(oa.URL(), demoOpenAIAddr) || strings.Contains(oa.AdminURL(), demoOpenAIAdmin) {
		t.Fatalf("openai simulator at %s (admin %s), want other ports than the taken %s", oa.URL(), oa.AdminURL(), demoOpenAIAddr)
	}
	if !bytes.Contains(d.config, []byte(oa.URL()+"/v1")) {
		t.Errorf("demo config does not point at %s:\n%s", oa.URL(), d.config)
	}
	var banner bytes.Buffer
	d.printBanner(&banner)
	for _, want := range []string{demoOpenAIAddr + " or " + demoOpenAIAdmin + " in use", "fault injection: " + oa.AdminURL() + "/fault"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
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

// TestDemoConfigRoutes checks the demo's configuration lints clean and
// keeps the tutorial's routing (gpt-4o-mini to OpenAI, then Claude) beside
// the "smart" alias.
func TestDemoConfigRoutes(t *testing.T) {
	data := fmt.Appendf(nil, demoConfig, "http://127.0.0.1:1", "http://127.0.0.1:2")
	f, ps, err := config.Load(config.LoadOptions{Data: data, Environ: []string{demoOpenAIKeyEnv + "=x", demoAnthropicKeyEnv + "=y"}})
	if err != nil || len(ps) != 0 {
		t.Fatalf("demo config: %v %v", err, ps)
	}
	var names []string
	for _, r := range f.Routes {
		names = append(names, r.Model)
	}
	if want := "smart gpt-4o* *"; strings.Join(names, " ") != want {
		t.Fatalf("routes %q, want %q", names, want)
	}
	if r := f.Routes[1]; r.Targets[0].Target != "openai-primary" || r.Targets[1].Model != "claude-sonnet-4-20250514" {
		t.Fatalf("gpt-4o* route %+v", r)
	}
}
