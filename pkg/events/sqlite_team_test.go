package events

import (
	"context"
	"database/sql"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// v1Schema is the schema as version 1 created it, copied here on purpose:
// a fixture of what users' files hold, which must not follow later edits
// of migrations().
const v1Schema = `CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	ts INTEGER NOT NULL,
	provider TEXT NOT NULL,
	failover_triggered INTEGER NOT NULL,
	status INTEGER NOT NULL,
	event TEXT NOT NULL
);
CREATE INDEX events_ts ON events(ts);
CREATE INDEX events_provider ON events(provider);
CREATE INDEX events_failover ON events(failover_triggered);
CREATE INDEX events_status ON events(status);
PRAGMA user_version = 1;`

// createV1Store writes a store as a version-1 gateway left it, holding evs
// (inserted as that version did: no team, key name or cost column).
func createV1Store(t *testing.T, path string, evs ...Event) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"PRAGMA journal_mode=WAL", v1Schema} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, e := range evs {
		b, err := appendJSON(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO events (id, ts, provider, failover_triggered, status, event) VALUES (?,?,?,?,?,?)",
			e.ID, e.Timestamp.UnixNano(), e.Provider, e.Failover.Triggered, e.Status, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// schemaOf is every table and index of the file with its SQL, whitespace
// collapsed.
func schemaOf(t *testing.T, s *SQLite) map[string]string {
	t.Helper()
	rows, err := s.db.Query("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type IN ('table', 'index')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			t.Fatal(err)
		}
		out[name] = strings.Join(strings.Fields(q), " ")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func spend(t *testing.T, s Store, since time.Time) map[string]float64 {
	t.Helper()
	m, err := s.SpendByTeam(context.Background(), since)
	if err != nil {
		t.Fatalf("SpendByTeam(%v): %v", since, err)
	}
	if m == nil {
		t.Fatalf("SpendByTeam(%v) = nil, want a map", since)
	}
	return m
}

func TestSQLiteMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	old := fullEvent("evt_01old", time.Now().Add(-time.Hour).UTC())
	old.Team, old.KeyName = "", "" // version 1 had neither
	createV1Store(t, path, old)
	wantOld := old

	// The CLI reads an old gateway's file as it is (read-only: no
	// migration); nothing there has a team.
	ro, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatalf("read-only open of a version 1 store: %v", err)
	}
	if got := query(t, ro, Filter{}); !reflect.DeepEqual(got, []Event{wantOld}) {
		t.Errorf("read-only version 1: %+v, want the old event", got)
	}
	if got := query(t, ro, Filter{Team: "platform"}); len(got) != 0 {
		t.Errorf("read-only version 1, team filter: %v, want none", idsOf(got))
	}
	if got := spend(t, ro, time.Time{}); len(got) != 0 {
		t.Errorf("read-only version 1 spend: %v, want none", got)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatalf("open a version 1 store: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != schemaVersion {
		t.Fatalf("user_version = %d (%v), want %d", version, err, schemaVersion)
	}
	if got := query(t, s, Filter{}); !reflect.DeepEqual(got, []Event{wantOld}) {
		t.Fatalf("after migration the old event reads %+v, want %+v", got, wantOld)
	}
	var team, key string
	var cost float64
	if err := s.db.QueryRow("SELECT team, key_name, cost_usd FROM events WHERE id = ?", old.ID).Scan(&team, &key, &cost); err != nil {
		t.Fatal(err)
	}
	if team != "" || key != "" || cost != 0 {
		t.Errorf("old row: team %q key_name %q cost_usd %v, want the defaults", team, key, cost)
	}

	nw := fullEvent("evt_02new", time.Now().UTC())
	insert(t, s, nw)
	if got := idsOf(query(t, s, Filter{})); !slices.Equal(got, []string{old.ID, nw.ID}) {
		t.Errorf("events = %v, want old then new", got)
	}
	got := query(t, s, Filter{Team: nw.Team})
	if len(got) != 1 || got[0].ID != nw.ID || got[0].Team != "platform" || got[0].KeyName != "ci-pipeline" {
		t.Errorf("team filter after migration = %+v, want the new event with its team and key name", got)
	}
	if got := spend(t, s, time.Time{}); !maps.Equal(got, map[string]float64{"platform": nw.CostUSD}) {
		t.Errorf("spend after migration = %v, want only the new event's", got)
	}

	// A migrated file has exactly a new file's schema.
	fresh, _ := openTemp(t, Retention{})
	if got, want := schemaOf(t, s), schemaOf(t, fresh); !maps.Equal(got, want) {
		t.Errorf("migrated schema differs from a new store's:\n got %v\nwant %v", got, want)
	}

	// Opening again migrates nothing and keeps everything.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatalf("reopen after migration: %v", err)
	}
	defer s2.Close()
	if got := idsOf(query(t, s2, Filter{Team: "platform"})); !slices.Equal(got, []string{nw.ID}) {
		t.Errorf("after reopen, team filter = %v", got)
	}
}

// Two gateways (or a gateway and a restart) opening an old file at once:
// one migrates, the other waits for it and finds nothing to do.
func TestSQLiteMigrateConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	createV1Store(t, path, Event{ID: "evt_old", Timestamp: time.Now().UTC()})
	var wg sync.WaitGroup
	stores := make([]*SQLite, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenSQLite(path, Retention{}) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("open %d: %v", i, errs[i])
			continue
		}
		defer s.Close()
		insert(t, s, Event{ID: NewID(), Timestamp: time.Now(), Team: "t"})
	}
	if t.Failed() {
		return
	}
	if got := query(t, stores[0], Filter{Team: "t"}); len(got) != len(stores) {
		t.Errorf("team events = %d, want %d", len(got), len(stores))
	}
}

