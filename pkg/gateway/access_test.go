package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/limits"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// Gateway keys of the access tests; the canary key is in no configuration.
const (
	checkoutKey = "kt-checkout-7b1f0c2a9d4e"
	searchKey   = "kt-search-3c9e1a7f5b2d"
	adminToken  = "adm-token-51c0e9f7"
)

// authYAML turns auth on with two teams; checkout has a request limit, a
// token limit and a daily budget, search has none. Every request costs 22
// USD (22 tokens at 1 USD each).
var authYAML = `auth:
  enabled: true
  keys:
    - name: checkout-prod
      team: checkout
      hash: ` + auth.HashKey(checkoutKey) + `
    - name: search-ci
      team: search
      key_ref: {env: SEARCH_KEY}
teams:
  - id: checkout
    rate_limit: {requests_per_minute: 3}
    budget: {daily_usd: 50}
  - id: search
pricing:
  gpt-4o-mini: {input_per_mtok: 1000000, output_per_mtok: 1000000}
  gpt-4o: {input_per_mtok: 1000000, output_per_mtok: 1000000}
`

func newAuthHarness(t *testing.T, extra string, opts ...Option) *harness {
	t.Helper()
	return newHarnessWith(t, okAnswer, okAnswer, harnessOptions{
		extra:   authYAML + extra,
		environ: []string{"SEARCH_KEY=" + searchKey},
		opts:    opts,
	})
}

func bearer(key string) []string { return []string{"Authorization", "Bearer " + key} }

func TestGatewayKeys(t *testing.T) {
	h := newAuthHarness(t, "")
	tests := []struct {
		name     string
		hdr      []string
		status   int
		code     string
		wantTeam string
	}{
		{"no key", nil, 401, codeInvalidKey, ""},
		{"wrong key", bearer("kt-not-a-key"), 401, codeInvalidKey, ""},
		{"not bearer", []string{"Authorization", "Basic " + checkoutKey}, 401, codeInvalidKey, ""},
		{"hashed key", bearer(checkoutKey), 200, "", "checkout"},
		{"key from env", bearer(searchKey), 200, "", "search"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := h.post(t, tutorialReq, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.code != "" {
				a := decode(t, b)
				if a.Error == nil || a.Error.Code == nil || *a.Error.Code != tt.code || a.Error.Type != "invalid_request_error" {
					t.Fatalf("error body %s", b)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
			for _, secret := range []string{checkoutKey, searchKey, "kt-not-a-key"} {
				if strings.Contains(string(b), secret) {
					t.Fatalf("answer echoes a key: %s", b)
				}
			}
		})
	}
	// The gateway key never reaches a provider: the target's own key does.
	hdr, _ := h.primary.last()
	if got := hdr.Get("Authorization"); got != "Bearer "+primaryKey {
		t.Fatalf("upstream Authorization = %q", got)
	}
	// /v1/models needs a key too.
	for key, want := range map[string]int{"": 401, checkoutKey: 200} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/models", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /v1/models with key %t: %d, want %d", key != "", resp.StatusCode, want)
		}
	}
	// Events carry team and key name, never the key.
	var evs []events.Event
	waitUntil(t, "5 events", func() bool { _, evs = getEvents(t, h, "last=10"); return len(evs) == 5 })
	if evs[0].Team != "" || evs[0].Error != codeInvalidKey || evs[0].Status != 401 {
		t.Errorf("refused event = %+v", evs[0])
	}
	if e := evs[3]; e.Team != "checkout" || e.KeyName != "checkout-prod" || e.Status != 200 {
		t.Errorf("checkout event = %+v", e)
	}
	if e := evs[4]; e.Team != "search" || e.KeyName != "search-ci" {
		t.Errorf("search event = %+v", e)
	}
	if _, evs = getEvents(t, h, "team=search"); len(evs) != 1 {
		t.Errorf("team filter: %d events", len(evs))
	}
	all, _ := json.Marshal(evs)
	if strings.Contains(string(all), checkoutKey) || strings.Contains(string(all), searchKey) {
		t.Fatal("an event holds a gateway key")
	}
}

