package events

import (
	"bytes"
	"context"
	"database/sql"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// v3Schema is the schema as version 3 left it (version 1's, then the
// team columns, then the failover index change), copied here on purpose:
// a fixture of what users' files hold, which must not follow later edits
// of migrations().
const v3Schema = `CREATE TABLE events (
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
ALTER TABLE events ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN key_name TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
CREATE INDEX events_team ON events(team, seq, ts, cost_usd) WHERE team != '';
CREATE INDEX events_failover ON events(seq) WHERE failover_triggered = 1;
PRAGMA user_version = 3;`

// createV3Store writes a store as a version-3 gateway left it, holding evs
// as that version wrote them: no endpoint or response_id, in the columns
// or in the JSON.
func createV3Store(t *testing.T, path string, evs ...Event) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"PRAGMA journal_mode=WAL", v3Schema} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, e := range evs {
		if e.Endpoint != "" || e.ResponseID != "" {
			t.Fatalf("version 3 had no endpoint or response id: %+v", e)
		}
		b, err := appendJSON(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte(`,"endpoint":""`), nil, 1)
		if bytes.Contains(b, []byte("endpoint")) {
			t.Fatalf("fixture JSON still names the endpoint: %s", b)
		}
		if _, err := db.Exec("INSERT INTO events (id, ts, provider, failover_triggered, status, team, key_name, cost_usd, event) VALUES (?,?,?,?,?,?,?,?,?)",
			e.ID, e.Timestamp.UnixNano(), e.Provider, e.Failover.Triggered, e.Status, e.Team, e.KeyName, e.CostUSD, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func responseTarget(t *testing.T, s Store, id string) (string, bool) {
	t.Helper()
	target, ok, err := s.ResponseTarget(context.Background(), id)
	if err != nil {
		t.Fatalf("ResponseTarget(%q): %v", id, err)
	}
	return target, ok
}

func TestSQLiteMigrateFromVersion3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	old := fullEvent("evt_01old", time.Now().Add(-time.Hour).UTC())
	old.Endpoint, old.ResponseID = "", "" // version 3 had neither
	createV3Store(t, path, old)
	wantOld := old
	wantOld.Endpoint = EndpointChat // every request was a chat request then

	// The CLI reads an old gateway's file as it is (read-only: no
	// migration): its events read as chat, no response is held there.
	ro, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatalf("read-only open of a version 3 store: %v", err)
	}
	if got := query(t, ro, Filter{}); !reflect.DeepEqual(got, []Event{wantOld}) {
		t.Errorf("read-only version 3: %+v, want the old event as chat", got)
	}
	if target, ok := responseTarget(t, ro, "resp_x"); ok {
		t.Errorf("read-only version 3: ResponseTarget = %q, want none", target)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(path, Retention{})
	if err != nil {
		t.Fatalf("open a version 3 store: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != schemaVersion {
		t.Fatalf("user_version = %d (%v), want %d", version, err, schemaVersion)
	}
	if got := query(t, s, Filter{}); !reflect.DeepEqual(got, []Event{wantOld}) {
		t.Fatalf("after migration the old event reads %+v, want %+v", got, wantOld)
	}
	var endpoint, responseID string
	if err := s.db.QueryRow("SELECT endpoint, response_id FROM events WHERE id = ?", old.ID).Scan(&endpoint, &responseID); err != nil {
		t.Fatal(err)
	}
	if endpoint != EndpointChat || responseID != "" {
		t.Errorf("old row: endpoint %q response_id %q, want chat and none", endpoint, responseID)
	}

	// New events keep their endpoint and response id, in the JSON and
	// the columns, and the response is found.
	nw := fullEvent("evt_02new", time.Now().UTC())
	insert(t, s, nw)
	got := query(t, s, Filter{})
	if len(got) != 2 || !reflect.DeepEqual(got[1], nw) {
		t.Fatalf("events after migration = %+v, want the old then %+v", got, nw)
	}
	if err := s.db.QueryRow("SELECT endpoint, response_id FROM events WHERE id = ?", nw.ID).Scan(&endpoint, &responseID); err != nil {
		t.Fatal(err)
	}
	if endpoint != nw.Endpoint || responseID != nw.ResponseID {
		t.Errorf("new row: endpoint %q response_id %q, want %q %q", endpoint, responseID, nw.Endpoint, nw.ResponseID)
	}
	if target, ok := responseTarget(t, s, nw.ResponseID); !ok || target != nw.Provider {
		t.Errorf("ResponseTarget(%q) = %q, %v; want %q", nw.ResponseID, target, ok, nw.Provider)
	}

	// A migrated file has exactly a new file's schema.
	fresh, _ := openTemp(t, Retention{})
	if got, want := schemaOf(t, s), schemaOf(t, fresh); !maps.Equal(got, want) {
		t.Errorf("migrated schema differs from a new store's:\n got %v\nwant %v", got, want)
	}
}

func TestSQLiteResponseTarget(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	base := time.Now().Add(-time.Hour) // inside retention: the store is reopened below
	ev := func(n int, responseID, provider string, status int) Event {
		return Event{ID: NewID(), Timestamp: base.Add(time.Duration(n) * time.Second), Endpoint: "responses",
			ResponseID: responseID, Provider: provider, Status: status}
	}
	insert(t, s,
		ev(0, "resp_a", "openai-1", 200),
		ev(1, "resp_b", "openai-2", 500), // failed: holds nothing
		ev(2, "resp_c", "openai-1", 201),
		ev(3, "", "openai-3", 200), // a chat request, say
	)
	// Recorded later, though its clock is earlier: record order decides.
	insert(t, s, ev(-10, "resp_a", "openai-2", 200))
	// A later request naming resp_a that failed (a GET the target
	// answered 404) does not move it.
	insert(t, s, ev(5, "resp_a", "openai-3", 404))

	tests := []struct {
		name, id   string
		wantTarget string
		wantOK     bool
	}{
		{"latest 2xx wins", "resp_a", "openai-2", true},
		{"only a failure", "resp_b", "", false},
		{"any 2xx status", "resp_c", "openai-1", true},
		{"unknown id", "resp_zzz", "", false},
		{"empty id never matches events without one", "", "", false},
		{"exact match only", "resp_", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, ok := responseTarget(t, s, tt.id)
			if target != tt.wantTarget || ok != tt.wantOK {
				t.Errorf("ResponseTarget(%q) = %q, %v; want %q, %v", tt.id, target, ok, tt.wantTarget, tt.wantOK)
			}
		})
	}

	t.Run("survives a restart", func(t *testing.T) {
		path := s.Path()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, open := range []func(string) (*SQLite, error){
			func(p string) (*SQLite, error) { return OpenSQLite(p, Retention{}) },
			OpenSQLiteReadOnly,
		} {
			s2, err := open(path)
			if err != nil {
				t.Fatal(err)
			}
			if target, ok := responseTarget(t, s2, "resp_a"); !ok || target != "openai-2" {
				t.Errorf("after reopen, ResponseTarget(resp_a) = %q, %v; want openai-2", target, ok)
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSQLiteResponseTargetClosed(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResponseTarget(context.Background(), "resp_a"); err == nil || !strings.Contains(err.Error(), "response target") {
		t.Errorf("ResponseTarget on a closed store = %v, want an error", err)
	}
}

// ResponseTarget reads the partial index events_response from the newest
// entry under the id: no scan of the table, no sort.
func TestSQLiteResponsePlan(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	insert(t, s, Event{ID: "evt_1", Timestamp: time.Now(), ResponseID: "resp_1", Status: 200})
	plan := queryPlan(t, s, responseTargetSQL, "resp_1")
	if !strings.Contains(plan, "USING INDEX events_response (response_id=?)") || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN") {
		t.Errorf("plan of %s: want a search of events_response and no sort:\n%s", responseTargetSQL, plan)
	}
}
