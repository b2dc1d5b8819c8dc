package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
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
