package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// ErrReadOnly is returned by writes to a store opened with
// OpenSQLiteReadOnly.
var ErrReadOnly = errors.New("events store is read-only")

// schemaVersion is the PRAGMA user_version this code writes and reads.
const schemaVersion = 4

// teamVersion is the first schema version with the team, key_name and
// cost_usd columns. A read-only handle on an older file (the CLI reading
// a store an older gateway wrote) cannot migrate it; none of its events
// has a team, so team filters and sums find nothing there.
const teamVersion = 2

// endpointVersion is the first schema version with the endpoint and
// response_id columns. A read-only handle on an older file holds no
// Responses API answers: ResponseTarget finds nothing there.
const endpointVersion = 4

// migrations()[v] upgrades a database from user_version v to v+1. Append,
// never edit: a released step has already run on users' files.
func migrations() []string {
	return []string{
		// 0 → 1. seq is the rowid: record order, never reused
		// (AUTOINCREMENT), so AfterID paging sees every later insert even
		// when ids were minted out of order. The indexed columns are the
		// ones filters and retention use; the event itself is JSON text
		// (json_extract works on it for ad-hoc sqlite3 queries).
		`CREATE TABLE events (
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
		CREATE INDEX events_status ON events(status);`,
		// 1 → 2. Who made the request (the team and name of the gateway
		// key that authenticated it) and what it cost, for per-team
		// filters and budgets. ADD COLUMN with a constant default only
		// rewrites the schema, not the rows, so a large store migrates at
		// once: its existing rows read team '', key_name '' and cost_usd 0
		// (their events have no team, so no per-team sum reads them).
		//
		// events_team serves both team queries. Its key starts with team
		// then seq, so a team filter walks one team's events in record
		// order and `--last 10` stops after 10 rows (with ts second it
		// would read and sort every event of the team first); ts and
		// cost_usd make it covering for SpendByTeam, which sums from the
		// index without reading rows or parsing JSON. It is partial, so a
		// gateway without client auth pays nothing for it on writes;
		// queries spell out team != '' for SQLite to use it.
		// TestSQLiteTeamPlans holds the plans.
		`ALTER TABLE events ADD COLUMN team TEXT NOT NULL DEFAULT '';
		ALTER TABLE events ADD COLUMN key_name TEXT NOT NULL DEFAULT '';
		ALTER TABLE events ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
		CREATE INDEX events_team ON events(team, seq, ts, cost_usd) WHERE team != '';`,
		// 2 → 3. Fewer index writes per event (issue 8: each index is a
		// B-tree insert and WAL pages per event). No query filters on
		// status: events_status goes. A failover filter looks for the
		// rare events that failed over; the rest are found by walking the
		// table newest first. events_failover becomes partial, so an
		// event that did not fail over (nearly all) writes no entry;
		// queries spell the value out (failover_triggered = 1) for SQLite
		// to use it. Measured with BenchmarkInsertBatch: see the issue's
		// note. TestSQLiteFailoverPlan holds the plans.
		`DROP INDEX events_status;
		DROP INDEX events_failover;
		CREATE INDEX events_failover ON events(seq) WHERE failover_triggered = 1;`,
		// 3 → 4. The API a request was made to (issue 19: the front
		// door serves more than chat) and the id of a Responses API
		// answer. Existing rows were all chat requests, so endpoint's
		// default says so; as in 1 → 2, a constant default rewrites only
		// the schema. events_response finds the target holding a stored
		// response (ResponseTarget) for a stateful follow-up; partial, so
		// the events of every other API write no entry, and seq second so
		// that the latest answer under an id is the first entry read.
		// TestSQLiteResponsePlan holds the plan.
		`ALTER TABLE events ADD COLUMN endpoint TEXT NOT NULL DEFAULT 'chat';
		ALTER TABLE events ADD COLUMN response_id TEXT NOT NULL DEFAULT '';
		CREATE INDEX events_response ON events(response_id, seq) WHERE response_id != '';`,
	}
}

const (
	// pageSize is the page size of a new store; see OpenSQLite.
	pageSize      = 16384
	busyTimeoutMS = 5000
	// maxConns lets the gateway's query endpoint read while the writer
	// writes; WAL gives readers a snapshot without blocking the writer.
	maxConns = 4
)

