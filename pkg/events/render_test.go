package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goldenEvents are what the tutorial's step 8 shows: a failover, a plain
// success, a request every target failed, and a client that went away.
// The tutorial's gateway has no client auth: no event has a team.
func goldenEvents() []Event {
	t0 := time.Date(2025, 6, 1, 12, 30, 15, 123456789, time.UTC)
	failover := fullEvent("evt_01jx0g5y7m8n9p0q1r2s3t4v5w", t0) // with bodies, as with include_bodies
	failover.Team, failover.KeyName = "", ""
	failover.Endpoint, failover.ResponseID = EndpointChat, "" // the tutorial's requests are all chat
	evs := []Event{
		failover,
		{
			ID: "evt_01jx0g5z0a1b2c3d4e5f6g7h8j", Timestamp: t0.Add(2 * time.Second), RequestID: "req_2",
			Provider: "openai-primary", Model: "gpt-4o-mini-2024-07-18", RequestedModel: "gpt-4o-mini",
			Status: 200, LatencyMS: 412.25, GatewayLatencyMS: 1.5,
			Attempts: []Attempt{{Target: "openai-primary", Model: "gpt-4o-mini", Outcome: "ok", Status: 200, DurationMS: 410.75}},
			Usage:    Usage{InputTokens: 12, OutputTokens: 34, TotalTokens: 46},
			CostUSD:  0.0000222,
			Policies: []PolicyResult{{Name: "content-filter", Type: "content_filter", Action: "flag", Outcome: "pass"}},
		},
		{
			ID: "evt_01jx0g6a0a1b2c3d4e5f6g7h8j", Timestamp: t0.Add(3 * time.Second), RequestID: "req_3",
			Model: "claude-sonnet-4-20250514", RequestedModel: "gpt-4o", Status: 503, LatencyMS: 30012,
			Failover: Failover{Triggered: true, OriginalProvider: "openai-primary", Reason: "upstream_timeout"},
			Attempts: []Attempt{
				{Target: "openai-primary", Model: "gpt-4o", Outcome: "upstream_timeout", DurationMS: 30000},
				{Target: "anthropic-fallback", Model: "claude-sonnet-4-20250514", Outcome: "circuit_open", Skipped: true},
			},
			Error: "all_providers_failed",
		},
		{
			ID: "evt_01jx0g6b0a1b2c3d4e5f6g7h8j", Timestamp: t0.Add(4 * time.Second), RequestID: "req_4",
			Provider: "openai-primary", Model: "gpt-4o", RequestedModel: "gpt-4o", Status: 499, LatencyMS: 87.5, Stream: true,
			Error: "client_canceled",
		},
	}
	for i := range evs {
		evs[i].Endpoint = EndpointChat // as the store reads every event back
	}
	return evs
}

// endpointEvents are goldenEvents on a gateway serving every API: the
// endpoint column appears, and a Responses API answer has its id.
func endpointEvents() []Event {
	evs := goldenEvents()
	evs[1].Endpoint = "messages"
	evs[2].Endpoint = "embeddings"
	evs[3].Endpoint, evs[3].ResponseID = "responses", "resp_68af0c2e"
	return evs
}

