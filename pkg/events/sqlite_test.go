package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSQLiteRoundTrip(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	paris := time.FixedZone("CEST", 2*3600)
	full := fullEvent(NewID(), time.Date(2025, 6, 1, 14, 30, 15, 123456789, paris))
	minimal := Event{ID: NewID(), Timestamp: time.Date(2025, 6, 1, 12, 30, 16, 0, time.UTC), Status: 503, Error: "all_providers_failed"}
	insert(t, s, full, minimal)

	got := query(t, s, Filter{})
	wantFull := full
	wantFull.Timestamp = full.Timestamp.UTC()
	wantMinimal := minimal
	wantMinimal.Attempts = []Attempt{}  // stored as [], never null
	wantMinimal.Endpoint = EndpointChat // an event without one was a chat request
	want := []Event{wantFull, wantMinimal}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip mismatch\n got: %+v\nwant: %+v", got, want)
	}
	if got[0].Timestamp.Location() != time.UTC {
		t.Errorf("timestamp location = %v, want UTC", got[0].Timestamp.Location())
	}
}

// TestSQLiteInsertBatchSizes covers Insert's chunking: batches shorter
// than, equal to and longer than one INSERT statement's rows, with a tail.
func TestSQLiteInsertBatchSizes(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, n := range []int{1, insertChunk - 1, insertChunk, insertChunk + 1, 2*insertChunk + 5, DefaultBatchSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, _ := openTemp(t, Retention{})
			in := make([]Event, n)
			for i := range in {
				in[i] = fullEvent(fmt.Sprintf("evt_%04d", i), base.Add(time.Duration(i)*time.Millisecond))
				in[i].Status = 200 + i
				in[i].Provider = fmt.Sprint("p", i%3)
				in[i].Failover.Triggered = i%2 == 0
				in[i].Team = []string{"", "t1", "t2"}[i%3]
				in[i].KeyName = fmt.Sprint("k", i%5)
				in[i].CostUSD = float64(i%4) / 4
			}
			insert(t, s, in...)
			got := query(t, s, Filter{})
			if !reflect.DeepEqual(got, in) {
				t.Fatalf("stored %d events differ from the %d inserted", len(got), n)
			}
			// The indexed columns are bound per row, not only the JSON.
			var rows, sum int
			if err := s.db.QueryRowContext(context.Background(),
				"SELECT count(*), coalesce(sum(status), 0) FROM events WHERE failover_triggered AND provider = 'p0'").Scan(&rows, &sum); err != nil {
				t.Fatal(err)
			}
			wantRows, wantSum := 0, 0
			for i := range in {
				if i%2 == 0 && i%3 == 0 {
					wantRows++
					wantSum += 200 + i
				}
			}
			if rows != wantRows || sum != wantSum {
				t.Errorf("indexed columns: %d rows summing %d, want %d summing %d", rows, sum, wantRows, wantSum)
			}
			// So are the team, key name and cost, row by row.
			stored, err := s.db.QueryContext(context.Background(), "SELECT team, key_name, cost_usd FROM events ORDER BY seq")
			if err != nil {
				t.Fatal(err)
			}
			defer stored.Close()
			var i int
			for ; stored.Next(); i++ {
				var team, key string
				var cost float64
				if err := stored.Scan(&team, &key, &cost); err != nil {
					t.Fatal(err)
				}
				if team != in[i].Team || key != in[i].KeyName || cost != in[i].CostUSD {
					t.Fatalf("row %d: team %q key_name %q cost_usd %v, want %q %q %v", i, team, key, cost, in[i].Team, in[i].KeyName, in[i].CostUSD)
				}
			}
			if err := stored.Err(); err != nil || i != n {
				t.Fatalf("read %d rows (%v), want %d", i, err, n)
			}
		})
	}
}

func TestSQLiteInsertAtomic(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	evs := make([]Event, insertChunk+10)
	for i := range evs {
		evs[i] = Event{ID: fmt.Sprintf("evt_%04d", i), Timestamp: time.Now()}
	}
	// After the first chunk has gone to SQLite: the whole batch still fails.
	evs[insertChunk+5].LatencyMS = math.NaN()
	if err := s.Insert(context.Background(), evs); err == nil || !strings.Contains(err.Error(), "evt_0069") {
		t.Fatalf("Insert with an unencodable event = %v, want an error naming evt_0069", err)
	}
	if got := query(t, s, Filter{}); len(got) != 0 {
		t.Errorf("a failed batch left %d events", len(got))
	}
	// The prepared statements survive the rollback.
	evs[insertChunk+5].LatencyMS = 1
	insert(t, s, evs...)
	if got := query(t, s, Filter{}); len(got) != len(evs) {
		t.Errorf("after a failed batch, a good one stored %d of %d events", len(got), len(evs))
	}
}