func TestTeamRateLimit(t *testing.T) {
	h := newAuthHarness(t, "")
	for i := range 3 {
		resp, b := h.post(t, tutorialReq, bearer(searchKey)...) // search: unlimited
		if resp.StatusCode != 200 {
			t.Fatalf("search request %d: %d %s", i, resp.StatusCode, b)
		}
		if resp.Header.Get(limits.HeaderLimitRequests) != "" {
			t.Fatal("rate-limit headers on a team without limits")
		}
	}
	// checkout: the configured budget would bind after three requests;
	// keep only a request limit of 2 per minute.
	h2 := newAuthHarness(t, "")
	h2.gw.limits.Update(map[string]limits.Limits{"checkout": {RequestsPerMinute: 2}})
	for i := range 2 {
		resp, b := h2.post(t, tutorialReq, bearer(checkoutKey)...)
		if resp.StatusCode != 200 {
			t.Fatalf("checkout request %d: %d %s", i, resp.StatusCode, b)
		}
		if got := resp.Header.Get(limits.HeaderLimitRequests); got != "2" {
			t.Errorf("x-ratelimit-limit-requests = %q", got)
		}
	}
	calls := len(h2.primary.headers)
	resp, b := h2.post(t, tutorialReq, bearer(checkoutKey)...)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: %d %s", resp.StatusCode, b)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	a := decode(t, b)
	if a.Error == nil || *a.Error.Code != codeRateLimited || a.Error.Type != "requests" || !strings.Contains(a.Error.Message, "checkout") {
		t.Errorf("429 body: %s", b)
	}
	if len(h2.primary.headers) != calls {
		t.Error("a refused request reached a provider")
	}
	var evs []events.Event
	waitUntil(t, "3 events", func() bool { _, evs = getEvents(t, h2, "last=10"); return len(evs) == 3 })
	if e := evs[2]; e.Status != 429 || e.Error != codeRateLimited || e.Team != "checkout" || len(e.Attempts) != 0 {
		t.Errorf("refused event = %+v", e)
	}
}

func TestTeamBudgetSurvivesRestart(t *testing.T) {
	store := filepath.Join(t.TempDir(), "events.db")
	h := newHarnessWith(t, okAnswer, okAnswer, harnessOptions{extra: authYAML, environ: []string{"SEARCH_KEY=" + searchKey}, eventsPath: store})
	// 50 USD a day at 22 per request: two pass (44), the third passes too
	// (spend < budget when it starts: one request may overshoot), the
	// fourth is refused.
	for i := range 3 {
		if resp, b := h.post(t, tutorialReq, bearer(checkoutKey)...); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	// The rate limit (3/min) would refuse the 4th as well; lift it to see
	// the budget.
	h.gw.limits.Update(map[string]limits.Limits{"checkout": {DailyUSD: 50}})
	resp, b := h.post(t, tutorialReq, bearer(checkoutKey)...)
	if resp.StatusCode != 429 || resp.Header.Get("X-Should-Retry") != "false" {
		t.Fatalf("over budget: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if a := decode(t, b); a.Error == nil || *a.Error.Code != codeBudgetExceeded || a.Error.Type != "insufficient_quota" {
		t.Fatalf("budget body: %s", b)
	}
	waitUntil(t, "4 events", func() bool { _, evs := getEvents(t, h, "last=10"); return len(evs) == 4 })
	h.srv.Close()
	if err := h.gw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A new gateway on the same store starts with today's spend.
	h2 := newHarnessWith(t, okAnswer, okAnswer, harnessOptions{extra: authYAML, environ: []string{"SEARCH_KEY=" + searchKey}, eventsPath: store})
	if resp, b := h2.post(t, tutorialReq, bearer(checkoutKey)...); resp.StatusCode != 429 {
		t.Fatalf("after restart: %d %s", resp.StatusCode, b)
	}
	if resp, _ := h2.post(t, tutorialReq, bearer(searchKey)...); resp.StatusCode != 200 {
		t.Fatalf("another team is not limited: %d", resp.StatusCode)
	}
}

func TestTeamTelemetry(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{
		ServiceName:    "gateway-test",
		Sampler:        sdktrace.AlwaysSample(),
		SpanProcessors: []sdktrace.SpanProcessor{spans},
		MetricReaders:  []sdkmetric.Reader{reader},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	h := newAuthHarness(t, "", WithTelemetry(tel))
	h.gw.limits.Update(map[string]limits.Limits{"checkout": {RequestsPerMinute: 1}})
	h.post(t, tutorialReq, bearer(checkoutKey)...)
	h.post(t, tutorialReq, bearer(checkoutKey)...) // refused

	var team []string
	for _, s := range spans.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == attrTeam {
				team = append(team, a.Value.AsString())
			}
		}
	}
	if len(team) != 2 || team[0] != "checkout" {
		t.Errorf("server spans' team attributes = %v", team)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					if v, ok := dp.Attributes.Value("team"); ok && v.AsString() == "checkout" {
						found[m.Name] = true
					}
				}
			}
		}
	}
	for _, name := range []string{telemetry.MetricRequests, telemetry.MetricLimitRejections} {
		if !found[name] {
			t.Errorf("%s has no point with team=checkout", name)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	get := func(t *testing.T, h http.Handler, path, token string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		b, _ := io.ReadAll(w.Result().Body)
		return w.Code, string(b)
	}
	tests := []struct {
		name  string
		extra string
		env   []string
		host  string
		token string
		want  int
	}{
		{"loopback, no token configured", "", nil, "127.0.0.1", "", 200},
		{"loopback, token configured, none sent", "admin:\n  token_ref: {env: ADMIN}\n", []string{"ADMIN=" + adminToken}, "127.0.0.1", "", 401},
		{"loopback, token configured, wrong", "admin:\n  token_ref: {env: ADMIN}\n", []string{"ADMIN=" + adminToken}, "127.0.0.1", "nope", 401},
		{"loopback, token configured, right", "admin:\n  token_ref: {env: ADMIN}\n", []string{"ADMIN=" + adminToken}, "127.0.0.1", adminToken, 200},
		{"all interfaces, no token configured", "", nil, "0.0.0.0", "", 403},
		{"all interfaces, token configured, right", "admin:\n  token_ref: {env: ADMIN}\n", []string{"ADMIN=" + adminToken}, "0.0.0.0", adminToken, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, okAnswer, okAnswer, harnessOptions{extra: tt.extra, environ: tt.env,
				mutate: func(f *config.File) { f.Server.Host = tt.host }})
			handler := h.gw.Handler()
			for _, path := range []string{"/v1/events", "/health?verbose=1"} {
				code, body := get(t, handler, path, tt.token)
				if code != tt.want {
					t.Errorf("GET %s: %d, want %d: %s", path, code, tt.want, body)
				}
				if strings.Contains(body, adminToken) {
					t.Errorf("GET %s echoes the admin token", path)
				}
			}
			// The plain health view stays open for load balancers.
			if code, _ := get(t, handler, "/health", ""); code != 200 {
				t.Errorf("GET /health: %d", code)
			}
		})
	}
}