// SQLite is a Store in one SQLite database file. It is safe for concurrent
// use. Several handles (in one or several processes) may share a file:
// writers serialize on SQLite's lock, readers never block them.
type SQLite struct {
	db       *sql.DB
	path     string
	readOnly bool
	// empty marks a read-only handle on a file no gateway has initialised
	// yet: it holds no events rather than being an error.
	empty bool
	// version is the file's schema version: schemaVersion once OpenSQLite
	// migrated it, possibly older on a read-only handle.
	version   int
	retention Retention
	// insert[i] inserts 1<<i events (up to insertChunk); prepared once by
	// OpenSQLite, so a batch is not parsed and compiled again.
	insert [insertStmts]*sql.Stmt
	// scratch holds *insertScratch: a batch's JSON buffer and arguments,
	// reused from batch to batch instead of grown anew each time.
	scratch sync.Pool
}

// insertScratch is what one Insert works in.
type insertScratch struct {
	buf  []byte // a chunk's events' JSON, back to back
	args []any
}

// maxScratch is the largest JSON buffer kept for the next batch: events
// with bodies can make one chunk's JSON large, and one such batch should
// not pin that much memory for good.
const maxScratch = 1 << 20

var (
	_ Store  = (*SQLite)(nil)
	_ Pruner = (*SQLite)(nil)
)

// OpenSQLite opens (creating if needed) the store at path for reading and
// writing, and applies retention once. The parent directory is created 0700
// and the file 0600: events may hold request bodies. The database runs in
// WAL mode with synchronous=NORMAL (a committed batch survives a process
// crash) and waits up to 5 s on another process's lock. A new file gets
// 16 KiB pages; an existing one keeps its own.
func OpenSQLite(path string, r Retention) (*SQLite, error) {
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("events store: create directory: %w", err)
	}
	// Create the file ourselves: SQLite would use 0644, and its -wal and
	// -shm files copy the database file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("events store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("events store: %w", err)
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	// Write transactions take the lock up front, so they wait on
	// busy_timeout instead of failing with SQLITE_BUSY when a read
	// transaction would have to be upgraded.
	q.Set("_txlock", "immediate")
	// For a new file only (an existing one keeps its page size): 16 KiB
	// pages take a quarter of the WAL and checkpoint writes of 4 KiB ones
	// for the same events, each write a system call. Measured on the
	// writer's pattern, appending batches of ~1 KiB rows, 16 KiB cost 20-30%
	// less CPU per event than 4 KiB, and less than 8, 32 or 64 KiB. It is
	// not a schema change: every SQLite reads any page size.
	q.Add("_pragma", fmt.Sprintf("page_size(%d)", pageSize))
	s, err := open(abs, q)
	if err != nil {
		return nil, err
	}
	s.retention = r.withDefaults()
	ctx := context.Background()
	if err := s.migrate(ctx); err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	s.version = schemaVersion
	for i := range s.insert {
		if s.insert[i], err = s.db.PrepareContext(ctx, insertSQL(1<<i)); err != nil {
			return nil, errors.Join(fmt.Errorf("events store: prepare insert: %w", err), s.Close())
		}
	}
	if _, err := s.Prune(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// OpenSQLiteReadOnly opens an existing store for queries only, for the CLI
// when the gateway is down (or running: WAL lets it read while the gateway
// writes). A missing file is an error wrapping fs.ErrNotExist.
func OpenSQLiteReadOnly(path string) (*SQLite, error) {
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("events store: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	q.Set("_query_only", "1")
	s, err := open(abs, q)
	if err != nil {
		return nil, err
	}
	s.readOnly = true
	v, err := s.userVersion(context.Background())
	if err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	s.version = v
	switch {
	case v > schemaVersion:
		return nil, errors.Join(newerSchema(v), s.db.Close())
	case v == 0:
		s.empty = true
	}
	return s, nil
}

func absPath(path string) (string, error) {
	if path == "" {
		return "", errors.New("events store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("events store: %w", err)
	}
	return abs, nil
}

func open(abs string, q url.Values) (*SQLite, error) {
	// A file: URI so that mode=ro reaches SQLite and odd characters in the
	// path are escaped.
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("events store: open %s: %w", abs, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.Ping(); err != nil {
		return nil, errors.Join(fmt.Errorf("events store: open %s: %w", abs, err), db.Close())
	}
	return &SQLite{db: db, path: abs}, nil
}

func newerSchema(v int) error {
	return fmt.Errorf("events store: schema version %d is newer than this kt supports (%d); upgrade kt", v, schemaVersion)
}

func (s *SQLite) userVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("events store: read schema version: %w", err)
	}
	return v, nil
}

// migrate brings the schema to schemaVersion in one transaction, so two
// processes opening a new file at once cannot both create it.
func (s *SQLite) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("events store: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("events store: read schema version: %w", err)
	}
	steps := migrations()
	if v > len(steps) {
		return newerSchema(v)
	}
	for ; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("events store: migrate to version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no bound parameters; v is an int we control.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		return fmt.Errorf("events store: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("events store: migrate: %w", err)
	}
	return nil
}

// Path is the absolute path of the database file.
func (s *SQLite) Path() string { return s.path }

// Close closes the database. The last handle to close checkpoints the WAL
// into the main file.
func (s *SQLite) Close() error {
	var errs []error
	for _, st := range s.insert {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("events store: close: %w", err)
	}
	return nil
}

// insertChunk is the most events one INSERT statement carries. A
// multi-row INSERT costs one driver call per chunk instead of one per
// event: per-event Exec paid database/sql's and the driver's per-call
// overhead (with a cancellable context, a goroutine per call) 256 times a
// batch. 64 rows (384 parameters) is well inside SQLite's limit and
// measured as fast as larger chunks. A batch is cut into chunks of 64 and
// a tail of powers of two, so seven prepared statements serve every size.
const insertChunk = 1 << (insertStmts - 1)

// insertStmts is the number of prepared INSERT statements: 1, 2, 4 … 64 rows.
const insertStmts = 7

// insertColumns is the number of bound parameters per event.
const insertColumns = 11

// insertSQL is an INSERT of rows events. A retried batch's events are
// already stored: the UNIQUE id makes the insert skip them, also when an
// id repeats within one statement.
//
// OR IGNORE rather than ON CONFLICT (id) DO NOTHING: id is the only
// constraint an insert can meet (every column is bound to a non-NULL
// value, seq is generated), and with any constraint left to abort, SQLite
// gives a multi-row statement a statement journal, copying every page it
// touches first, spilled to a temporary file past 64 KiB: 17% of the
// insert's CPU, measured.
func insertSQL(rows int) string {
	var sb strings.Builder
	sb.WriteString("INSERT OR IGNORE INTO events (id, ts, provider, failover_triggered, status, team, key_name, cost_usd, endpoint, response_id, event) VALUES ")
	for i := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
	}
	return sb.String()
}

