package events

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// reflectJSON is how an Event was encoded before appendJSON: encoding/json
// on the struct with MarshalJSON's adjustments, no HTML escaping. It is the
// reference appendJSON must match byte for byte, so stored events and
// `kt events tail --format json` do not change.
func reflectJSON(e Event) ([]byte, error) {
	type plain Event // drops the method, avoiding recursion
	p := plain(e)
	if p.Attempts == nil {
		p.Attempts = []Attempt{}
	}
	p.RequestBody = validJSON(p.RequestBody)
	p.ResponseBody = validJSON(p.ResponseBody)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkSameJSON fails unless appendJSON, MarshalJSON and json.Marshal
// agree with the reflection-based encoding, errors included.
func checkSameJSON(t *testing.T, e Event) {
	t.Helper()
	want, wantErr := reflectJSON(e)
	got, gotErr := appendJSON([]byte("prefix"), &e)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("appendJSON error %v, encoding/json error %v", gotErr, wantErr)
	}
	if wantErr != nil {
		if _, err := json.Marshal(e); err == nil {
			t.Fatalf("json.Marshal accepted what encoding/json refuses (%v)", wantErr)
		}
		return
	}
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("appendJSON differs from encoding/json:\n got %s\nwant prefix%s", got, want)
	}
	m, err := e.MarshalJSON()
	if err != nil || !bytes.Equal(m, want) {
		t.Fatalf("MarshalJSON = %s, %v; want %s", m, err, want)
	}
	// json.Marshal HTML-escapes MarshalJSON's output, as it always did.
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, want)
	if m, err := json.Marshal(e); err != nil || !bytes.Equal(m, escaped.Bytes()) {
		t.Fatalf("json.Marshal = %s, %v; want %s", m, err, escaped.Bytes())
	}
}

