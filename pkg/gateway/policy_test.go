package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
)

func policyHarness(t *testing.T, action string) *harness {
	t.Helper()
	h := &harness{primary: newRecorder(t, okAnswer), fallback: newRecorder(t, okAnswer)}
	yaml := fmt.Sprintf(cfgTemplate, h.primary.URL, h.fallback.URL) +
		"policies:\n  - name: cf\n    type: content_filter\n    action: " + action + "\n    config: {categories: [violence]}\n"
	env := []string{"PRIMARY_KEY=" + primaryKey, "FALLBACK_KEY=" + fallbackKey}
	cfg, problems, err := config.Load(config.LoadOptions{Data: []byte(yaml), Environ: env})
	if err != nil || problems.Err() != nil {
		t.Fatalf("config: %v %v", err, problems)
	}
	cfg.Events.Path = filepath.Join(t.TempDir(), "events.db")
	if h.gw, err = New(cfg, env, nil); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.gw.Handler())
	t.Cleanup(func() { h.srv.Close(); _ = h.gw.Close(context.Background()) })
	return h
}

const violentReq = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"I will kill you tomorrow"}]}`

func TestContentFilterActions(t *testing.T) {
	tests := []struct {
		action       string
		wantStatus   int
		wantUpstream bool
		wantBody     string // in what the upstream received
		wantOutcome  string
	}{
		{"flag", 200, true, "kill you", "flagged"},
		{"redact", 200, true, "[REDACTED]", "redacted"},
		{"block", 400, false, "", "blocked"},
	}
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			h := policyHarness(t, tc.action)
			resp, b := h.post(t, violentReq)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if got := resp.Header.Get("X-Keeptrusts-Policy"); got != "cf="+tc.wantOutcome+":violence" {
				t.Fatalf("policy header %q", got)
			}
			_, up := h.primary.last()
			if (up != "") != tc.wantUpstream {
				t.Fatalf("upstream contacted = %v, want %v", up != "", tc.wantUpstream)
			}
			if tc.wantUpstream && !strings.Contains(up, tc.wantBody) {
				t.Fatalf("upstream got %s", up)
			}
			if tc.action == "redact" && strings.Contains(up, "kill you") {
				t.Fatalf("redact left the match: %s", up)
			}
			if tc.action == "block" && !strings.Contains(string(b), `"code":"content_policy_violation"`) {
				t.Fatalf("block body: %s", b)
			}
			if tc.action != "block" && !strings.Contains(string(b), `"policies":[{"name":"cf","outcome":"`+tc.wantOutcome+`","categories":["violence"]}]`) {
				t.Fatalf("metadata lacks the policy result: %s", b)
			}
			waitUntil(t, "event", func() bool {
				_, evs := getEvents(t, h, "")
				return len(evs) == 1 && len(evs[0].Policies) == 1 && evs[0].Policies[0].Outcome == tc.wantOutcome
			})
		})
	}
}

func TestContentFilterPassesCleanRequests(t *testing.T) {
	h := policyHarness(t, "block")
	resp, b := h.post(t, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"How do I kill the process on port 8080?"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Keeptrusts-Policy") != "" {
		t.Fatalf("benign request: %d %q %s", resp.StatusCode, resp.Header.Get("X-Keeptrusts-Policy"), b)
	}
}