func TestSQLiteInsertDuplicateInBatch(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	a := Event{ID: "evt_a", Timestamp: time.Now(), Model: "first"}
	b := a
	b.Model = "second"
	insert(t, s, a, Event{ID: "evt_b", Timestamp: time.Now()}, b)
	got := query(t, s, Filter{})
	if ids := idsOf(got); !slices.Equal(ids, []string{"evt_a", "evt_b"}) || got[0].Model != "first" {
		t.Fatalf("got %v (first model %q), want evt_a (first), evt_b", ids, got[0].Model)
	}
}

func TestSQLiteInsertNormalizes(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	before := time.Now()
	in := []Event{
		{Provider: "p"}, // no id, no timestamp
		{ID: "evt_x", RequestBody: json.RawMessage(`{"truncated": `), ResponseBody: json.RawMessage("plain \xff text")},
	}
	insert(t, s, in...)
	if in[0].ID != "" || !in[0].Timestamp.IsZero() {
		t.Errorf("Insert modified its argument: %+v", in[0])
	}
	got := query(t, s, Filter{})
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2", len(got))
	}
	if !strings.HasPrefix(got[0].ID, IDPrefix) {
		t.Errorf("missing id not filled: %q", got[0].ID)
	}
	if got[0].Timestamp.Before(before.Add(-time.Second)) || got[0].Timestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("zero timestamp not set to now: %v", got[0].Timestamp)
	}
	// Invalid JSON bodies are kept as JSON strings rather than failing the batch.
	var req, resp string
	if err := json.Unmarshal(got[1].RequestBody, &req); err != nil || req != `{"truncated": ` {
		t.Errorf("invalid request body stored as %s (%v)", got[1].RequestBody, err)
	}
	if err := json.Unmarshal(got[1].ResponseBody, &resp); err != nil || resp != "plain \uFFFD text" {
		t.Errorf("invalid response body stored as %s (%v)", got[1].ResponseBody, err)
	}
}

func TestSQLiteInsertIdempotent(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	e := Event{ID: NewID(), Timestamp: time.Now(), Model: "first"}
	insert(t, s, e)
	e.Model = "second"
	insert(t, s, e, Event{ID: NewID(), Timestamp: time.Now()})
	got := query(t, s, Filter{})
	if len(got) != 2 || got[0].Model != "first" {
		t.Fatalf("retried insert duplicated or replaced the event: %+v", got)
	}
}

// seedQueryEvents stores 10 events e0..e9, one second apart: even ones from
// provider a, odd from b; e3, e4 and e8 failed over; e0, e3, e6 and e9 are
// team red's, e1, e4 and e7 team blue's, the rest have no team.
func seedQueryEvents(t *testing.T, s Store, base time.Time) []Event {
	t.Helper()
	var evs []Event
	for i := range 10 {
		p := "a"
		if i%2 == 1 {
			p = "b"
		}
		evs = append(evs, Event{
			ID:        fmt.Sprintf("evt_%02d", i),
			Timestamp: base.Add(time.Duration(i) * time.Second),
			Provider:  p,
			Status:    200,
			Failover:  Failover{Triggered: i == 3 || i == 4 || i == 8},
			Team:      []string{"red", "blue", ""}[i%3],
		})
	}
	// Two batches, as the writer would.
	insert(t, s, evs[:5]...)
	insert(t, s, evs[5:]...)
	return evs
}