func TestAppendJSONMatchesReflection(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 30, 45, 123456789, time.UTC)
	full := fullEvent("evt_01jx0000000000000000000000", now)
	tricky := "q\"b\\s/ <a>&amp; \x00\x01\x08\x0c\n\r\t\x1f\x7f é 😀 \u2028\u2029 \xff\xc3( end"
	tests := []struct {
		name string
		ev   Event
	}{
		{"zero event", Event{}},
		{"full event", full},
		{"full event without bodies", func() Event { e := full; e.RequestBody, e.ResponseBody = nil, nil; return e }()},
		{"tricky strings everywhere", Event{
			ID: tricky, RequestID: tricky, Endpoint: tricky, ResponseID: tricky, Team: tricky, KeyName: tricky, TraceID: tricky, Provider: tricky, Model: tricky,
			RequestedModel: tricky, Error: tricky,
			Failover: Failover{Triggered: true, OriginalProvider: tricky, Reason: tricky},
			Attempts: []Attempt{{Target: tricky, Model: tricky, Outcome: tricky}},
			Policies: []PolicyResult{{Name: tricky, Type: tricky, Action: tricky, Outcome: tricky, Categories: []string{tricky, ""}}},
		}},
		{"team without key name", Event{Team: "platform"}},
		{"key name without team", Event{KeyName: "ci-pipeline"}},
		{"team and key name", Event{RequestID: "req_1", Team: "platform", KeyName: "ci-pipeline", TraceID: "t"}},
		{"empty but not nil slices", Event{Attempts: []Attempt{}, Policies: []PolicyResult{}}},
		{"policy with empty categories", Event{Policies: []PolicyResult{{Name: "p", Categories: []string{}}, {Name: "q"}}}},
		{"attempt with status and skipped", Event{Attempts: []Attempt{{Status: -1, Skipped: true, DurationMS: 0.5}, {}}}},
		{"attempts with retries", Event{Attempts: []Attempt{{Target: "p", Outcome: "upstream_error", Status: 500}, {Target: "p", Outcome: "ok", Retry: 1}, {Retry: -2}}}},
		{"usage with cache counts", Event{Usage: Usage{InputTokens: -3, OutputTokens: math.MaxInt64, TotalTokens: math.MinInt64, CacheReadTokens: 1, CacheCreationTokens: -1}}},
		{"negative status", Event{Status: -499}},
		{"floats in both notations", Event{LatencyMS: 1e-7, GatewayLatencyMS: 1e21, CostUSD: 0.000001}},
		{"float edge values", Event{LatencyMS: math.Copysign(0, -1), GatewayLatencyMS: math.SmallestNonzeroFloat64, CostUSD: math.MaxFloat64}},
		{"float just below exponent form", Event{LatencyMS: 999999999999999999999, GatewayLatencyMS: 123456.789, CostUSD: -2.5e-10}},
		{"zoned timestamp", Event{Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -(3*3600+30*60)))}},
		{"timestamp with trailing zero nanos", Event{Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 120000000, time.UTC)}},
		{"bodies with whitespace", Event{RequestBody: json.RawMessage(" {\"a\" : [1, 2],\n \"b\": \"x y\"} "), ResponseBody: json.RawMessage(`"s"`)}},
		{"invalid bodies become strings", Event{RequestBody: json.RawMessage(`{"cut`), ResponseBody: json.RawMessage("<b>\xff</b> \u2028")}},
		{"whitespace-only body", Event{RequestBody: json.RawMessage("  \n")}},
		{"body with html and separators", Event{RequestBody: json.RawMessage(`{"h":"<a>&\u2028","r":"` + "\u2028" + `"}`)}},
		{"NaN is an error", Event{LatencyMS: math.NaN()}},
		{"infinity is an error", Event{Attempts: []Attempt{{DurationMS: math.Inf(-1)}}}},
		{"year beyond 9999 is an error", Event{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSameJSON(t, tt.ev)
		})
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("evt_1", "gpt-4o", "auth_error", "hate", []byte(`{"messages":[]}`), []byte(`{"choices":[]}`),
		int64(1748780000123456789), int64(0), 1234.5, 0.005535, int64(200), int64(1500), true)
	f.Add("a\"b\\c", "evil\tmodel\u2028", "\xff", "", []byte(`{"cut`), []byte("\xff\xfe"),
		int64(0), int64(-3600), 1e-7, 1e21, int64(-1), int64(0), false)
	f.Add("", "", "", "<&>", []byte(`  {"a" : 1}  `), []byte(" "),
		int64(-1), int64(19800), math.Copysign(0, -1), 5e-324, int64(499), int64(math.MaxInt64), true)
	f.Fuzz(func(t *testing.T, id, model, reason, category string, req, resp []byte,
		unixNano, offsetSec int64, latency, cost float64, status, tokens int64, flag bool) {
		e := Event{
			ID:               id,
			Timestamp:        time.Unix(0, unixNano).In(time.FixedZone("z", int(offsetSec%(24*3600)))),
			RequestID:        id + model,
			Endpoint:         reason,
			ResponseID:       category,
			Team:             category,
			KeyName:          model,
			TraceID:          reason,
			Provider:         category,
			Model:            model,
			RequestedModel:   reason + model,
			Status:           int(status),
			LatencyMS:        latency,
			GatewayLatencyMS: -latency,
			Stream:           flag,
			Failover:         Failover{Triggered: flag, OriginalProvider: id, Reason: reason},
			Usage:            Usage{InputTokens: tokens, OutputTokens: -tokens, TotalTokens: status, CacheReadTokens: tokens / 2},
			CostUSD:          cost,
			Error:            reason,
			RequestBody:      req,
			ResponseBody:     resp,
		}
		if flag {
			e.Attempts = []Attempt{{Target: id, Model: model, Outcome: reason, Status: int(status), Skipped: flag, Retry: int(tokens), DurationMS: cost}, {}}
			e.Policies = []PolicyResult{{Name: category, Categories: []string{category, model}}}
		}
		checkSameJSON(t, e)
	})
}