// TestWeightedSticky runs an A/B split through the gateway: a user (the
// sticky header) always lands on the same target, users spread over both,
// and a failing pick fails over inside the split.
func TestWeightedSticky(t *testing.T) {
	var fallbackDown atomic.Bool
	h := newHarnessWith(t, okAnswer, func(w http.ResponseWriter, r *http.Request, m string) {
		if fallbackDown.Load() {
			failWith(503)(w, r, m)
			return
		}
		okAnswer(w, r, m)
	}, harnessOptions{mutate: func(f *config.File) {
		f.Providers.Failover.Strategy = config.StrategyWeighted
		f.Providers.Failover.StickyHeader = "X-User-Id"
	}})
	seen := map[string]string{}
	count := map[string]int{}
	for u := range 40 {
		user := "user-" + strconv.Itoa(u)
		for range 2 {
			resp, b := h.post(t, tutorialReq, "X-User-Id", user)
			a := decode(t, b)
			if resp.StatusCode != 200 || a.Metadata.Failover.Triggered {
				t.Fatalf("%s: %d %s", user, resp.StatusCode, b)
			}
			if prev, ok := seen[user]; ok && prev != a.Metadata.Provider {
				t.Fatalf("%s moved from %s to %s", user, prev, a.Metadata.Provider)
			}
			seen[user] = a.Metadata.Provider
			// model_mapping applies on the B side (not the highest priority).
			if want := map[string]string{"openai-primary": "gpt-4o-mini", "openai-fallback": "gpt-4o"}[a.Metadata.Provider]; a.Model != want {
				t.Fatalf("%s on %s answered by %s, want %s", user, a.Metadata.Provider, a.Model, want)
			}
		}
		count[seen[user]]++
	}
	if count["openai-primary"] < 8 || count["openai-fallback"] < 8 {
		t.Fatalf("split over 40 users = %v", count)
	}
	// A failing pick fails over to the other side.
	fallbackDown.Store(true)
	for user, target := range seen {
		if target != "openai-fallback" {
			continue
		}
		resp, b := h.post(t, tutorialReq, "X-User-Id", user)
		a := decode(t, b)
		if resp.StatusCode != 200 || a.Metadata.Provider != "openai-primary" || a.Metadata.Failover.Reason != "upstream_error" {
			t.Fatalf("failover inside the split: %d %s", resp.StatusCode, b)
		}
		break
	}
}

// TestGatewayKeysWithSDK uses the OpenAI Go SDK as an application would:
// the gateway key is the SDK's API key; errors arrive as the SDK's APIError
// with OpenAI's status, type and code.
func TestGatewayKeysWithSDK(t *testing.T) {
	h := newAuthHarness(t, "")
	h.gw.limits.Update(map[string]limits.Limits{"checkout": {RequestsPerMinute: 1}})
	client := func(key string) openai.Client {
		return openai.NewClient(option.WithBaseURL(h.srv.URL+"/v1"), option.WithAPIKey(key),
			option.WithMaxRetries(0), option.WithHTTPClient(h.srv.Client()))
	}
	ctx := context.Background()
	c := client(checkoutKey)
	if _, err := c.Chat.Completions.New(ctx, capitalQuestion()); err != nil {
		t.Fatalf("with the gateway key: %v", err)
	}
	tests := []struct {
		name, key, code, typ string
		status               int
	}{
		{"unknown key", "kt-wrong", codeInvalidKey, "invalid_request_error", 401},
		{"over the rate limit", checkoutKey, codeRateLimited, "requests", 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(tt.key)
			_, err := c.Chat.Completions.New(ctx, capitalQuestion())
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *openai.Error", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Type != tt.typ {
				t.Fatalf("status %d code %q type %q, want %d %q %q", apiErr.StatusCode, apiErr.Code, apiErr.Type, tt.status, tt.code, tt.typ)
			}
		})
	}
}