// Insert stores evs in one transaction. An event without an ID gets one,
// a zero Timestamp becomes now and an empty Endpoint EndpointChat;
// timestamps are stored in UTC. evs is not modified.
func (s *SQLite) Insert(ctx context.Context, evs []Event) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if len(evs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("events store: insert: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	sc, _ := s.scratch.Get().(*insertScratch)
	if sc == nil {
		sc = &insertScratch{args: make([]any, 0, insertColumns*insertChunk)}
	}
	defer func() {
		clear(sc.args[:cap(sc.args)]) // keep no event's strings alive
		if cap(sc.buf) <= maxScratch {
			s.scratch.Put(sc)
		}
	}()
	var (
		buf  = sc.buf[:0]
		ends [insertChunk]int
		args = sc.args[:0]
	)
	for start := 0; start < len(evs); {
		// The largest prepared size that fits: 64, then the tail's
		// powers of two.
		size := bits.Len(uint(min(len(evs)-start, insertChunk))) - 1
		chunk := evs[start : start+1<<size]
		start += len(chunk)
		buf = buf[:0]
		for i := range chunk {
			e := chunk[i] // a copy: evs is not modified
			if e.ID == "" {
				e.ID = NewID()
			}
			if e.Timestamp.IsZero() {
				e.Timestamp = time.Now()
			}
			e.Timestamp = e.Timestamp.UTC()
			if e.Endpoint == "" {
				e.Endpoint = EndpointChat
			}
			if buf, err = appendJSON(buf, &e); err != nil {
				return fmt.Errorf("events store: insert %s: %w", e.ID, err)
			}
			ends[i] = len(buf)
			// The event last: its JSON is filled in below.
			args = append(args, e.ID, unixNano(e.Timestamp), e.Provider, e.Failover.Triggered, e.Status,
				e.Team, e.KeyName, e.CostUSD, e.Endpoint, e.ResponseID, nil)
		}
		// The chunk's JSON as one string over buf, sliced per event, with
		// no copy: the driver copies bound text into SQLite's own memory
		// while the statement runs (modernc's bindText, libc.CString), and
		// args is cleared before buf is written again, so no string over
		// it outlives this chunk.
		all, from := unsafe.String(unsafe.SliceData(buf), len(buf)), 0
		for i := range chunk {
			args[i*insertColumns+insertColumns-1] = all[from:ends[i]]
			from = ends[i]
		}
		// Bound to the transaction's connection; prepared there already
		// unless this is the connection's first batch.
		stmt := tx.StmtContext(ctx, s.insert[size])
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("events store: insert %d events from %s: %w", len(chunk), args[0], err)
		}
		clear(args) // drop the chunk's strings before the next one
		args = args[:0]
	}
	sc.buf, sc.args = buf, args
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("events store: insert: %w", err)
	}
	return nil
}

