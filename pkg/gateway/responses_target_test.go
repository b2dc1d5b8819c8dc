package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

func TestResponseCache(t *testing.T) {
	t.Run("hit, miss and update", func(t *testing.T) {
		var c responseCache // the zero value is ready
		if _, ok := c.get("resp_a"); ok {
			t.Fatal("empty cache found resp_a")
		}
		c.put("resp_a", "t1")
		c.put("resp_a", "t2") // answered again elsewhere: the latest wins
		if got, ok := c.get("resp_a"); !ok || got != "t2" {
			t.Errorf("get(resp_a) = %q, %v; want t2", got, ok)
		}
		if c.order.Len() != 1 || len(c.byID) != 1 {
			t.Errorf("an update added an entry: %d in the list, %d in the map", c.order.Len(), len(c.byID))
		}
	})
	t.Run("bounded, least recently used out first", func(t *testing.T) {
		var c responseCache
		for i := range responseCacheSize {
			c.put(fmt.Sprint("resp_", i), "t")
		}
		c.get("resp_0") // used: resp_1 is now the least recently used
		c.put("resp_new", "t")
		if _, ok := c.get("resp_1"); ok {
			t.Error("resp_1, the least recently used, was kept past the bound")
		}
		for _, id := range []string{"resp_0", "resp_2", "resp_new"} {
			if _, ok := c.get(id); !ok {
				t.Errorf("%s was evicted", id)
			}
		}
		if c.order.Len() != responseCacheSize || len(c.byID) != responseCacheSize {
			t.Errorf("%d in the list, %d in the map; want %d", c.order.Len(), len(c.byID), responseCacheSize)
		}
	})
}

// responsesRecord is a Responses API request's record as a handler
// finishes it.
func responsesRecord(id, target string, status int) *record {
	return &record{start: time.Now(), reqID: "req_" + id, api: provider.APIResponses, responseID: id,
		requestedModel: "gpt-4o-mini", model: "gpt-4o-mini", provider: target, status: status}
}

func TestResponseTarget(t *testing.T) {
	tests := []struct {
		name   string
		events bool
	}{
		{"events on", true},
		{"events off: recent answers only", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			mutate := func(c *config.File) { c.Events.Enabled = &tt.events }
			h := newHarnessWith(t, okAnswer, okAnswer, harnessOptions{eventsPath: path, mutate: mutate})
			ctx := context.Background()
			g := h.gw

			g.finishRecord(ctx, responsesRecord("resp_ok", "openai-fallback", 200))
			g.finishRecord(ctx, responsesRecord("resp_failed", "openai-primary", 500))
			g.finishRecord(ctx, responsesRecord("resp_none", "", 200)) // no target answered
			// At once, before the writer has stored anything.
			for _, c := range []struct {
				id, want string
				ok       bool
			}{
				{"resp_ok", "openai-fallback", true},
				{"resp_failed", "", false},
				{"resp_none", "", false},
				{"resp_unknown", "", false},
				{"", "", false},
			} {
				if got, ok := g.responseTarget(ctx, c.id); got != c.want || ok != c.ok {
					t.Errorf("responseTarget(%q) = %q, %v; want %q, %v", c.id, got, ok, c.want, c.ok)
				}
			}
			if !tt.events {
				return
			}

			// The event says which endpoint and answer; the store finds
			// the target once the recent answers are gone (a restart).
			var evs []events.Event
			waitUntil(t, "3 events", func() bool { _, evs = getEvents(t, h, "last=10"); return len(evs) == 3 })
			if e := evs[0]; e.Endpoint != "responses" || e.ResponseID != "resp_ok" || e.Provider != "openai-fallback" {
				t.Errorf("event = endpoint %q response_id %q provider %q; want responses resp_ok openai-fallback", e.Endpoint, e.ResponseID, e.Provider)
			}
			g.responses = responseCache{}
			if got, ok := g.responseTarget(ctx, "resp_ok"); !ok || got != "openai-fallback" {
				t.Errorf("from the store: responseTarget(resp_ok) = %q, %v; want openai-fallback", got, ok)
			}
			if _, ok := g.responses.get("resp_ok"); !ok {
				t.Error("a target found in the store was not remembered")
			}
			if got, ok := g.responseTarget(ctx, "resp_failed"); ok {
				t.Errorf("from the store: responseTarget(resp_failed) = %q, want none (the request failed)", got)
			}
		})
	}
}

// A chat request's event and metrics say so: the record's zero API.
func TestChatEventEndpoint(t *testing.T) {
	h := newHarness(t, okAnswer, okAnswer)
	h.post(t, tutorialReq)
	var evs []events.Event
	waitUntil(t, "1 event", func() bool { _, evs = getEvents(t, h, "last=10"); return len(evs) == 1 })
	if e := evs[0]; e.Endpoint != "chat" || e.ResponseID != "" {
		t.Errorf("chat event: endpoint %q response_id %q; want chat and none", e.Endpoint, e.ResponseID)
	}
}

// The request metrics finishRecord records carry the record's operation
// and endpoint.
func TestRecordMetricsEndpoint(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "gateway-test", MetricReaders: []sdkmetric.Reader{reader}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	h := newHarnessWith(t, okAnswer, okAnswer, harnessOptions{opts: []Option{WithTelemetry(tel)}})
	rec := responsesRecord("", "openai-primary", 200)
	rec.api = provider.APIEmbeddings
	h.gw.finishRecord(context.Background(), rec)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // metric: attribute key, value
		telemetry.MetricRequests:              {"endpoint", "embeddings"},
		telemetry.MetricServerRequestDuration: {"gen_ai.operation.name", "embeddings"},
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			kv, ok := want[m.Name]
			if !ok {
				continue
			}
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			}
			for _, set := range sets {
				if v, ok := set.Value(attribute.Key(kv[0])); ok && v.AsString() == kv[1] {
					found[m.Name] = true
				}
			}
		}
	}
	for name, kv := range want {
		if !found[name] {
			t.Errorf("%s has no point with %s=%s", name, kv[0], kv[1])
		}
	}
}
