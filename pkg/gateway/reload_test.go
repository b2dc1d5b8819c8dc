package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/config"
)

// reloadHarness is a harness whose configuration text can be replaced and
// reloaded.
type reloadHarness struct {
	*harness
	text atomic.Pointer[string]
	env  []string
}

// reloadYAML is the base configuration of the reload tests; %[1]s and %[2]s
// are the upstreams, %[3]s the event store, %[4]s the model mapping target
// and %[5]s extra text.
const reloadYAML = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %[1]s/v1
      secret_key_ref: {env: PRIMARY_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 2, open_seconds: 600}
    - id: openai-fallback
      provider: openai
      base_url: %[2]s/v1
      secret_key_ref: {env: FALLBACK_KEY}
      health_check: {enabled: false}
  failover:
    model_mapping:
      gpt-4o-mini: %[4]s
    retry: {max_attempts: 1, timeout_seconds: 5}
events:
  path: %[3]s
%[5]s`

// newReloadTestHarness builds a gateway from reloadYAML with reload on
// (no file watch: Reload and POST /admin/reload are called directly).
func newReloadTestHarness(t *testing.T, primary, fallback func(http.ResponseWriter, *http.Request, string)) *reloadHarness {
	t.Helper()
	h := &harness{primary: newRecorder(t, primary), fallback: newRecorder(t, fallback), logs: &bytes.Buffer{}}
	rh := &reloadHarness{harness: h, env: []string{"PRIMARY_KEY=" + primaryKey, "FALLBACK_KEY=" + fallbackKey}}
	rh.set(h.primary.URL, h.fallback.URL, filepath.Join(t.TempDir(), "events.db"), "gpt-4o", "")
	load := func() (*config.File, config.Problems, error) {
		return config.Load(config.LoadOptions{Data: []byte(*rh.text.Load()), Environ: rh.env})
	}
	cfg, problems, err := load()
	if err != nil || problems.Err() != nil {
		t.Fatalf("config: %v %v", err, problems)
	}
	h.start(t, cfg, rh.env, WithReload(load, ""))
	return rh
}

// set replaces the configuration text (not yet applied).
func (rh *reloadHarness) set(primaryURL, fallbackURL, store, mapped, extra string) {
	s := fmt.Sprintf(reloadYAML, primaryURL, fallbackURL, store, mapped, extra)
	rh.text.Store(&s)
}

// TestReload is the in-process reload matrix: a valid change is applied at
// once and keeps unchanged targets' breaker state; an invalid one is
// rejected with its problems and changes nothing.
func TestReload(t *testing.T) {
	var primaryDown atomic.Bool
	primaryDown.Store(true)
	rh := newReloadTestHarness(t, func(w http.ResponseWriter, r *http.Request, m string) {
		if primaryDown.Load() {
			failWith(500)(w, r, m)
			return
		}
		okAnswer(w, r, m)
	}, okAnswer)
	ctx := context.Background()

	// Two failures open the primary's circuit (consecutive_failures: 2).
	for range 2 {
		rh.post(t, tutorialReq)
	}
	primaryHealth := rh.gw.rt.Load().targets[0].Health
	if st := primaryHealth.BreakerState(); st != "open" {
		t.Fatalf("breaker %s, want open", st)
	}

	// 1. Change the model mapping only: applied, breaker state kept.
	rh.setConfig("gpt-4.1", "")
	res, err := rh.gw.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Kept, ",") != "openai-primary,openai-fallback" || len(res.Added)+len(res.Removed)+len(res.Changed) != 0 {
		t.Fatalf("reload result %+v", res)
	}
	if len(res.RestartRequired) != 0 {
		t.Errorf("restart required for %v", res.RestartRequired)
	}
	if rh.gw.rt.Load().targets[0].Health != primaryHealth || primaryHealth.BreakerState() != "open" {
		t.Fatal("the unchanged primary lost its breaker state")
	}
	resp, b := rh.post(t, tutorialReq)
	a := decode(t, b)
	if resp.StatusCode != 200 || a.Model != "gpt-4.1" || a.Metadata.Failover.Reason != "circuit_open" {
		t.Fatalf("after reload: %d model %s reason %s", resp.StatusCode, a.Model, a.Metadata.Failover.Reason)
	}

	// 2. An invalid configuration is rejected with every problem; the old
	// one keeps serving.
	bad := "version: '1'\nproviders:\n  targets:\n    - id: Bad Id\n      provider: opena\n"
	rh.text.Store(&bad)
	_, err = rh.gw.Reload(ctx)
	var re *ReloadError
	if !errors.As(err, &re) || len(re.Problems.Errors()) < 2 || !strings.Contains(err.Error(), "providers.targets[0].provider") {
		t.Fatalf("invalid config: %v", err)
	}
	if resp, b := rh.post(t, tutorialReq); resp.StatusCode != 200 || decode(t, b).Model != "gpt-4.1" {
		t.Fatalf("old configuration not serving: %d %s", resp.StatusCode, b)
	}
	// The same through the admin endpoint: 422 with the problems.
	code, body := rh.postReload(t)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"path":"providers.targets[0].id"`) || !strings.Contains(body, "invalid_configuration") {
		t.Fatalf("POST /admin/reload with a bad file: %d %s", code, body)
	}

	// 3. A changed connection (the key now read from a rotated secret
	// file) rebuilds the primary: fresh breaker.
	keyFile := filepath.Join(t.TempDir(), "primary-key")
	if err := os.WriteFile(keyFile, []byte("sk-rotated-primary\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	primaryDown.Store(false)
	rh.setConfig("gpt-4.1", "")
	rotated := strings.Replace(*rh.text.Load(), "secret_key_ref: {env: PRIMARY_KEY}", "secret_key_ref: {file: "+keyFile+"}", 1)
	rh.text.Store(&rotated)
	code, body = rh.postReload(t)
	if code != 200 || !strings.Contains(body, `"changed":["openai-primary"]`) {
		t.Fatalf("POST /admin/reload: %d %s", code, body)
	}
	if st := rh.gw.rt.Load().targets[0].Health.BreakerState(); st != "closed" {
		t.Fatalf("changed target kept breaker %s", st)
	}
	resp, b = rh.post(t, tutorialReq)
	if a := decode(t, b); resp.StatusCode != 200 || a.Metadata.Provider != "openai-primary" {
		t.Fatalf("rotated primary: %d %s", resp.StatusCode, b)
	}
	if hdr, _ := rh.primary.last(); hdr.Get("Authorization") != "Bearer sk-rotated-primary" {
		t.Fatal("rotated key not used")
	}

	// 4. Turning auth on by reload applies to the next request.
	withAuth := strings.Replace(*rh.text.Load(), "secret_key_ref: {env: PRIMARY_KEY}", "secret_key_ref: {file: "+keyFile+"}", 1) +
		"auth:\n  enabled: true\n  keys:\n    - {name: k, team: t, hash: " + auth.HashKey(checkoutKey) + "}\n"
	rh.text.Store(&withAuth)
	if _, err := rh.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rh.post(t, tutorialReq); resp.StatusCode != 401 {
		t.Fatalf("auth after reload: %d", resp.StatusCode)
	}
	if resp, _ := rh.post(t, tutorialReq, bearer(checkoutKey)...); resp.StatusCode != 200 {
		t.Fatalf("key after reload: %d", resp.StatusCode)
	}
}

// TestReloadTargetsAndInFlight removes and adds targets while a stream is
// in flight on a removed one: the stream finishes intact on the old
// configuration; new requests use the new one.
func TestReloadTargetsAndInFlight(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	started := make(chan struct{})
	slowStream := func(w http.ResponseWriter, r *http.Request, m string) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Par\"},\"finish_reason\":null}]}\n\n", m)
		w.(http.Flusher).Flush()
		once.Do(func() { close(started) })
		<-release
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", m)
	}
	rh := newReloadTestHarness(t, slowStream, okAnswer)
	third := newRecorder(t, okAnswer)

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(rh.srv.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(bufio.NewReader(resp.Body))
		done <- result{string(b), err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not start")
	}

	// Replace the primary by a third target.
	s := fmt.Sprintf(reloadYAML, third.URL, rh.fallback.URL, rh.gw.rt.Load().cfg.Events.Path, "gpt-4o", "")
	s = strings.Replace(s, "id: openai-primary", "id: openai-third", 1)
	rh.text.Store(&s)
	res, err := rh.gw.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Added, ",") != "openai-third" || strings.Join(res.Removed, ",") != "openai-primary" || strings.Join(res.Kept, ",") != "openai-fallback" {
		t.Fatalf("reload result %+v", res)
	}
	if resp, b := rh.post(t, tutorialReq); resp.StatusCode != 200 || decode(t, b).Metadata.Provider != "openai-third" {
		t.Fatalf("new request after reload: %d %s", resp.StatusCode, b)
	}
	close(release)
	r := <-done
	if r.err != nil || !strings.Contains(r.body, "Par") || !strings.Contains(r.body, `"is"`) || !strings.Contains(r.body, "[DONE]") {
		t.Fatalf("in-flight stream: %v %q", r.err, r.body)
	}
}