// teamEvents are goldenEvents on a gateway with client auth: the team
// column appears, "-" for the one event without a team (a request refused
// before a key was matched).
func teamEvents() []Event {
	evs := goldenEvents()
	for i, team := range []string{"platform", "data-science", "", "platform"} {
		evs[i].Team = team
		if team != "" {
			evs[i].KeyName = team + "-key"
		}
	}
	return evs
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		render func(*bytes.Buffer, []Event) error
		evs    []Event
	}{
		{"events.json", func(b *bytes.Buffer, e []Event) error { return RenderJSON(b, e) }, goldenEvents()},
		{"events.table", func(b *bytes.Buffer, e []Event) error { return RenderTable(b, e) }, goldenEvents()},
		{"teams.table", func(b *bytes.Buffer, e []Event) error { return RenderTable(b, e) }, teamEvents()},
		{"teams.json", func(b *bytes.Buffer, e []Event) error { return RenderJSON(b, e) }, teamEvents()[1:3]},
		{"endpoints.table", func(b *bytes.Buffer, e []Event) error { return RenderTable(b, e) }, endpointEvents()},
		{"endpoints.json", func(b *bytes.Buffer, e []Event) error { return RenderJSON(b, e) }, endpointEvents()[2:]},
		{"empty.json", func(b *bytes.Buffer, e []Event) error { return RenderJSON(b, e) }, nil},
		{"empty.table", func(b *bytes.Buffer, e []Event) error { return RenderTable(b, e) }, []Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf, tt.evs); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("output differs from %s (-update rewrites it)\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestRenderJSONShape(t *testing.T) {
	tests := []struct {
		name string
		evs  []Event
		want string
	}{
		{"nil is an empty array", nil, "[]\n"},
		{"empty is an empty array", []Event{}, "[]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RenderJSON(&buf, tt.evs); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("RenderJSON = %q, want %q", buf.String(), tt.want)
			}
		})
	}

	// What jq relies on: one array; every event has the contract's keys,
	// attempts is an array even when empty, and omitempty fields are absent.
	var buf bytes.Buffer
	if err := RenderJSON(&buf, []Event{{ID: "evt_1", Timestamp: time.Unix(0, 0).UTC()}}); err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &arr); err != nil || len(arr) != 1 {
		t.Fatalf("not one JSON array of one object: %v\n%s", err, buf.String())
	}
	for _, key := range []string{"id", "timestamp", "request_id", "provider", "model", "requested_model", "status",
		"latency_ms", "gateway_latency_ms", "stream", "failover", "attempts", "usage", "cost_usd"} {
		if _, ok := arr[0][key]; !ok {
			t.Errorf("key %q missing", key)
		}
	}
	for _, key := range []string{"trace_id", "team", "key_name", "policies", "error", "request_body", "response_body"} {
		if _, ok := arr[0][key]; ok {
			t.Errorf("empty %q not omitted", key)
		}
	}
	if a, ok := arr[0]["attempts"].([]any); !ok || len(a) != 0 {
		t.Errorf("attempts = %#v, want []", arr[0]["attempts"])
	}
	if f := arr[0]["failover"].(map[string]any); len(f) != 1 || f["triggered"] != false {
		t.Errorf("failover = %#v, want {triggered: false}", f)
	}
}

func TestRenderTableCells(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want []string // substrings of the event's row
	}{
		{"no failover", Event{Provider: "p"}, []string{" -  "}},
		{
			"failover with reason",
			Event{Provider: "anthropic-fallback", Failover: Failover{Triggered: true, OriginalProvider: "openai-primary", Reason: "auth_error"}},
			[]string{"openai-primary→anthropic-fallback (auth_error)"},
		},
		{
			"every target failed",
			Event{Failover: Failover{Triggered: true, OriginalProvider: "openai-primary", Reason: "upstream_error"}},
			[]string{"openai-primary→none (upstream_error)"},
		},
		{"cost", Event{CostUSD: 0.000123}, []string{"$0.000123"}},
		{"tokens and latency", Event{LatencyMS: 1234.64, Usage: Usage{TotalTokens: 1500}}, []string{" 1234.6 ", " 1500 "}},
		{"sub-millisecond latency keeps a decimal", Event{LatencyMS: 0.43}, []string{" 0.4 "}},
		{"time is UTC to the second", Event{Timestamp: time.Date(2025, 6, 1, 14, 30, 15, 999, time.FixedZone("X", 7200))}, []string{"2025-06-01T12:30:15Z "}},
		{"control characters cannot break the table", Event{Model: "evil\tmodel\n\x1b[31mred"}, []string{"evil?model??[31mred"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RenderTable(&buf, []Event{tt.ev}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("want header + 1 row, got %q", buf.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[1]+" ", w) {
					t.Errorf("row %q lacks %q", lines[1], w)
				}
			}
		})
	}
}

