package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/sim"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// routesCfg is the route table over the simulator pair: an alias
// whose first choice is Anthropic, an exact OpenAI model with its own
// fallback model, a glob for the rest of gpt-* with another, and claude-*
// straight to Anthropic. Probes are off and breakers never open, so every
// request's attempts follow from the faults alone.
const routesCfg = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: %s/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: anthropic-fallback
      provider: anthropic
      base_url: %s
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
  failover:
    retry: {max_attempts: 1, timeout_seconds: 10}
%s
routes:
  - model: smart
    targets:
      - {target: anthropic-fallback, model: claude-sonnet-4-20250514}
      - {target: openai-primary, model: gpt-4o}
  - model: gpt-4o-mini
    targets:
      - target: openai-primary
      - {target: anthropic-fallback, model: claude-3-5-haiku-20241022}
  - model: "gpt-*"
    targets:
      - target: openai-primary
      - {target: anthropic-fallback, model: claude-sonnet-4-20250514}
  - model: "claude-*"
    targets:
      - target: anthropic-fallback
`

// routesGateway starts the simulator pair and a gateway with routesCfg;
// failoverExtra is indented under providers.failover.
func routesGateway(t *testing.T, failoverExtra string, opts ...Option) (*simPair, *httptest.Server) {
	t.Helper()
	p := newSimPair(t)
	_, srv := simGateway(t, fmt.Appendf(nil, routesCfg, p.primarySrv.URL(), p.fallbackSrv.URL(), failoverExtra), opts...)
	return p, srv
}

// routedAnswer is what a test reads of one chat answer.
type routedAnswer struct {
	status int
	body   string
	answer struct {
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		} `json:"error"`
		Meta struct {
			Provider string `json:"provider"`
			Failover struct {
				Triggered        bool   `json:"triggered"`
				OriginalProvider string `json:"original_provider"`
				Reason           string `json:"reason"`
			} `json:"failover"`
			Attempts []struct {
				Target string `json:"target"`
				Model  string `json:"model"`
			} `json:"attempts"`
		} `json:"keeptrusts_metadata"`
	}
}

func postChat(t *testing.T, url, body string) routedAnswer {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := routedAnswer{status: resp.StatusCode, body: string(b)}
	if err := json.Unmarshal(b, &a.answer); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", resp.StatusCode, err, b)
	}
	return a
}

func chatBody(model, extra string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"What is the capital of France?"}]` + extra + `}`
}

// simCalls is how many chat requests each simulator saw, by model.
func simCalls(p *simPair) (openai, anthropic map[string]int64) {
	o, a := map[string]int64{}, map[string]int64{}
	for m, n := range p.primary.Stats().ByModel {
		o[m] = n
	}
	for m, n := range p.fallback.Stats().ByModel {
		a[m] = n
	}
	return o, a
}

func routeEvents(t *testing.T, url string, n int) []events.Event {
	t.Helper()
	var evs []events.Event
	waitUntil(t, fmt.Sprintf("%d events", n), func() bool {
		resp, err := http.Get(url + "/v1/events?last=100")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		evs = nil
		_ = json.Unmarshal(b, &evs)
		return len(evs) >= n
	})
	return evs
}