func TestReloadDisabled(t *testing.T) {
	h := newHarness(t, okAnswer, okAnswer)
	if _, err := h.gw.Reload(context.Background()); !errors.Is(err, ErrReloadDisabled) {
		t.Fatalf("err = %v", err)
	}
	resp, err := http.Post(h.srv.URL+"/admin/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("POST /admin/reload without a file: %d", resp.StatusCode)
	}
}

func (rh *reloadHarness) setConfig(mapped, extra string) {
	rh.set(rh.primary.URL, rh.fallback.URL, rh.gw.rt.Load().cfg.Events.Path, mapped, extra)
}

func (rh *reloadHarness) postReload(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Post(rh.srv.URL+"/admin/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !json.Valid(b) {
		t.Fatalf("reload answer is not JSON: %s", b)
	}
	return resp.StatusCode, string(b)
}

// TestReloadAddedTeamStartsWithTodaysSpend: a team whose budget arrives by
// reload is charged what its key already spent today (read from the event
// store), not zero.
func TestReloadAddedTeamStartsWithTodaysSpend(t *testing.T) {
	rh := newReloadTestHarness(t, okAnswer, okAnswer)
	authOnly := "pricing:\n  gpt-4o-mini: {input_per_mtok: 1000000, output_per_mtok: 1000000}\n" +
		"auth:\n  enabled: true\n  keys:\n    - {name: k, team: t, hash: " + auth.HashKey(checkoutKey) + "}\n"
	rh.setConfig("gpt-4o", authOnly)
	if _, err := rh.gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 2 { // 22 USD each
		if resp, b := rh.post(t, tutorialReq, bearer(checkoutKey)...); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	waitUntil(t, "2 events stored", func() bool { _, evs := getEvents(t, rh.harness, "team=t"); return len(evs) == 2 })
	rh.setConfig("gpt-4o", authOnly+"teams:\n  - id: t\n    budget: {daily_usd: 30}\n")
	if _, err := rh.gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if day, _ := rh.gw.limits.Spend("t", time.Now()); day != 44 {
		t.Fatalf("added team's spend today = %v, want 44", day)
	}
	if resp, b := rh.post(t, tutorialReq, bearer(checkoutKey)...); resp.StatusCode != 429 {
		t.Fatalf("over the reloaded budget: %d %s", resp.StatusCode, b)
	}
}