func TestSQLiteSpendByTeam(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Costs are exact in binary, so sums compare exactly.
	insert(t, s,
		Event{ID: "evt_r1", Timestamp: at(0), Team: "red", CostUSD: 1},
		Event{ID: "evt_r2", Timestamp: at(time.Second), Team: "red", CostUSD: 0.5},
		Event{ID: "evt_b1", Timestamp: at(time.Second), Team: "blue"},   // spent nothing
		Event{ID: "evt_n1", Timestamp: at(2 * time.Second), CostUSD: 8}, // no team: auth off
		Event{ID: "evt_r3", Timestamp: at(2 * time.Second), Team: "red", KeyName: "other-key", CostUSD: 0.25},
		Event{ID: "evt_b2", Timestamp: at(3 * time.Second), Team: "blue", CostUSD: 0},
	)
	// Recorded last but started long before: the window is by Timestamp,
	// not record order.
	insert(t, s, Event{ID: "evt_g1", Timestamp: at(-30 * time.Minute), Team: "green", CostUSD: 2})

	tests := []struct {
		name  string
		since time.Time
		want  map[string]float64
	}{
		{"zero since is everything", time.Time{}, map[string]float64{"red": 1.75, "blue": 0, "green": 2}},
		{"events before since are left out", at(-time.Minute), map[string]float64{"red": 1.75, "blue": 0}},
		{"since is inclusive", at(time.Second), map[string]float64{"red": 0.75, "blue": 0}},
		{"since in another zone", at(time.Second).In(time.FixedZone("X", -5*3600)), map[string]float64{"red": 0.75, "blue": 0}},
		{"only a zero-spend team left", at(2500 * time.Millisecond), map[string]float64{"blue": 0}},
		{"nothing since", at(time.Hour + time.Minute), map[string]float64{}},
		{"year 1 means everything", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), map[string]float64{"red": 1.75, "blue": 0, "green": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spend(t, s, tt.since); !maps.Equal(got, tt.want) {
				t.Errorf("SpendByTeam(%v) = %v, want %v", tt.since, got, tt.want)
			}
		})
	}

	t.Run("auth off: no team, no spend", func(t *testing.T) {
		s, _ := openTemp(t, Retention{})
		insert(t, s, Event{ID: NewID(), Timestamp: time.Now(), CostUSD: 3})
		if got := spend(t, s, time.Time{}); len(got) != 0 {
			t.Errorf("SpendByTeam = %v, want none", got)
		}
	})
	t.Run("read-only handle", func(t *testing.T) {
		ro, err := OpenSQLiteReadOnly(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if got := spend(t, ro, at(time.Second)); !maps.Equal(got, map[string]float64{"red": 0.75, "blue": 0}) {
			t.Errorf("read-only SpendByTeam = %v", got)
		}
	})
	t.Run("closed store", func(t *testing.T) {
		c, _ := openTemp(t, Retention{})
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SpendByTeam(context.Background(), time.Time{}); err == nil || !strings.Contains(err.Error(), "spend by team") {
			t.Errorf("SpendByTeam on a closed store = %v, want an error", err)
		}
	})
}

// TestSQLiteTeamPlans holds team queries to the events_team index: `tail
// --team` must walk one team's events in record order and stop at the
// limit, not read and sort all of them; SpendByTeam must sum from the
// index alone, without a sort.
func TestSQLiteTeamPlans(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	insert(t, s, Event{ID: "evt_1", Timestamp: time.Now(), Team: "red"})
	ctx := context.Background()
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"team", Filter{Team: "red", Last: 10}, "SEARCH events USING INDEX events_team (team=?)"},
		{"team since", Filter{Team: "red", Since: time.Now()}, "SEARCH events USING INDEX events_team (team=?)"},
		{"team after id", Filter{Team: "red", AfterID: "evt_1"}, "SEARCH events USING INDEX events_team (team=? AND seq>?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args, _, err := s.querySQL(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			plan := queryPlan(t, s, q, args...)
			if !strings.Contains(plan, tt.want) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan of %s: want %q and no sort:\n%s", q, tt.want, plan)
			}
		})
	}
	t.Run("spend", func(t *testing.T) {
		plan := queryPlan(t, s, spendByTeamSQL, 0)
		if !strings.Contains(plan, "SCAN events USING COVERING INDEX events_team") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan of %s:\n%s", spendByTeamSQL, plan)
		}
	})
}