// TestRoutesProcess runs the routing scenarios against kt sim
// servers: which simulator saw which model, who answered, and the route in
// the event.
func TestRoutesProcess(t *testing.T) {
	tests := []struct {
		name          string
		model         string
		openaiDown    bool
		anthropicDown bool
		wantProvider  string
		wantModel     string // the model that answered
		wantFailover  bool
		wantOpenAI    map[string]int64
		wantAnthropic map[string]int64
		wantRoute     string
	}{
		{
			name: "claude-* goes to Anthropic with no OpenAI attempt", model: "claude-sonnet-4-20250514",
			wantProvider: "anthropic-fallback", wantModel: "claude-sonnet-4-20250514",
			wantOpenAI: map[string]int64{}, wantAnthropic: map[string]int64{"claude-sonnet-4-20250514": 1}, wantRoute: "claude-*",
		},
		{
			name: "gpt-* goes to OpenAI", model: "gpt-4.1",
			wantProvider: "openai-primary", wantModel: "gpt-4.1",
			wantOpenAI: map[string]int64{"gpt-4.1": 1}, wantAnthropic: map[string]int64{}, wantRoute: "gpt-*",
		},
		{
			name: "gpt-* fails over to its route's model", model: "gpt-4.1", openaiDown: true,
			wantProvider: "anthropic-fallback", wantModel: "claude-sonnet-4-20250514", wantFailover: true,
			wantOpenAI: map[string]int64{}, wantAnthropic: map[string]int64{"claude-sonnet-4-20250514": 1}, wantRoute: "gpt-*",
		},
		{
			name: "an exact route fails over to its own model, not the glob's", model: "gpt-4o-mini", openaiDown: true,
			wantProvider: "anthropic-fallback", wantModel: "claude-3-5-haiku-20241022", wantFailover: true,
			wantOpenAI: map[string]int64{}, wantAnthropic: map[string]int64{"claude-3-5-haiku-20241022": 1}, wantRoute: "gpt-4o-mini",
		},
		{
			name: "an alias answers from its first target", model: "smart",
			wantProvider: "anthropic-fallback", wantModel: "claude-sonnet-4-20250514",
			wantOpenAI: map[string]int64{}, wantAnthropic: map[string]int64{"claude-sonnet-4-20250514": 1}, wantRoute: "smart",
		},
		{
			name: "an alias fails over to its second target", model: "smart", anthropicDown: true,
			wantProvider: "openai-primary", wantModel: "gpt-4o", wantFailover: true,
			wantOpenAI: map[string]int64{"gpt-4o": 1}, wantAnthropic: map[string]int64{}, wantRoute: "smart",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := routesGateway(t, "")
			if tt.openaiDown {
				p.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
			}
			if tt.anthropicDown {
				p.fallback.SetFault(sim.Fault{Kind: sim.FaultDown})
			}
			a := postChat(t, srv.URL, chatBody(tt.model, ""))
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if a.answer.Meta.Provider != tt.wantProvider || a.answer.Model != tt.wantModel || a.answer.Meta.Failover.Triggered != tt.wantFailover {
				t.Fatalf("answered by %s with %s (failover %v), want %s with %s (failover %v): %s",
					a.answer.Meta.Provider, a.answer.Model, a.answer.Meta.Failover.Triggered, tt.wantProvider, tt.wantModel, tt.wantFailover, a.body)
			}
			gotO, gotA := simCalls(p)
			if fmt.Sprint(gotO) != fmt.Sprint(tt.wantOpenAI) || fmt.Sprint(gotA) != fmt.Sprint(tt.wantAnthropic) {
				t.Fatalf("simulators saw openai %v anthropic %v, want %v and %v", gotO, gotA, tt.wantOpenAI, tt.wantAnthropic)
			}
			evs := routeEvents(t, srv.URL, 1)
			if e := evs[len(evs)-1]; e.Route != tt.wantRoute || e.RequestedModel != tt.model {
				t.Fatalf("event route %q requested %q, want %q %q", e.Route, e.RequestedModel, tt.wantRoute, tt.model)
			}
		})
	}
}

// TestRoutesUnknownModel checks that a model no route matches gets 404
// model_not_found in OpenAI's shape, with no upstream call.
func TestRoutesUnknownModel(t *testing.T) {
	p, srv := routesGateway(t, "")
	a := postChat(t, srv.URL, chatBody("gemini-2.0-flash", ""))
	e := a.answer.Error
	if a.status != 404 || e.Code != "model_not_found" || e.Type != "invalid_request_error" || e.Param != nil ||
		!strings.Contains(e.Message, "gemini-2.0-flash") {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	if strings.Contains(a.body, simOpenAIKey) || strings.Contains(a.body, "openai-primary") {
		t.Fatalf("the 404 names a target or a key: %s", a.body)
	}
	if o, an := p.primary.Stats().ChatRequests, p.fallback.Stats().ChatRequests; o != 0 || an != 0 {
		t.Fatalf("upstream calls: openai %d anthropic %d, want none", o, an)
	}
	if evs := routeEvents(t, srv.URL, 1); evs[0].Status != 404 || evs[0].Error != "model_not_found" || len(evs[0].Attempts) != 0 {
		t.Fatalf("event %+v", evs[0])
	}
}

// TestRoutesModels checks GET /v1/models lists the route names and aliases
// but no globs, and GET /v1/models/{id} answers any routable name.
func TestRoutesModels(t *testing.T) {
	_, srv := routesGateway(t, "")
	get := func(path string) (int, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := get("/v1/models")
	var list modelList
	if err := json.Unmarshal(b, &list); code != 200 || err != nil || list.Object != "list" {
		t.Fatalf("%d %v %s", code, err, b)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID+"@"+m.OwnedBy)
	}
	if want := []string{"smart@keeptrusts", "gpt-4o-mini@openai-primary"}; !slices.Equal(ids, want) {
		t.Fatalf("models %v, want %v", ids, want)
	}
	tests := []struct {
		id        string
		wantCode  int
		wantOwner string
	}{
		{"smart", 200, "keeptrusts"},
		{"gpt-4o-mini", 200, "openai-primary"},
		{"gpt-4.1", 200, "openai-primary"},
		{"claude-3-5-haiku-20241022", 200, "anthropic-fallback"},
		{"gpt-*", 200, "openai-primary"}, // a name the glob matches, like any other
		{"gemini-2.0-flash", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			code, b := get("/v1/models/" + tt.id)
			var m modelInfo
			var e struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &m)
			_ = json.Unmarshal(b, &e)
			switch {
			case code != tt.wantCode:
				t.Fatalf("status %d, want %d: %s", code, tt.wantCode, b)
			case code == 200 && (m.ID != tt.id || m.Object != "model" || m.OwnedBy != tt.wantOwner):
				t.Fatalf("model %+v, want id %s owned by %s", m, tt.id, tt.wantOwner)
			case code == 404 && e.Error.Code != "model_not_found":
				t.Fatalf("404 body %s", b)
			}
		})
	}
}

