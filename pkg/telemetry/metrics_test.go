package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/router"
)

// point is one data point reduced to what the tests compare.
type point struct {
	value     float64 // sum for counters and gauges' value; for histograms the sum
	count     uint64  // histograms only
	exemplars []metricdata.Exemplar[float64]
}

// points returns a metric's data points keyed by their encoded attributes
// ("k=v,k=v", sorted).
func points(t *testing.T, m metricdata.Metrics) map[string]point {
	t.Helper()
	out := map[string]point{}
	key := func(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = point{value: float64(p.Value)}
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = point{value: p.Value}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = point{value: float64(p.Value)}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = point{value: p.Sum, count: p.Count, exemplars: p.Exemplars}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = point{value: float64(p.Sum), count: p.Count}
		}
	default:
		t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
	}
	return out
}

// with adds "k=v" pairs to an encoded attribute set, keeping it sorted.
func with(enc string, kvs ...string) string {
	parts := append(strings.Split(enc, ","), kvs...)
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// wantPoints checks that metric name has exactly the attribute sets in
// want, each with the given count (histograms) or value (others).
func wantPoints(t *testing.T, ms map[string]metricdata.Metrics, name, unit string, want map[string]float64) map[string]point {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Errorf("metric %s not recorded", name)
		return nil
	}
	if m.Unit != unit {
		t.Errorf("%s unit %q, want %q", name, m.Unit, unit)
	}
	got := points(t, m)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(got) != len(want) {
		t.Errorf("%s: %d data points %q, want %d", name, len(got), keys, len(want))
	}
	for k, v := range want {
		p, ok := got[k]
		if !ok {
			t.Errorf("%s: no data point {%s}; have %q", name, k, keys)
			continue
		}
		n := p.value
		switch m.Data.(type) {
		case metricdata.Histogram[float64], metricdata.Histogram[int64]:
			n = float64(p.count)
		}
		if n != v {
			t.Errorf("%s{%s} = %v, want %v", name, k, n, v)
		}
	}
	return got
}

