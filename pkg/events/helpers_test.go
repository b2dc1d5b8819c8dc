package events

import (
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStore is a Store whose behaviour each test scripts.
type fakeStore struct {
	InsertFn func(ctx context.Context, evs []Event) error
	QueryFn  func(ctx context.Context, f Filter) ([]Event, error)
	PruneFn  func(ctx context.Context) (int64, error)
	SpendFn  func(ctx context.Context, since time.Time) (map[string]float64, error)
	// RespFn answers ResponseTarget; nil finds nothing.
	RespFn func(ctx context.Context, id string) (string, bool, error)
}

func (f *fakeStore) ResponseTarget(ctx context.Context, id string) (string, bool, error) {
	if f.RespFn == nil {
		return "", false, nil
	}
	return f.RespFn(ctx, id)
}

func (f *fakeStore) Insert(ctx context.Context, evs []Event) error {
	if f.InsertFn == nil {
		return nil
	}
	return f.InsertFn(ctx, evs)
}

func (f *fakeStore) Query(ctx context.Context, fl Filter) ([]Event, error) {
	if f.QueryFn == nil {
		return []Event{}, nil
	}
	return f.QueryFn(ctx, fl)
}

func (f *fakeStore) SpendByTeam(ctx context.Context, since time.Time) (map[string]float64, error) {
	if f.SpendFn == nil {
		return map[string]float64{}, nil
	}
	return f.SpendFn(ctx, since)
}

func (f *fakeStore) Prune(ctx context.Context) (int64, error) {
	if f.PruneFn == nil {
		return 0, nil
	}
	return f.PruneFn(ctx)
}

func (f *fakeStore) Close() error { return nil }

// recorder collects what a fakeStore's Insert accepted.
type recorder struct {
	mu    sync.Mutex
	evs   []Event
	calls int
}

// insert records evs; fail, if not nil, decides per call (1-based) whether
// the insert fails instead.
func (r *recorder) insert(fail func(call int) error) func(context.Context, []Event) error {
	return func(_ context.Context, evs []Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if fail != nil {
			if err := fail(r.calls); err != nil {
				return err
			}
		}
		r.evs = append(r.evs, evs...) // copies: the writer reuses its batch
		return nil
	}
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *recorder) ids() []string {
	var ids []string
	for _, e := range r.events() {
		ids = append(ids, e.ID)
	}
	return ids
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func openTemp(t *testing.T, r Retention) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "keeptrusts", "events.db")
	s, err := OpenSQLite(path, r)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func closeWriter(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}
}

func insert(t *testing.T, s Store, evs ...Event) {
	t.Helper()
	if err := s.Insert(context.Background(), evs); err != nil {
		t.Fatalf("Insert: %v", err)
	}
}

func query(t *testing.T, s Store, f Filter) []Event {
	t.Helper()
	evs, err := s.Query(context.Background(), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return evs
}

func idsOf(evs []Event) []string {
	ids := []string{}
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// fullEvent sets every field, so a round trip that drops one is caught.
func fullEvent(id string, ts time.Time) Event {
	return Event{
		ID:               id,
		Timestamp:        ts,
		RequestID:        "req_" + id,
		Endpoint:         "responses",
		ResponseID:       "resp_" + id,
		Team:             "platform",
		KeyName:          "ci-pipeline",
		TraceID:          "4bf92f3577b34da6a3ce929d0e0e4736",
		Provider:         "anthropic-fallback",
		Model:            "claude-sonnet-4-20250514",
		RequestedModel:   "gpt-4o-mini",
		Route:            "gpt-*",
		Status:           200,
		LatencyMS:        1234.5,
		GatewayLatencyMS: 3.25,
		Stream:           true,
		Failover:         Failover{Triggered: true, OriginalProvider: "openai-primary", Reason: "auth_error"},
		Attempts: []Attempt{
			{Target: "openai-primary", Model: "gpt-4o-mini", Outcome: "auth_error", Status: 401, DurationMS: 120.5},
			{Target: "anthropic-fallback", Model: "claude-sonnet-4-20250514", Outcome: "ok", Status: 200, DurationMS: 1100,
				DroppedParams: []string{"frequency_penalty"}, MappedParams: []string{"temperature=1.8->0.9"}},
			{Target: "local", Model: "llama", Outcome: "circuit_open", Skipped: true},
		},
		DroppedParams: []string{"frequency_penalty"},
		MappedParams:  []string{"temperature=1.8->0.9"},
		Usage:         Usage{InputTokens: 1200, OutputTokens: 300, TotalTokens: 1500, CacheReadTokens: 1000, CacheCreationTokens: 100},
		CostUSD:       0.005535,
		Policies:      []PolicyResult{{Name: "content-filter", Type: "content_filter", Action: "flag", Outcome: "flagged", Categories: []string{"hate", "violence"}}},
		Error:         "",
		RequestBody:   json.RawMessage(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"<b>hi</b> & bye"}]}`),
		ResponseBody:  json.RawMessage(`{"id":"msg_1","choices":[{"message":{"role":"assistant","content":"hello"}}]}`),
	}
}