// TestRoutesSDKModelsRetrieve checks the official SDK's models.retrieve
// and models.list read the gateway's answers for an alias.
func TestRoutesSDKModelsRetrieve(t *testing.T) {
	_, srv := routesGateway(t, "")
	client := sdkClient(srv)
	m, err := client.Models.Get(context.Background(), "smart")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "smart" || m.OwnedBy != "keeptrusts" || string(m.Object) != "model" {
		t.Fatalf("retrieve smart = %+v", m)
	}
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []string{"smart", "gpt-4o-mini"}) {
		t.Fatalf("list = %v", ids)
	}
	_, err = client.Models.Get(context.Background(), "gemini-2.0-flash")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Fatalf("retrieve of an unrouted model: %v", err)
	}
}

// TestRoutesParamsAcrossProviders runs the parameter scenarios:
// fields the Anthropic fallback cannot take are dropped on failover (and
// listed in the event), temperature is scaled, n fans out; the same
// fields on an Anthropic first choice are refused without an upstream
// call; a field no Anthropic target can serve skips it.
func TestRoutesParamsAcrossProviders(t *testing.T) {
	tests := []struct {
		name         string
		model, extra string
		openaiDown   bool
		wantStatus   int
		wantProvider string
		wantChoices  int
		wantDropped  []string
		wantMapped   []string
		wantParam    string // of a 400
		wantCalls    [2]int64
		wantReasons  []string // the attempts' outcomes
	}{
		{
			name: "dropped on failover", model: "gpt-4.1", openaiDown: true,
			extra:      `,"frequency_penalty":0.5,"logprobs":true,"seed":42`,
			wantStatus: 200, wantProvider: "anthropic-fallback", wantChoices: 1,
			wantDropped: []string{"frequency_penalty", "logprobs", "seed"}, wantCalls: [2]int64{0, 1},
			wantReasons: []string{"connection_error", "ok"},
		},
		{
			name: "temperature scaled and n fanned out on failover", model: "gpt-4.1", openaiDown: true,
			extra:      `,"temperature":1.8,"n":2`,
			wantStatus: 200, wantProvider: "anthropic-fallback", wantChoices: 2, wantCalls: [2]int64{0, 2},
			wantMapped:  []string{"temperature=1.8->0.9"},
			wantReasons: []string{"connection_error", "ok", "ok"},
		},
		{
			name: "refused on a first choice", model: "claude-sonnet-4-20250514",
			extra:      `,"frequency_penalty":0.5`,
			wantStatus: 400, wantParam: "frequency_penalty", wantCalls: [2]int64{0, 0},
		},
		{
			name: "a field the first choice cannot serve skips it", model: "smart",
			extra:      `,"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"}`,
			wantStatus: 200, wantProvider: "openai-primary", wantChoices: 1, wantCalls: [2]int64{1, 0},
			wantReasons: []string{"unsupported_request", "ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := routesGateway(t, "")
			if tt.openaiDown {
				p.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
			}
			a := postChat(t, srv.URL, chatBody(tt.model, tt.extra))
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.status, tt.wantStatus, a.body)
			}
			if tt.wantStatus == 400 {
				e := a.answer.Error
				if e.Param == nil || *e.Param != tt.wantParam || e.Code != "unsupported_parameter" || !strings.Contains(e.Message, "anthropic") {
					t.Fatalf("error %s, want one naming %s and the anthropic kind", a.body, tt.wantParam)
				}
			} else if a.answer.Meta.Provider != tt.wantProvider || len(a.answer.Choices) != tt.wantChoices {
				t.Fatalf("answered by %s with %d choices, want %s with %d: %s", a.answer.Meta.Provider, len(a.answer.Choices), tt.wantProvider, tt.wantChoices, a.body)
			}
			for i, c := range a.answer.Choices {
				if c.Index != i || c.Message.Content == "" {
					t.Fatalf("choice %d: %+v", i, c)
				}
			}
			waitUntil(t, "simulator counts", func() bool {
				return p.primary.Stats().ChatRequests == tt.wantCalls[0] && p.fallback.Stats().ChatRequests == tt.wantCalls[1]
			})
			e := routeEvents(t, srv.URL, 1)[0]
			if !slices.Equal(e.DroppedParams, tt.wantDropped) {
				t.Fatalf("event dropped_params %v, want %v", e.DroppedParams, tt.wantDropped)
			}
			if !slices.Equal(e.MappedParams, tt.wantMapped) {
				t.Fatalf("event mapped_params %v, want %v", e.MappedParams, tt.wantMapped)
			}
			for _, at := range e.Attempts {
				if at.Outcome == "ok" && !slices.Equal(at.MappedParams, tt.wantMapped) {
					t.Fatalf("attempt %+v: mapped_params, want %v", at, tt.wantMapped)
				}
			}
			var reasons []string
			for _, at := range e.Attempts {
				reasons = append(reasons, at.Outcome)
			}
			if tt.wantReasons != nil && !slices.Equal(reasons, tt.wantReasons) {
				t.Fatalf("event attempts %v, want %v", reasons, tt.wantReasons)
			}
		})
	}
}