func TestMetricsScenario(t *testing.T) {
	primary := newUpstream(t, status(500))
	fallback := newUpstream(t, answer)
	streamer := newUpstream(t, streamAnswer)
	h := newHarness(t, nil, nil)
	tel := h.tel
	targets := []*router.Target{
		newTarget(t, tel, "openai-primary", "openai", 1, primary.URL, 2),
		newTarget(t, tel, "compat-fallback", "openai_compatible", 2, fallback.URL, 0),
	}
	rt := router.New(targets, settings(), tel.Observer())
	srv := httptest.NewServer(gateway(tel, rt))
	defer srv.Close()
	streamRT := router.New([]*router.Target{newTarget(t, tel, "stream-primary", "openai", 1, streamer.URL, 0)}, settings(), tel.Observer())
	streamSrv := httptest.NewServer(gateway(tel, streamRT))
	defer streamSrv.Close()

	// Two failovers trip the primary's breaker; the third request skips it.
	for range 3 {
		post(t, srv, chatBody)
	}
	post(t, streamSrv, streamBody)

	// Probes: one pass, one failure, one cut short by shutdown.
	pass := tel.WrapProbe("openai-primary", "openai", func(context.Context) error { return nil })
	fail := tel.WrapProbe("openai-primary", "openai", func(context.Context) error { return errors.New("probe: status 500") })
	if err := pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := fail(context.Background()); err == nil {
		t.Fatal("wrapped probe lost its error")
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = fail(canceled)

	if err := tel.ObserveTargets(TargetStates(targets)); err != nil {
		t.Fatal(err)
	}

	tel.RecordRequest(context.Background(), Request{
		Provider: "compat-fallback", RequestedModel: "gpt-4o-mini", Model: "claude-sonnet-4-20250514", Status: 200,
		Duration: 300 * time.Millisecond, UpstreamTime: 290 * time.Millisecond, CostUSD: 0.0025,
		PolicyHits: []PolicyHit{{Policy: "content-filter", Category: "violence", Action: "flag"}},
	})
	tel.RecordRequest(context.Background(), Request{
		Provider: "stream-primary", RequestedModel: "gpt-4o-mini", Model: "gpt-4o-mini", Status: 200, Stream: true,
		Duration: 2 * time.Second, UpstreamTime: 1990 * time.Millisecond, TimeToFirstToken: 150 * time.Millisecond, CostUSD: 0.001,
	})
	tel.RecordRequest(context.Background(), Request{RequestedModel: "gpt-4o-mini", Status: 503, ErrorType: "upstream_error", Duration: time.Second, UpstreamTime: time.Second})
	tel.RecordRequest(context.Background(), Request{RequestedModel: "gpt-4o-mini", Status: 400, Duration: time.Millisecond})

	ms := h.collect(t)
	const (
		primaryFail = "error.type=upstream_error,gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini,keeptrusts.target.id=openai-primary"
		fallbackOK  = "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=claude-sonnet-4-20250514,gen_ai.response.model=claude-sonnet-4-20250514,keeptrusts.target.id=compat-fallback"
		streamOK    = "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini,gen_ai.response.model=gpt-4o-mini,keeptrusts.target.id=stream-primary"
	)
	wantPoints(t, ms, MetricClientOperationDuration, "s", map[string]float64{primaryFail: 2, fallbackOK: 3, streamOK: 1})
	tokens := wantPoints(t, ms, MetricClientTokenUsage, "{token}", map[string]float64{
		with(fallbackOK, "gen_ai.token.type=input"):  3,
		with(fallbackOK, "gen_ai.token.type=output"): 3,
		with(streamOK, "gen_ai.token.type=input"):    1,
		with(streamOK, "gen_ai.token.type=output"):   1,
	})
	for k, want := range map[string]float64{
		with(fallbackOK, "gen_ai.token.type=input"):  3 * 7,
		with(fallbackOK, "gen_ai.token.type=output"): 3 * 3,
		with(streamOK, "gen_ai.token.type=input"):    11,
		with(streamOK, "gen_ai.token.type=output"):   5,
	} {
		if got := tokens[k].value; got != want {
			t.Errorf("tokens {%s} sum %v, want %v", k, got, want)
		}
	}
	wantPoints(t, ms, MetricAttempts, "{attempt}", map[string]float64{
		"outcome=upstream_error,skipped=false,target=openai-primary": 2,
		"outcome=circuit_open,skipped=true,target=openai-primary":    1,
		"outcome=ok,skipped=false,target=compat-fallback":            3,
		"outcome=ok,skipped=false,target=stream-primary":             1,
	})
	wantPoints(t, ms, MetricFailovers, "{failover}", map[string]float64{
		"from=openai-primary,reason=upstream_error,to=compat-fallback": 2,
		"from=openai-primary,reason=circuit_open,to=compat-fallback":   1,
	})
	wantPoints(t, ms, MetricProbeDuration, "s", map[string]float64{"target=openai-primary": 2})
	wantPoints(t, ms, MetricProbeFailures, "{probe}", map[string]float64{"target=openai-primary": 1})
	wantPoints(t, ms, MetricProviderHealth, "{status}", map[string]float64{"target=openai-primary": 0, "target=compat-fallback": 1})
	wantPoints(t, ms, MetricCircuitState, "{state}", map[string]float64{"target=openai-primary": 2, "target=compat-fallback": 0})

	wantPoints(t, ms, MetricServerRequestDuration, "s", map[string]float64{
		"gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o-mini,gen_ai.response.model=claude-sonnet-4-20250514,keeptrusts.endpoint=chat":               1,
		"gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o-mini,gen_ai.request.stream=true,gen_ai.response.model=gpt-4o-mini,keeptrusts.endpoint=chat": 1,
		"error.type=upstream_error,gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o-mini,keeptrusts.endpoint=chat":                                    1,
		"error.type=400,gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o-mini,keeptrusts.endpoint=chat":                                               1,
	})
	wantPoints(t, ms, MetricServerTimeToFirstToken, "s", map[string]float64{
		"gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o-mini,gen_ai.request.stream=true,gen_ai.response.model=gpt-4o-mini,keeptrusts.endpoint=chat": 1,
	})
	wantPoints(t, ms, MetricRequests, "{request}", map[string]float64{
		"endpoint=chat,provider=compat-fallback,status_class=2xx": 1,
		"endpoint=chat,provider=stream-primary,status_class=2xx":  1,
		"endpoint=chat,provider=none,status_class=5xx":            1,
		"endpoint=chat,provider=none,status_class=4xx":            1,
	})
	overhead := wantPoints(t, ms, MetricGatewayOverhead, "s", map[string]float64{"stream=false": 3, "stream=true": 1})
	if got := overhead["stream=false"].value; got < 0.0099 || got > 0.0111 {
		// 10ms + 0 + 1ms (a failure with no upstream time is all overhead)
		t.Errorf("overhead sum %v, want 0.011", got)
	}
	wantPoints(t, ms, MetricCost, "{USD}", map[string]float64{
		"model=claude-sonnet-4-20250514,provider=compat-fallback": 0.0025,
		"model=gpt-4o-mini,provider=stream-primary":               0.001,
	})
	wantPoints(t, ms, MetricPolicyHits, "{hit}", map[string]float64{"action=flag,category=violence,policy=content-filter": 1})

	// Explicit LLM-latency buckets.
	hist := ms[MetricClientOperationDuration].Data.(metricdata.Histogram[float64])
	if b := hist.DataPoints[0].Bounds; len(b) != len(durationBuckets) || b[0] != 0.01 || b[len(b)-1] != 81.92 {
		t.Errorf("bounds %v", b)
	}
	// otelhttp's own server metrics are there too, named by route.
	if _, ok := ms["http.server.request.duration"]; !ok {
		t.Error("http.server.request.duration missing")
	}
}

func TestExemplarCarriesAttemptTrace(t *testing.T) {
	primary := newUpstream(t, status(502))
	fallback := newUpstream(t, answer)
	h := newHarness(t, nil, nil)
	rt := router.New([]*router.Target{
		newTarget(t, h.tel, "openai-primary", "openai", 1, primary.URL, 0),
		newTarget(t, h.tel, "anthropic-fallback", "openai", 2, fallback.URL, 0),
	}, settings(), h.tel.Observer())
	srv := httptest.NewServer(gateway(h.tel, rt))
	defer srv.Close()
	post(t, srv, chatBody)
	spans := h.waitSpans(t, "POST /v1/chat/completions")
	failed := one(t, spans, "chat gpt-4o-mini")

	ms := h.collect(t)
	pts := points(t, ms[MetricClientOperationDuration])
	p, ok := pts["error.type=upstream_error,gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini,keeptrusts.target.id=openai-primary"]
	if !ok {
		t.Fatalf("no data point for the failed attempt: %v", pts)
	}
	if len(p.exemplars) == 0 {
		t.Fatal("no exemplar on the failed attempt's duration")
	}
	ex := p.exemplars[0]
	if fmt.Sprintf("%x", ex.TraceID) != failed.SpanContext().TraceID().String() || fmt.Sprintf("%x", ex.SpanID) != failed.SpanContext().SpanID().String() {
		t.Errorf("exemplar trace %x span %x, want the attempt's %s %s", ex.TraceID, ex.SpanID, failed.SpanContext().TraceID(), failed.SpanContext().SpanID())
	}
	// The failover counter's exemplar leads to the same trace.
	var fo metricdata.Sum[int64]
	fo, _ = ms[MetricFailovers].Data.(metricdata.Sum[int64])
	if len(fo.DataPoints) != 1 || len(fo.DataPoints[0].Exemplars) == 0 ||
		fmt.Sprintf("%x", fo.DataPoints[0].Exemplars[0].TraceID) != failed.SpanContext().TraceID().String() {
		t.Errorf("failover exemplars %+v", fo.DataPoints)
	}
}

func TestProbeSpans(t *testing.T) {
	tests := []struct {
		name      string
		trace     bool
		err       error
		wantSpans int
		wantError string
	}{
		{name: "off by default", trace: false, wantSpans: 0},
		{name: "on: passing probe", trace: true, wantSpans: 1},
		{name: "on: failing probe", trace: true, err: errors.New("probe: status 503"), wantSpans: 1, wantError: "probe_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, map[string]string{"p": "https://api.openai.com/v1"}, func(c *Config) { c.TraceProbes = tt.trace })
			var sawSpan bool
			check := h.tel.WrapProbe("p", "openai", func(ctx context.Context) error {
				sawSpan = ctxHasSpan(ctx)
				return tt.err
			})
			_ = check(context.Background())
			spans := h.spans.Ended()
			if len(spans) != tt.wantSpans || sawSpan != (tt.wantSpans > 0) {
				t.Fatalf("spans %v (in check: %v), want %d", spanNames(spans), sawSpan, tt.wantSpans)
			}
			if tt.wantSpans == 0 {
				return
			}
			s := one(t, spans, "probe p")
			wantAttrs(t, "probe", s.Attributes(), map[string]any{"keeptrusts.target.id": "p", "server.address": "api.openai.com", "server.port": 443})
			if tt.wantError != "" {
				wantAttrs(t, "probe", s.Attributes(), map[string]any{"error.type": tt.wantError})
			}
		})
	}
}