// Query returns the events f selects, oldest first. See Filter.
func (s *SQLite) Query(ctx context.Context, f Filter) ([]Event, error) {
	out := []Event{}
	if s.empty || (f.Team != "" && s.version < teamVersion) {
		return out, nil // no event there has a team
	}
	q, args, desc, err := s.querySQL(ctx, f)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("events store: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw sql.RawBytes
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("events store: query: %w", err)
		}
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("events store: decode event: %w", err)
		}
		if e.Endpoint == "" {
			e.Endpoint = EndpointChat // recorded before endpoints existed
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events store: query: %w", err)
	}
	if desc {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// querySQL is Query's statement for f and its arguments; desc reports
// newest-first order (to be reversed). An AfterID cursor is looked up here.
func (s *SQLite) querySQL(ctx context.Context, f Filter) (q string, args []any, desc bool, err error) {
	var where []string
	if f.Provider != "" {
		where = append(where, "provider = ?")
		args = append(args, f.Provider)
	}
	if f.Failover != nil {
		// A literal, not a parameter: SQLite uses the partial index
		// events_failover only for a term it can see implies it.
		if *f.Failover {
			where = append(where, "failover_triggered = 1")
		} else {
			where = append(where, "failover_triggered = 0")
		}
	}
	if f.Team != "" {
		// team != '' is implied; spelt out, it lets SQLite use the
		// partial index events_team.
		where = append(where, "team = ?", "team != ''")
		args = append(args, f.Team)
	}
	if !f.Since.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, unixNano(f.Since))
	}
	limit := f.Last
	if limit <= 0 || limit > MaxLast {
		limit = MaxLast
	}
	order := "DESC"
	if f.AfterID != "" {
		order = "ASC"
		limit = min(limit, MaxAfter)
		var seq int64
		err := s.db.QueryRowContext(ctx, "SELECT seq FROM events WHERE id = ?", f.AfterID).Scan(&seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// The cursor was pruned or never stored: ids still sort by
			// creation time, so they are the next best cursor.
			where = append(where, "id > ?")
			args = append(args, f.AfterID)
		case err != nil:
			return "", nil, false, fmt.Errorf("events store: query: %w", err)
		default:
			where = append(where, "seq > ?")
			args = append(args, seq)
		}
	}
	var sb strings.Builder
	sb.WriteString("SELECT event FROM events")
	if len(where) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(where, " AND "))
	}
	sb.WriteString(" ORDER BY seq " + order + " LIMIT ?")
	args = append(args, limit)
	return sb.String(), args, order == "DESC", nil
}

// spendByTeamSQL sums cost per team over a time window from the covering
// partial index events_team alone, in index order (no sort). It reads
// every entry of that index, the window's and older ones (ts is not a
// prefix of the key): about half a second per million events with a team,
// measured warm. TestSQLiteTeamPlans holds the plan.
const spendByTeamSQL = "SELECT team, total(cost_usd) FROM events WHERE team != '' AND ts >= ? GROUP BY team"