func TestSQLiteQuery(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	seedQueryEvents(t, s, base)
	yes, no := true, false
	ids := func(ns ...int) []string {
		out := []string{}
		for _, n := range ns {
			out = append(out, fmt.Sprintf("evt_%02d", n))
		}
		return out
	}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, oldest first", Filter{}, ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"last 3 are the newest, oldest first", Filter{Last: 3}, ids(7, 8, 9)},
		{"last more than stored", Filter{Last: 50}, ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"negative last is unlimited", Filter{Last: -1}, ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"provider", Filter{Provider: "b"}, ids(1, 3, 5, 7, 9)},
		{"provider and last", Filter{Provider: "a", Last: 2}, ids(6, 8)},
		{"unknown provider", Filter{Provider: "zzz"}, ids()},
		{"failover true", Filter{Failover: &yes}, ids(3, 4, 8)},
		{"failover false", Filter{Failover: &no, Last: 3}, ids(6, 7, 9)},
		{"failover and provider", Filter{Failover: &yes, Provider: "a"}, ids(4, 8)},
		{"since is inclusive", Filter{Since: base.Add(7 * time.Second)}, ids(7, 8, 9)},
		{"since in another zone", Filter{Since: base.Add(8 * time.Second).In(time.FixedZone("X", -5*3600))}, ids(8, 9)},
		{"since in the future", Filter{Since: time.Now().Add(time.Hour)}, ids()},
		{"since year 1 means everything", Filter{Since: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}, ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"since year 9999 means nothing", Filter{Since: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, ids()},
		{"after id pages forward", Filter{AfterID: "evt_06"}, ids(7, 8, 9)},
		{"after id with last takes the oldest", Filter{AfterID: "evt_02", Last: 2}, ids(3, 4)},
		{"after id with filters", Filter{AfterID: "evt_02", Provider: "a", Failover: &yes}, ids(4, 8)},
		{"after the newest is empty", Filter{AfterID: "evt_09"}, ids()},
		{"after an unknown id falls back to id order", Filter{AfterID: "evt_05x"}, ids(6, 7, 8, 9)},
		{"team", Filter{Team: "red"}, ids(0, 3, 6, 9)},
		{"team and last", Filter{Team: "blue", Last: 2}, ids(4, 7)},
		{"team and provider", Filter{Team: "red", Provider: "b"}, ids(3, 9)},
		{"team and failover", Filter{Team: "blue", Failover: &yes}, ids(4)},
		{"team and since", Filter{Team: "red", Since: base.Add(4 * time.Second)}, ids(6, 9)},
		{"team after id", Filter{Team: "red", AfterID: "evt_03"}, ids(6, 9)},
		{"team after id with last", Filter{Team: "red", AfterID: "evt_00", Last: 2}, ids(3, 6)},
		{"team after an unknown id", Filter{Team: "blue", AfterID: "evt_01x"}, ids(4, 7)},
		{"unknown team", Filter{Team: "green"}, ids()},
		{"team is exact", Filter{Team: "RED"}, ids()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := idsOf(query(t, s, tt.f))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Query(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

// A long stream that started first but finished last is recorded last: a
// follower paging by AfterID must still see it.
func TestSQLiteAfterIDFollowsRecordOrder(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	early, late := NewID(), NewID() // early < late
	insert(t, s, Event{ID: late, Timestamp: time.Now()})
	cursor := query(t, s, Filter{Last: 1})[0].ID
	insert(t, s, Event{ID: early, Timestamp: time.Now().Add(-time.Minute)})
	got := idsOf(query(t, s, Filter{AfterID: cursor}))
	if !slices.Equal(got, []string{early}) {
		t.Fatalf("AfterID(%s) = %v, want [%s]", cursor, got, early)
	}
	if got := idsOf(query(t, s, Filter{Last: 1})); !slices.Equal(got, []string{early}) {
		t.Errorf("Last 1 = %v, want the most recently recorded %s", got, early)
	}
}

func TestSQLiteAfterIDCap(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	evs := make([]Event, MaxAfter+5)
	for i := range evs {
		evs[i] = Event{ID: NewID(), Timestamp: time.Now()}
	}
	insert(t, s, evs...)
	got := query(t, s, Filter{AfterID: evs[0].ID})
	if len(got) != MaxAfter {
		t.Fatalf("AfterID returned %d events, want the cap %d", len(got), MaxAfter)
	}
	if got[0].ID != evs[1].ID || got[len(got)-1].ID != evs[MaxAfter].ID {
		t.Errorf("AfterID page = %s..%s, want %s..%s", got[0].ID, got[len(got)-1].ID, evs[1].ID, evs[MaxAfter].ID)
	}
}

func TestSQLiteRestartPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	var want []string
	for round := range 3 { // as the tutorial: run, restart, restart
		s, err := OpenSQLite(path, Retention{})
		if err != nil {
			t.Fatalf("open round %d: %v", round, err)
		}
		if got := idsOf(query(t, s, Filter{})); !slices.Equal(got, want) {
			t.Fatalf("round %d: after reopen got %v, want %v", round, got, want)
		}
		e := fullEvent(NewID(), time.Now().UTC())
		insert(t, s, e)
		want = append(want, e.ID)
		if err := s.Close(); err != nil {
			t.Fatalf("close round %d: %v", round, err)
		}
	}
	s, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := idsOf(query(t, s, Filter{Failover: new(true)})); !slices.Equal(got, want) {
		t.Fatalf("read-only after restarts: got %v, want %v", got, want)
	}
}

func TestSQLiteRetention(t *testing.T) {
	now := time.Now().UTC()
	ev := func(id string, age time.Duration) Event { return Event{ID: id, Timestamp: now.Add(-age)} }
	tests := []struct {
		name        string
		r           Retention
		events      []Event
		wantDeleted int64
		want        []string
	}{
		{
			"default age keeps 29 days, drops 31",
			Retention{},
			[]Event{ev("evt_1", 31*24*time.Hour), ev("evt_2", 29*24*time.Hour), ev("evt_3", 0)},
			1, []string{"evt_2", "evt_3"},
		},
		{
			"custom age",
			Retention{MaxAge: time.Hour},
			[]Event{ev("evt_1", 2*time.Hour), ev("evt_2", 90*time.Minute), ev("evt_3", time.Minute)},
			2, []string{"evt_3"},
		},
		{
			"count keeps the newest recorded",
			Retention{MaxEvents: 2},
			[]Event{ev("evt_1", 0), ev("evt_2", 0), ev("evt_3", 0), ev("evt_4", 0)},
			2, []string{"evt_3", "evt_4"},
		},
		{
			"count at the limit deletes nothing",
			Retention{MaxEvents: 3},
			[]Event{ev("evt_1", 0), ev("evt_2", 0), ev("evt_3", 0)},
			0, []string{"evt_1", "evt_2", "evt_3"},
		},
		{
			"age and count together",
			Retention{MaxAge: time.Hour, MaxEvents: 2},
			[]Event{ev("evt_1", 2*time.Hour), ev("evt_2", 0), ev("evt_3", 0), ev("evt_4", 0)},
			2, []string{"evt_3", "evt_4"},
		},
		{
			// Age pruning leaves a hole in record order (a long request
			// recorded late with an old start): the count still keeps the
			// newest MaxEvents that remain, not fewer.
			"count after a hole in record order",
			Retention{MaxAge: time.Hour, MaxEvents: 3},
			[]Event{ev("evt_1", 0), ev("evt_2", 0), ev("evt_3", 2*time.Hour), ev("evt_4", 0), ev("evt_5", 0)},
			2, []string{"evt_2", "evt_4", "evt_5"},
		},
		{
			"hole makes the span exceed the count but not the limit",
			Retention{MaxAge: time.Hour, MaxEvents: 3},
			[]Event{ev("evt_1", 0), ev("evt_2", 2*time.Hour), ev("evt_3", 0), ev("evt_4", 0)},
			1, []string{"evt_1", "evt_3", "evt_4"},
		},
		{
			"count far over the limit",
			Retention{MaxEvents: 1},
			[]Event{ev("evt_1", 0), ev("evt_2", 0), ev("evt_3", 0), ev("evt_4", 0), ev("evt_5", 0)},
			4, []string{"evt_5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTemp(t, tt.r)
			insert(t, s, tt.events...)
			n, err := s.Prune(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.wantDeleted {
				t.Errorf("Prune deleted %d, want %d", n, tt.wantDeleted)
			}
			if got := idsOf(query(t, s, Filter{})); !slices.Equal(got, tt.want) {
				t.Errorf("after Prune: %v, want %v", got, tt.want)
			}
			// Retention also runs at open.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenSQLite(path, Retention{MaxEvents: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if got := idsOf(query(t, s2, Filter{})); !slices.Equal(got, tt.want[len(tt.want)-1:]) {
				t.Errorf("after reopen with MaxEvents 1: %v, want %v", got, tt.want[len(tt.want)-1:])
			}
		})
	}
}

func TestSQLitePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "events.db")
	s, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert(t, s, Event{ID: NewID(), Timestamp: time.Now()})
	for name, want := range map[string]os.FileMode{
		dir:           0o700 | os.ModeDir,
		path:          0o600,
		path + "-wal": 0o600,
		path + "-shm": 0o600,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != want {
			t.Errorf("%s mode = %v, want %v", filepath.Base(name), got, want)
		}
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
}

func TestSQLiteWALMode(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	var mode string
	var sync, version int
	ctx := context.Background()
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 1 || version != schemaVersion {
		t.Errorf("journal_mode=%s synchronous=%d user_version=%d; want wal, 1 (NORMAL), %d", mode, sync, version, schemaVersion)
	}
	var page int
	if err := s.db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&page); err != nil {
		t.Fatal(err)
	}
	if page != pageSize {
		t.Errorf("new store page_size = %d, want %d", page, pageSize)
	}
}

// A store created with SQLite's default 4 KiB pages (by an earlier kt)
// keeps them and keeps working: the page size applies to new files only.
func TestSQLiteExistingPageSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	old, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	insert(t, old, Event{ID: "evt_1", Timestamp: time.Now()})
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	// Rewrite it with 4 KiB pages, as it was before.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA journal_mode=DELETE", "PRAGMA page_size=4096", "VACUUM", "PRAGMA journal_mode=WAL"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert(t, s, Event{ID: "evt_2", Timestamp: time.Now()})
	var page int
	if err := s.db.QueryRow("PRAGMA page_size").Scan(&page); err != nil {
		t.Fatal(err)
	}
	if page != 4096 {
		t.Errorf("existing store page_size = %d, want it kept at 4096", page)
	}
	if got := idsOf(query(t, s, Filter{})); !slices.Equal(got, []string{"evt_1", "evt_2"}) {
		t.Errorf("events = %v, want evt_1, evt_2", got)
	}
}