func TestObserverConcurrent(t *testing.T) {
	h := newHarness(t, nil, nil)
	obs := h.tel.Observer()
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := fmt.Sprintf("t%d", w%3)
			for i := range each {
				a := &router.Attempt{N: 1, Target: target, Kind: "openai", Model: "m", Start: time.Now()}
				ctx := obs.StartAttempt(context.Background(), a)
				a.Duration = time.Millisecond
				if i%2 == 1 {
					a.Outcome = classify.Outcome{Reason: classify.UpstreamError}
				}
				obs.EndAttempt(ctx, a)
				obs.Failover(context.Background(), router.FailoverStep{From: target, To: "x", Reason: classify.UpstreamError})
			}
		}()
	}
	wg.Wait()
	ms := h.collect(t)
	var total float64
	for _, p := range points(t, ms[MetricAttempts]) {
		total += p.value
	}
	if total != workers*each {
		t.Errorf("attempts counted %v, want %d", total, workers*each)
	}
	if n := len(points(t, ms[MetricAttempts])); n != 6 {
		t.Errorf("%d attempt series, want 3 targets × 2 outcomes", n)
	}
}

// TestExemplarFilterFollowsTracing: with no filter configured, exemplars
// follow the spans (trace_based) while spans are recorded and are off when
// none are, so that measurements skip the reservoirs; a filter set
// explicitly is kept either way.
func TestExemplarFilterFollowsTracing(t *testing.T) {
	sampled := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	tests := []struct {
		name          string
		tracing       bool
		filter        exemplar.Filter
		wantExemplars bool
	}{
		{name: "spans recorded, default filter", tracing: true, wantExemplars: true},
		{name: "no spans, default filter", tracing: false, wantExemplars: false},
		{name: "no spans, trace_based set explicitly", tracing: false, filter: exemplar.TraceBasedFilter, wantExemplars: true},
		{name: "spans recorded, always_off", tracing: true, filter: exemplar.AlwaysOffFilter, wantExemplars: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *Config) {
				if !tt.tracing {
					c.Sampler, c.SpanProcessors = nil, nil
				}
				c.ExemplarFilter = tt.filter
			})
			ctx := trace.ContextWithSpanContext(context.Background(), sampled)
			a := router.Attempt{N: 1, Target: "primary", Kind: "openai", Model: "m", Start: time.Now(), Outcome: classify.Success}
			actx := h.tel.Observer().StartAttempt(ctx, &a)
			h.tel.Observer().EndAttempt(actx, &a)
			var got int
			for _, p := range points(t, h.collect(t)[MetricClientOperationDuration]) {
				got += len(p.exemplars)
			}
			if (got > 0) != tt.wantExemplars {
				t.Errorf("%d exemplars, want some: %v", got, tt.wantExemplars)
			}
		})
	}
}