func TestRenderTableTeamColumn(t *testing.T) {
	withTeam := Event{ID: "evt_1", Team: "platform", Provider: "p"}
	without := Event{ID: "evt_2", Provider: "p"}
	tests := []struct {
		name   string
		evs    []Event
		opts   *TableOptions // nil: RenderTable
		header string
		rows   []string // substrings, one per row
	}{
		{"no team, no column", []Event{without}, nil,
			"TIME                  ID     PROVIDER  MODEL", []string{"evt_2  p  "}},
		{"one team shows the column for all", []Event{without, withTeam}, nil,
			"ID     TEAM      PROVIDER", []string{"evt_2  -         p", "evt_1  platform  p"}},
		{"forced on without teams", []Event{without}, &TableOptions{Team: true},
			"ID     TEAM  PROVIDER", []string{"evt_2  -     p"}},
		{"forced off with a team", []Event{withTeam}, &TableOptions{},
			"ID     PROVIDER", []string{"evt_1  p"}},
		{"header only, forced on", nil, &TableOptions{Team: true}, "ID  TEAM  PROVIDER", nil},
		{"team cell is sanitized", []Event{{ID: "evt_3", Team: "a\tb\x1b[2J"}}, nil,
			"TEAM", []string{"evt_3  a?b?[2J  -"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var err error
			if tt.opts == nil {
				err = RenderTable(&buf, tt.evs)
			} else {
				err = RenderTableWith(&buf, tt.evs, *tt.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 1+len(tt.rows) {
				t.Fatalf("want header + %d rows, got %q", len(tt.rows), buf.String())
			}
			if !strings.Contains(lines[0], tt.header) {
				t.Errorf("header %q lacks %q", lines[0], tt.header)
			}
			if want := tt.opts == nil && HasTeam(tt.evs) || tt.opts != nil && tt.opts.Team; strings.Contains(lines[0], "TEAM") != want {
				t.Errorf("header %q: TEAM column shown = %v, want %v", lines[0], !want, want)
			}
			for i, w := range tt.rows {
				if !strings.Contains(lines[i+1], w) {
					t.Errorf("row %q lacks %q", lines[i+1], w)
				}
			}
		})
	}
}

func TestRenderTableEndpointColumn(t *testing.T) {
	chat := Event{ID: "evt_1", Endpoint: "chat", Provider: "p"}
	old := Event{ID: "evt_2", Provider: "p"} // no endpoint: chat
	msgs := Event{ID: "evt_3", Endpoint: "messages", Provider: "p", Team: "t"}
	tests := []struct {
		name   string
		evs    []Event
		opts   *TableOptions // nil: RenderTable
		header string
		rows   []string // substrings, one per row
	}{
		{"chat only, no column", []Event{chat, old}, nil,
			"ID     PROVIDER", []string{"evt_1  p", "evt_2  p"}},
		{"one other endpoint shows the column for all", []Event{chat, old, msgs}, nil,
			"ID     TEAM  ENDPOINT  PROVIDER", []string{"evt_1  -     chat      p", "evt_2  -     chat      p", "evt_3  t     messages  p"}},
		{"forced on", []Event{old}, &TableOptions{Endpoint: true},
			"ID     ENDPOINT  PROVIDER", []string{"evt_2  chat      p"}},
		{"forced off", []Event{msgs}, &TableOptions{},
			"ID     PROVIDER", []string{"evt_3  p"}},
		{"endpoint cell is sanitized", []Event{{ID: "evt_4", Endpoint: "x\ty"}}, nil,
			"ENDPOINT", []string{"evt_4  x?y  "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var err error
			if tt.opts == nil {
				err = RenderTable(&buf, tt.evs)
			} else {
				err = RenderTableWith(&buf, tt.evs, *tt.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 1+len(tt.rows) {
				t.Fatalf("want header + %d rows, got %q", len(tt.rows), buf.String())
			}
			if !strings.Contains(lines[0], tt.header) {
				t.Errorf("header %q lacks %q", lines[0], tt.header)
			}
			for i, w := range tt.rows {
				if !strings.Contains(lines[i+1], w) {
					t.Errorf("row %q lacks %q", lines[i+1], w)
				}
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestRenderWriteError(t *testing.T) {
	if err := RenderJSON(failWriter{}, goldenEvents()); err == nil {
		t.Error("RenderJSON ignored a write error")
	}
	if err := RenderTable(failWriter{}, goldenEvents()); err == nil {
		t.Error("RenderTable ignored a write error")
	}
	if err := RenderTableWith(failWriter{}, teamEvents(), TableOptions{Team: true}); err == nil {
		t.Error("RenderTableWith ignored a write error")
	}
}