func TestSQLiteReadOnly(t *testing.T) {
	rw, path := openTemp(t, Retention{})
	first := Event{ID: NewID(), Timestamp: time.Now()}
	insert(t, rw, first)

	ro, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatalf("read-only open while a writer has the file: %v", err)
	}
	defer ro.Close()
	if got := idsOf(query(t, ro, Filter{})); !slices.Equal(got, []string{first.ID}) {
		t.Fatalf("read-only sees %v, want [%s]", got, first.ID)
	}

	second := Event{ID: NewID(), Timestamp: time.Now()}
	insert(t, rw, second)
	if got := idsOf(query(t, ro, Filter{AfterID: first.ID})); !slices.Equal(got, []string{second.ID}) {
		t.Fatalf("read-only misses a later write: %v", got)
	}

	if err := ro.Insert(context.Background(), []Event{{ID: NewID()}}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Insert on read-only = %v, want ErrReadOnly", err)
	}
	if _, err := ro.Prune(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Prune on read-only = %v, want ErrReadOnly", err)
	}
	// Even bypassing Insert, the connection refuses to write.
	if _, err := ro.db.Exec("DELETE FROM events"); err == nil {
		t.Error("read-only connection accepted a DELETE")
	}

	// The gateway goes down: its last close checkpoints and removes the WAL.
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	ro2, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatalf("read-only open with the gateway down: %v", err)
	}
	defer ro2.Close()
	if got := idsOf(query(t, ro2, Filter{})); !slices.Equal(got, []string{first.ID, second.ID}) {
		t.Fatalf("read-only with gateway down sees %v", got)
	}
}

