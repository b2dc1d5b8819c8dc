package events

import (
	"context"
	"time"
)

// Query limits.
const (
	// MaxLast caps Filter.Last; a zero or larger Last means MaxLast.
	MaxLast = 10_000
	// MaxAfter caps how many events one AfterID query returns; a follower
	// asks again from the last id it got.
	MaxAfter = 1_000
)

// Filter selects events. Zero fields do not filter.
type Filter struct {
	// Last returns the Last most recently recorded matching events, oldest
	// first (what `tail` shows). 0 or more than MaxLast means MaxLast.
	Last int
	// Provider keeps events answered by this target id.
	Provider string
	// Failover, when set, keeps events whose failover was (or was not)
	// triggered.
	Failover *bool
	// Since keeps events whose Timestamp is at or after Since.
	Since time.Time
	// Team keeps events of this team (Event.Team, exact match).
	Team string
	// AfterID switches to paging forward: the matching events recorded after
	// the event with this id, oldest first, at most MaxAfter (or Last, if
	// smaller). Used by `--follow` polling.
	AfterID string
}

// Matches reports whether e passes f's Provider, Failover, Since and Team
// filters, for events that reach a follower without a Query (a live
// stream). Last and AfterID select among stored events and are ignored.
func (f Filter) Matches(e Event) bool {
	switch {
	case f.Provider != "" && e.Provider != f.Provider,
		f.Failover != nil && e.Failover.Triggered != *f.Failover,
		f.Team != "" && e.Team != f.Team:
		return false
	}
	return f.Since.IsZero() || !e.Timestamp.Before(f.Since)
}

// Store persists events.
type Store interface {
	// Insert persists evs in one transaction. Inserting an event whose id is
	// already stored is a no-op, so a retried batch is not duplicated.
	Insert(ctx context.Context, evs []Event) error
	// Query returns the events f selects, oldest first; never nil.
	Query(ctx context.Context, f Filter) ([]Event, error)
	// SpendByTeam returns the summed CostUSD of the events whose Timestamp
	// is at or after since, per non-empty Team; never nil. A team without
	// events in that window is absent; events without a team are not
	// counted.
	SpendByTeam(ctx context.Context, since time.Time) (map[string]float64, error)
	// ResponseTarget returns the Provider of the most recently recorded
	// event whose ResponseID is responseID and whose Status is 2xx: the
	// target holding that stored Responses API answer. ok is false when no
	// such event is stored.
	ResponseTarget(ctx context.Context, responseID string) (target string, ok bool, err error)
	// Close releases the store.
	Close() error
}

// Pruner is a Store that applies a retention policy. The Writer calls
// Prune periodically when its store implements it.
type Pruner interface {
	// Prune deletes events outside the retention policy and reports how many.
	Prune(ctx context.Context) (int64, error)
}

// Retention bounds what a store keeps. Zero fields take the defaults.
type Retention struct {
	// MaxAge deletes events whose Timestamp is older; default 30 days.
	MaxAge time.Duration
	// MaxEvents keeps only the newest MaxEvents events; default 1,000,000.
	MaxEvents int
}

// Retention defaults.
const (
	DefaultMaxAge    = 30 * 24 * time.Hour
	DefaultMaxEvents = 1_000_000
)

func (r Retention) withDefaults() Retention {
	if r.MaxAge <= 0 {
		r.MaxAge = DefaultMaxAge
	}
	if r.MaxEvents <= 0 {
		r.MaxEvents = DefaultMaxEvents
	}
	return r
}