// TestRoutesUnsupportedAfterFailure: a streamed n = 2 whose primary is down
// cannot go to the Anthropic fallback (one choice per call, and a stream
// cannot be fanned out), which is skipped with unsupported_request. The
// 503 that follows says so: its message names each target with its
// reason, and for the skipped one the field and why; param is the field.
func TestRoutesUnsupportedAfterFailure(t *testing.T) {
	p, srv := routesGateway(t, "")
	p.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
	a := postChat(t, srv.URL, chatBody("gpt-4.1", `,"stream":true,"n":2`))
	e := a.answer.Error
	if a.status != 503 || e.Code != "all_providers_failed" || e.Param == nil || *e.Param != "n" {
		t.Fatalf("got %d %s, want 503 all_providers_failed with param n", a.status, a.body)
	}
	for _, want := range []string{"openai-primary connection_error", "anthropic-fallback unsupported_request", "field n", "cannot be streamed from anthropic targets"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q does not say %q", e.Message, want)
		}
	}
	if n := p.fallback.Stats().ChatRequests; n != 0 {
		t.Fatalf("the skipped fallback saw %d calls", n)
	}
	ev := routeEvents(t, srv.URL, 1)[0]
	if ev.Status != 503 || len(ev.Attempts) != 2 || ev.Attempts[1].Outcome != "unsupported_request" || !ev.Attempts[1].Skipped {
		t.Fatalf("event %+v", ev)
	}
}

// TestRoutesMetricLabelsBounded: the route label of the server duration
// metric is the configured route, and models no route matches add no
// label value of either the route or the requested model.
func TestRoutesMetricLabelsBounded(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "gateway-test", MetricReaders: []sdkmetric.Reader{reader}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	_, srv := routesGateway(t, "", WithTelemetry(tel))
	for _, m := range []string{"gpt-4.1", "smart", "made-up-1", "made-up-2", "made-up-3"} {
		postChat(t, srv.URL, chatBody(m, ""))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var sets []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != telemetry.MetricServerRequestDuration {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				route, _ := dp.Attributes.Value("keeptrusts.route")
				model, _ := dp.Attributes.Value("gen_ai.request.model")
				sets = append(sets, fmt.Sprintf("%s|%s|%d", route.AsString(), model.AsString(), dp.Count))
			}
		}
	}
	slices.Sort(sets)
	// The three unknown names share one point, with neither label.
	if want := []string{"gpt-*|gpt-4.1|1", "smart|smart|1", "||3"}; !slices.Equal(sets, want) {
		t.Fatalf("server duration points (route|model|count) %v, want %v without the made-up names", sets, want)
	}
}