func TestSQLiteReadOnlyMissingAndEmpty(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenSQLiteReadOnly(filepath.Join(dir, "nope.db"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLiteReadOnly(empty)
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	defer s.Close()
	if got := query(t, s, Filter{}); got == nil || len(got) != 0 {
		t.Errorf("empty store Query = %#v, want []", got)
	}
	if _, err := OpenSQLiteReadOnly(""); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := OpenSQLite("", Retention{}); err == nil {
		t.Error("empty path accepted")
	}
}

func TestSQLiteNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() (*SQLite, error){
		"read-write": func() (*SQLite, error) { return OpenSQLite(path, Retention{}) },
		"read-only":  func() (*SQLite, error) { return OpenSQLiteReadOnly(path) },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := open()
			if err == nil {
				s.Close()
				t.Fatal("opened a store with a newer schema")
			}
			if !strings.Contains(err.Error(), "schema version 99 is newer") {
				t.Errorf("err = %v, want it to name the version", err)
			}
		})
	}
}

func TestSQLiteNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenSQLite(path, Retention{}); err == nil {
		s.Close()
		t.Error("OpenSQLite accepted a file that is not a database")
	}
	if s, err := OpenSQLiteReadOnly(path); err == nil {
		s.Close()
		t.Error("OpenSQLiteReadOnly accepted a file that is not a database")
	}
}