// SpendByTeam returns the summed CostUSD of the events whose Timestamp is
// at or after since, per non-empty Team. A team with events but no cost
// maps to 0; a team without events since then is absent (read it as 0).
// Events without a team (client auth off) are not counted.
func (s *SQLite) SpendByTeam(ctx context.Context, since time.Time) (map[string]float64, error) {
	out := map[string]float64{}
	if s.empty || s.version < teamVersion {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, spendByTeamSQL, unixNano(since))
	if err != nil {
		return nil, fmt.Errorf("events store: spend by team: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var team string
		var usd float64
		if err := rows.Scan(&team, &usd); err != nil {
			return nil, fmt.Errorf("events store: spend by team: %w", err)
		}
		out[team] = usd
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events store: spend by team: %w", err)
	}
	return out, nil
}

// responseTargetSQL walks events_response from the newest entry under the
// id and reads rows only to check their status: a failed request that
// named the id (a GET of it that the target answered 404, say) does not
// hide the answer that stored it. TestSQLiteResponsePlan holds the plan.
const responseTargetSQL = "SELECT provider FROM events WHERE response_id = ? AND response_id != '' AND status BETWEEN 200 AND 299 ORDER BY seq DESC LIMIT 1"

// ResponseTarget returns the target (Event.Provider) of the latest
// recorded event with ResponseID responseID and a 2xx Status: the target
// that holds that stored response. ok is false when there is none (never
// answered, pruned, or a file older than the response_id column).
func (s *SQLite) ResponseTarget(ctx context.Context, responseID string) (target string, ok bool, err error) {
	if responseID == "" || s.empty || s.version < endpointVersion {
		return "", false, nil
	}
	err = s.db.QueryRowContext(ctx, responseTargetSQL, responseID).Scan(&target)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("events store: response target: %w", err)
	}
	return target, true, nil
}

// Retention statements. Each touches only the rows it deletes plus an index
// lookup: Prune runs every PruneInterval on a store that may hold a million
// events, and an earlier version that found the count cutoff with ORDER BY
// seq DESC OFFSET MaxEvents read every row of the table each time, even
// when there was nothing to delete. TestSQLitePrunePlans holds the plans.
const (
	// pruneAgeSQL uses events_ts.
	pruneAgeSQL = "DELETE FROM events WHERE ts < ?"
	// pruneSpanSQL reads the first and last seq, one b-tree descent each.
	// The number of events is at most last-first+1, so when that is within
	// MaxEvents, which is the usual case, there is nothing to count.
	pruneSpanSQL = "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)"
	// pruneCountSQL counts the smallest index, not the table: 1M events
	// take a few milliseconds. Only run when seq has more values than
	// MaxEvents, which gaps left by age pruning (or many events) make so.
	pruneCountSQL = "SELECT count(*) FROM events"
	// pruneOldestSQL deletes the oldest recorded events; the subquery
	// walks only the rows being deleted, from the old end.
	pruneOldestSQL = "DELETE FROM events WHERE seq < (SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?)"
)

// Prune deletes events older than the retention's MaxAge and, beyond that,
// all but the newest MaxEvents. OpenSQLite runs it once; the Writer runs it
// periodically.
func (s *SQLite) Prune(ctx context.Context) (int64, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("events store: prune: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	cutoff := unixNano(time.Now().Add(-s.retention.MaxAge))
	byAge, err := tx.ExecContext(ctx, pruneAgeSQL, cutoff)
	if err != nil {
		return 0, fmt.Errorf("events store: prune by age: %w", err)
	}
	deleted, _ := byAge.RowsAffected() // SQLite always reports it
	n, err := pruneCount(ctx, tx, s.retention.MaxEvents)
	if err != nil {
		return 0, fmt.Errorf("events store: prune by count: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("events store: prune: %w", err)
	}
	return deleted + n, nil
}

// pruneCount deletes all but the newest maxEvents recorded events.
func pruneCount(ctx context.Context, tx *sql.Tx, maxEvents int) (int64, error) {
	var first, last sql.NullInt64
	if err := tx.QueryRowContext(ctx, pruneSpanSQL).Scan(&first, &last); err != nil {
		return 0, err
	}
	if !last.Valid || last.Int64-first.Int64+1 <= int64(maxEvents) {
		return 0, nil
	}
	var count int64
	if err := tx.QueryRowContext(ctx, pruneCountSQL).Scan(&count); err != nil {
		return 0, err
	}
	if count <= int64(maxEvents) {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, pruneOldestSQL, count-int64(maxEvents))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// unixNano is t.UnixNano clamped to what an int64 holds (years 1678–2262),
// where UnixNano itself is undefined: a since=0001-01-01 filter must mean
// "everything", not wrap around.
func unixNano(t time.Time) int64 {
	minT, maxT := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	switch {
	case t.Before(minT):
		return math.MinInt64
	case t.After(maxT):
		return math.MaxInt64
	}
	return t.UnixNano()
}
