package events

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// ErrReadOnly is returned by writes to a store opened with
// OpenSQLiteReadOnly.
var ErrReadOnly = errors.New("events store is read-only")

// schemaVersion is the PRAGMA user_version this code writes and reads.
const schemaVersion = 1

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
	}
}

const (
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
	empty     bool
	retention Retention
}

var (
	_ Store  = (*SQLite)(nil)
	_ Pruner = (*SQLite)(nil)
)

// OpenSQLite opens (creating if needed) the store at path for reading and
// writing, and applies retention once. The parent directory is created 0700
// and the file 0600: events may hold request bodies. The database runs in
// WAL mode with synchronous=NORMAL (a committed batch survives a process
// crash) and waits up to 5 s on another process's lock.
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
	s, err := open(abs, q)
	if err != nil {
		return nil, err
	}
	s.retention = r.withDefaults()
	ctx := context.Background()
	if err := s.migrate(ctx); err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	if _, err := s.Prune(ctx); err != nil {
		return nil, errors.Join(err, s.db.Close())
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
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("events store: close: %w", err)
	}
	return nil
}

const insertSQL = `INSERT INTO events (id, ts, provider, failover_triggered, status, event)
	VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`

// Insert stores evs in one transaction. An event without an ID gets one
// and a zero Timestamp becomes now; timestamps are stored in UTC. evs is not
// modified.
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
	stmt, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return fmt.Errorf("events store: insert: %w", err)
	}
	defer stmt.Close()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range evs {
		e := evs[i]
		if e.ID == "" {
			e.ID = NewID()
		}
		if e.Timestamp.IsZero() {
			e.Timestamp = time.Now()
		}
		e.Timestamp = e.Timestamp.UTC()
		buf.Reset()
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("events store: insert %s: %w", e.ID, err)
		}
		data := strings.TrimSuffix(buf.String(), "\n")
		if _, err := stmt.ExecContext(ctx, e.ID, unixNano(e.Timestamp), e.Provider,
			e.Failover.Triggered, e.Status, data); err != nil {
			return fmt.Errorf("events store: insert %s: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("events store: insert: %w", err)
	}
	return nil
}

// Query returns the events f selects, oldest first. See Filter.
func (s *SQLite) Query(ctx context.Context, f Filter) ([]Event, error) {
	out := []Event{}
	if s.empty {
		return out, nil
	}
	var where []string
	var args []any
	if f.Provider != "" {
		where = append(where, "provider = ?")
		args = append(args, f.Provider)
	}
	if f.Failover != nil {
		where = append(where, "failover_triggered = ?")
		args = append(args, *f.Failover)
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
			return nil, fmt.Errorf("events store: query: %w", err)
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

	rows, err := s.db.QueryContext(ctx, sb.String(), args...)
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
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events store: query: %w", err)
	}
	if order == "DESC" {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

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
	byAge, err := tx.ExecContext(ctx, "DELETE FROM events WHERE ts < ?", cutoff)
	if err != nil {
		return 0, fmt.Errorf("events store: prune by age: %w", err)
	}
	byCount, err := tx.ExecContext(ctx,
		"DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?)",
		s.retention.MaxEvents)
	if err != nil {
		return 0, fmt.Errorf("events store: prune by count: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("events store: prune: %w", err)
	}
	a, _ := byAge.RowsAffected() // SQLite always reports it
	c, _ := byCount.RowsAffected()
	return a + c, nil
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