func TestSQLiteClosed(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(context.Background(), Filter{}); err == nil {
		t.Error("Query on a closed store succeeded")
	}
	if err := s.Insert(context.Background(), []Event{{ID: NewID()}}); err == nil {
		t.Error("Insert on a closed store succeeded")
	}
}

func TestSQLiteTwoWriters(t *testing.T) {
	// Two read-write handles on one file (a gateway restarted while the old
	// one drains): SQLite's lock serializes them, busy_timeout waits.
	a, path := openTemp(t, Retention{})
	b, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	errc := make(chan error, 2)
	for _, s := range []*SQLite{a, b} {
		go func() {
			for range 20 {
				batch := make([]Event, 10)
				for i := range batch {
					batch[i] = Event{ID: NewID(), Timestamp: time.Now()}
				}
				if err := s.Insert(context.Background(), batch); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := a.db.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 400 {
		t.Fatalf("stored %d events, want 400", n)
	}
}

// TestSQLitePrunePlans holds retention to index lookups: it runs every
// PruneInterval on stores of up to a million events, so a statement that
// reads the whole table (as the count cutoff once did) costs seconds of
// CPU an hour for nothing.
func TestSQLitePrunePlans(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	tests := []struct {
		name string
		sql  string
		args []any
		want []string // every one in the plan
		not  []string // none in the plan
	}{
		{"age", pruneAgeSQL, []any{1}, []string{"SEARCH events USING INDEX events_ts (ts<?)"}, []string{"SCAN"}},
		{"span", pruneSpanSQL, nil, []string{"SEARCH events"}, []string{"SCAN events", "TEMP B-TREE"}},
		// A scan, but of the smallest index rather than the table's rows.
		{"count", pruneCountSQL, nil, []string{"SCAN events USING COVERING INDEX"}, nil},
		// The subquery walks from the oldest event and stops at the offset;
		// a sort would read everything first.
		{"oldest", pruneOldestSQL, []any{1}, []string{"SEARCH events USING INTEGER PRIMARY KEY (rowid<?)"}, []string{"TEMP B-TREE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, s, tt.sql, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan of %s lacks %q:\n%s", tt.sql, w, plan)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(plan, n) {
					t.Errorf("plan of %s has %q:\n%s", tt.sql, n, plan)
				}
			}
		})
	}
}

func queryPlan(t *testing.T, s *SQLite, query string, args ...any) string {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// The failover filter finds the rare events that failed over through the
// partial index events_failover, newest first without a sort; the others
// walk the table from the newest event (nearly every event qualifies).
func TestSQLiteFailoverPlans(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	insert(t, s, Event{ID: "evt_1", Timestamp: time.Now()})
	yes, no := true, false
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"failed over", Filter{Failover: &yes, Last: 10}, "USING INDEX events_failover"},
		{"failed over, after id", Filter{Failover: &yes, AfterID: "evt_1"}, "USING INDEX events_failover"},
		{"not failed over", Filter{Failover: &no, Last: 10}, "SCAN events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args, _, err := s.querySQL(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			plan := queryPlan(t, s, q, args...)
			if !strings.Contains(plan, tt.want) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan of %s: want %q and no sort:\n%s", q, tt.want, plan)
			}
		})
	}
}

// TestSQLiteInsertReusesScratch: batches of different sizes one after
// another on one store (the JSON buffer is reused from chunk to chunk and
// batch to batch, and bound without a copy) are stored exactly as given.
func TestSQLiteInsertReusesScratch(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var all []Event
	for b, n := range []int{insertChunk + 3, 2, DefaultBatchSize, 1, insertChunk} {
		batch := make([]Event, n)
		for i := range batch {
			batch[i] = fullEvent(fmt.Sprintf("evt_%d_%04d", b, i), base.Add(time.Duration(len(all)+i)*time.Millisecond))
			// Bodies of varying length, so that a shorter event lands
			// where a longer one was in the buffer.
			batch[i].RequestBody = json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", (b*37+i*11)%300)))
		}
		insert(t, s, batch...)
		all = append(all, batch...)
	}
	if got := query(t, s, Filter{}); !reflect.DeepEqual(got, all) {
		t.Fatalf("stored %d events differ from the %d inserted", len(got), len(all))
	}
}
