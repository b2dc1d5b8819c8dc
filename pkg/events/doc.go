// Package events records one event per client request and keeps them across
// gateway restarts.
//
// The pieces:
//
//   - Event is the record; its JSON field names are a public contract
//     (`kt events tail --format json | jq`).
//   - Store persists and queries events and sums their cost per team
//     (SpendByTeam, for per-team budgets); SQLite is the embedded
//     implementation (pure Go, modernc.org/sqlite), opened read-write by the
//     gateway (OpenSQLite) and read-only by the CLI when the gateway is down
//     (OpenSQLiteReadOnly).
//   - Event.Team and Event.KeyName say which team and which gateway key
//     (by its configured name) made the request, when client auth is on.
//   - Writer takes events off the request path: Enqueue is a non-blocking
//     channel send, a single goroutine batches them into Store.Insert and
//     then fans persisted events out to subscribers (`--follow`).
//   - ParseFilter and Filter.Values are the event endpoint's query
//     parameters, shared by the gateway and the CLI; Filter.Matches applies
//     a filter to a live event.
//   - RenderJSON and RenderTable print events for the CLI.
//
// # Durability
//
// A clean Writer.Close drains the queue and flushes every event before it
// returns. On a crash (SIGKILL, power loss) the events not yet committed are
// lost. While the store keeps up, that is at most one batch: a batch is
// written when it holds BatchSize events or FlushInterval after its first
// event arrived, whichever comes first, so at most BatchSize events or
// FlushInterval's worth of events, whichever is smaller, wait in memory,
// plus those arriving during the milliseconds a commit takes. If
// the store falls behind (slow disk, failing inserts being retried), the
// events queued behind it (up to QueueSize) are in memory too. Committed
// events use SQLite's WAL with synchronous=NORMAL: they survive a process
// crash; a power loss may roll back the last few commits.
//
// # Ordering
//
// Events are ordered by when they were recorded, which is the order the
// Writer persisted them: Last returns the newest recorded events and AfterID
// pages forward from a cursor without gaps, even if a long stream that
// started earlier finishes later. Mint the ID with NewID when the request
// completes (or leave it empty and let Enqueue mint it) so ID order matches
// record order as closely as possible.
package events
