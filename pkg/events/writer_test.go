package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The store is a recorder, not SQLite: under -race the transpiled SQLite
// is slow enough to dominate, and what is under test is the writer's
// concurrency. TestWriterSQLite covers the writer on the real store.
func TestWriterConcurrentEnqueue(t *testing.T) {
	var rec recorder
	w := NewWriter(&fakeStore{InsertFn: rec.insert(nil)}, WriterOptions{})
	const goroutines, perG = 50, 200
	var wg sync.WaitGroup
	var refused atomic.Int64
	idsByG := make([][]string, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				e := Event{ID: NewID(), Timestamp: time.Now(), Provider: fmt.Sprintf("p%d", g), Status: 200 + i%2}
				idsByG[g] = append(idsByG[g], e.ID)
				if !w.Enqueue(e) {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	closeWriter(t, w)
	if refused.Load() != 0 {
		t.Fatalf("%d Enqueue calls refused with a queue of %d", refused.Load(), DefaultQueueSize)
	}

	got := rec.events()
	if len(got) != goroutines*perG {
		t.Fatalf("persisted %d events, want %d", len(got), goroutines*perG)
	}
	var want []string
	for _, ids := range idsByG {
		want = append(want, ids...)
	}
	slices.Sort(want)
	gotIDs := idsOf(got)
	slices.Sort(gotIDs)
	if !slices.Equal(gotIDs, want) {
		t.Fatal("persisted ids differ from enqueued ids")
	}
	// Each goroutine's events keep their order in the store.
	pos := make(map[string]int, len(got))
	for i, e := range got {
		pos[e.ID] = i
	}
	for g, ids := range idsByG {
		for i := 1; i < len(ids); i++ {
			if pos[ids[i-1]] > pos[ids[i]] {
				t.Fatalf("goroutine %d: event %d recorded before event %d", g, i, i-1)
			}
		}
	}
	st := w.Stats()
	if st.Enqueued != goroutines*perG || st.Written != goroutines*perG || st.Dropped != 0 || st.Failed != 0 || st.Queued != 0 {
		t.Errorf("stats = %+v", st)
	}
	if st.Flushes < goroutines*perG/DefaultBatchSize {
		t.Errorf("%d flushes for %d events: batches larger than BatchSize?", st.Flushes, goroutines*perG)
	}
}

func TestWriterSQLite(t *testing.T) {
	s, path := openTemp(t, Retention{})
	w := NewWriter(s, WriterOptions{BatchSize: 16})
	var want []string
	for i := range 100 {
		e := fullEvent(NewID(), time.Now().UTC())
		e.Status = 200 + i
		want = append(want, e.ID)
		if !w.Enqueue(e) {
			t.Fatal("Enqueue refused")
		}
	}
	closeWriter(t, w)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a clean shutdown wrote is there after a restart.
	s2, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := idsOf(query(t, s2, Filter{})); !slices.Equal(got, want) {
		t.Fatalf("after restart: %d events, want the %d enqueued in order", len(got), len(want))
	}
}

func TestWriterEnqueueFillsIDAndTimestamp(t *testing.T) {
	var rec recorder
	w := NewWriter(&fakeStore{InsertFn: rec.insert(nil)}, WriterOptions{})
	before := time.Now()
	w.Enqueue(Event{Provider: "p"})
	w.Enqueue(Event{ID: "evt_given", Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	closeWriter(t, w)
	got := rec.events()
	if len(got) != 2 {
		t.Fatalf("got %d events", len(got))
	}
	if !strings.HasPrefix(got[0].ID, IDPrefix) || got[0].Timestamp.Before(before) {
		t.Errorf("empty id/timestamp not filled: %+v", got[0])
	}
	if got[1].ID != "evt_given" || got[1].Timestamp.Year() != 2025 {
		t.Errorf("given id/timestamp changed: %+v", got[1])
	}
}

func TestWriterBatchSize(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	release := make(chan struct{})
	store := &fakeStore{InsertFn: func(ctx context.Context, evs []Event) error {
		<-release
		mu.Lock()
		sizes = append(sizes, len(evs))
		mu.Unlock()
		return nil
	}}
	w := NewWriter(store, WriterOptions{BatchSize: 4, FlushInterval: time.Hour})
	for range 10 {
		w.Enqueue(Event{})
	}
	close(release)
	closeWriter(t, w)
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("batch sizes = %v, want [4 4 2]", sizes)
	}
}

func TestWriterFlushInterval(t *testing.T) {
	var rec recorder
	w := NewWriter(&fakeStore{InsertFn: rec.insert(nil)}, WriterOptions{BatchSize: 1000, FlushInterval: time.Millisecond})
	defer closeWriter(t, w)
	w.Enqueue(Event{})
	// A partial batch is written by the timer, without Close.
	waitFor(t, "the timer flush", func() bool { return len(rec.events()) == 1 })
	w.Enqueue(Event{})
	waitFor(t, "a second timer flush", func() bool { return len(rec.events()) == 2 })
}

func TestWriterQueueFull(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var rec recorder
	record := rec.insert(nil)
	store := &fakeStore{InsertFn: func(ctx context.Context, evs []Event) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return record(ctx, evs)
	}}
	w := NewWriter(store, WriterOptions{BatchSize: 1, QueueSize: 4})
	if !w.Enqueue(Event{ID: "evt_0"}) {
		t.Fatal("first Enqueue refused")
	}
	<-entered // the writer holds evt_0 in a blocked Insert; the queue is empty
	for i := 1; i <= 4; i++ {
		if !w.Enqueue(Event{ID: fmt.Sprintf("evt_%d", i)}) {
			t.Fatalf("Enqueue %d refused with room in the queue", i)
		}
	}
	if w.Enqueue(Event{ID: "evt_5"}) {
		t.Fatal("Enqueue accepted an event into a full queue")
	}
	if st := w.Stats(); st.Dropped != 1 || st.Enqueued != 5 || st.Queued != 4 {
		t.Errorf("stats with full queue = %+v", st)
	}
	close(release)
	closeWriter(t, w)
	if got := rec.ids(); !slices.Equal(got, []string{"evt_0", "evt_1", "evt_2", "evt_3", "evt_4"}) {
		t.Errorf("persisted %v", got)
	}
	if w.Enqueue(Event{}) {
		t.Error("Enqueue accepted an event after Close")
	}
	if st := w.Stats(); st.Dropped != 2 || st.Written != 5 {
		t.Errorf("final stats = %+v", st)
	}
}

func TestWriterCloseFlushes(t *testing.T) {
	var rec recorder
	// Neither the size nor the timer would flush: only Close can.
	w := NewWriter(&fakeStore{InsertFn: rec.insert(nil)}, WriterOptions{BatchSize: 1000, FlushInterval: time.Hour})
	for range 10 {
		w.Enqueue(Event{})
	}
	closeWriter(t, w)
	if n := len(rec.events()); n != 10 {
		t.Fatalf("Close persisted %d of 10 events", n)
	}
	// Close is idempotent.
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriterCloseDeadline(t *testing.T) {
	entered := make(chan struct{}, 1)
	store := &fakeStore{InsertFn: func(ctx context.Context, evs []Event) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done() // a store that hangs until cancelled
		return ctx.Err()
	}}
	w := NewWriter(store, WriterOptions{BatchSize: 1})
	for range 3 {
		w.Enqueue(Event{})
	}
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "3 events not persisted") {
		t.Fatalf("Close = %v, want a count of 3 lost events wrapping context.Canceled", err)
	}
	if st := w.Stats(); st.Failed != 3 || st.Written != 0 {
		t.Errorf("stats = %+v", st)
	}
	// goleak (TestMain) checks the writer goroutine is gone.
}

func TestWriterInsertFailures(t *testing.T) {
	errBoom := errors.New("disk I/O error")
	tests := []struct {
		name        string
		fail        func(call int) error
		wantWritten []string
		wantFailed  uint64
		wantErrs    uint64
		wantLog     string
	}{
		{
			name:        "transient failure is retried",
			fail:        func(call int) error { return cond(call <= 2, errBoom) },
			wantWritten: []string{"evt_a", "evt_b"},
			wantErrs:    2,
			wantLog:     "events insert failed; retrying",
		},
		{
			name:        "persistent failure drops the batch and the writer goes on",
			fail:        func(call int) error { return cond(call <= 3, errBoom) },
			wantWritten: []string{"evt_b"},
			wantFailed:  1,
			wantErrs:    3,
			wantLog:     "events dropped after failed inserts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			var logs syncBuffer
			w := NewWriter(&fakeStore{InsertFn: rec.insert(tt.fail)}, WriterOptions{
				BatchSize: 1, MaxAttempts: 3, RetryBackoff: time.Microsecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			w.Enqueue(Event{ID: "evt_a"})
			waitFor(t, "the first batch to settle", func() bool {
				st := w.Stats()
				return st.Written+st.Failed == 1
			})
			w.Enqueue(Event{ID: "evt_b"})
			closeWriter(t, w)
			if got := rec.ids(); !slices.Equal(got, tt.wantWritten) {
				t.Errorf("written %v, want %v", got, tt.wantWritten)
			}
			st := w.Stats()
			if st.Failed != tt.wantFailed || st.InsertErrors != tt.wantErrs || !errors.Is(st.LastError, errBoom) || st.LastErrorAt.IsZero() {
				t.Errorf("stats = %+v", st)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}

func TestWriterCloseReportsFailedDrain(t *testing.T) {
	errBoom := errors.New("database is locked")
	w := NewWriter(&fakeStore{InsertFn: func(context.Context, []Event) error { return errBoom }},
		WriterOptions{BatchSize: 10, FlushInterval: time.Hour, RetryBackoff: time.Microsecond})
	w.Enqueue(Event{})
	w.Enqueue(Event{})
	err := w.Close(context.Background())
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "2 events not persisted") {
		t.Fatalf("Close = %v, want 2 lost events wrapping the insert error", err)
	}
}

func TestWriterPrunes(t *testing.T) {
	var prunes atomic.Int64
	store := &fakeStore{PruneFn: func(context.Context) (int64, error) {
		prunes.Add(1)
		return 1, nil
	}}
	w := NewWriter(store, WriterOptions{BatchSize: 1, PruneInterval: time.Nanosecond})
	w.Enqueue(Event{})
	waitFor(t, "retention to run after a flush", func() bool { return prunes.Load() > 0 })
	closeWriter(t, w)

	// A store that is not a Pruner is fine too.
	var rec recorder
	plain := struct{ Store }{&fakeStore{InsertFn: rec.insert(nil)}}
	w = NewWriter(plain, WriterOptions{BatchSize: 1, PruneInterval: time.Nanosecond})
	w.Enqueue(Event{})
	closeWriter(t, w)
	if len(rec.events()) != 1 {
		t.Error("event not written through a non-Pruner store")
	}
}

func TestWriterPruneSchedule(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		events   int
		// wantPrune: retention must run (after the last flush, with no
		// further write to trigger it); otherwise it must not have run by
		// the time every event is written.
		wantPrune bool
	}{
		// The only flush comes before the interval is up: retention still
		// runs once it is, on its own timer.
		{"runs on its own timer after the interval", 20 * time.Millisecond, 1, true},
		// Many flushes within one interval: none of them prunes.
		{"not per flush within the interval", time.Hour, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			var prunes atomic.Int64
			store := &fakeStore{
				InsertFn: rec.insert(nil),
				PruneFn: func(context.Context) (int64, error) {
					prunes.Add(1)
					return 0, nil
				},
			}
			w := NewWriter(store, WriterOptions{BatchSize: 1, PruneInterval: tt.interval})
			for range tt.events {
				w.Enqueue(Event{})
			}
			waitFor(t, "events written", func() bool { return w.Stats().Written == uint64(tt.events) })
			if tt.wantPrune {
				waitFor(t, "retention to run", func() bool { return prunes.Load() > 0 })
			} else if n := prunes.Load(); n != 0 {
				t.Errorf("retention ran %d times within its interval", n)
			}
			closeWriter(t, w)
			if got := rec.calls; got != tt.events {
				t.Errorf("%d inserts, want %d (one per event with BatchSize 1)", got, tt.events)
			}
		})
	}
}

func TestWriterPruneErrorRecorded(t *testing.T) {
	errPrune := errors.New("prune failed")
	store := &fakeStore{PruneFn: func(context.Context) (int64, error) { return 0, errPrune }}
	w := NewWriter(store, WriterOptions{BatchSize: 1, PruneInterval: time.Nanosecond})
	w.Enqueue(Event{})
	waitFor(t, "the prune error", func() bool { return errors.Is(w.Stats().LastError, errPrune) })
	closeWriter(t, w)
	if st := w.Stats(); st.Written != 1 {
		t.Errorf("a failing prune affected writes: %+v", st)
	}
}

func TestWriterSubscribe(t *testing.T) {
	s, _ := openTemp(t, Retention{})
	w := NewWriter(s, WriterOptions{BatchSize: 2})
	ch, unsubscribe := w.Subscribe(context.Background())
	var want []string
	for range 5 {
		e := Event{ID: NewID()}
		want = append(want, e.ID)
		w.Enqueue(e)
	}
	var got []string
	for range 5 {
		e := <-ch
		// Delivered only after it is persisted.
		if stored := query(t, s, Filter{}); !slices.Contains(idsOf(stored), e.ID) {
			t.Fatalf("subscriber got %s before it was stored", e.ID)
		}
		got = append(got, e.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("subscriber got %v, want %v in order", got, want)
	}
	unsubscribe()
	unsubscribe() // safe twice
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after unsubscribe")
	}
	w.Enqueue(Event{}) // nothing to deliver to: must not panic on the closed channel
	closeWriter(t, w)
}

func TestWriterSubscribeEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, w *Writer)
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ *Writer) { cancel() }},
		{"writer closed", func(_ context.CancelFunc, w *Writer) { closeWriter(t, w) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter(&fakeStore{}, WriterOptions{BatchSize: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, unsubscribe := w.Subscribe(ctx)
			defer unsubscribe()
			w.Enqueue(Event{ID: "evt_1"})
			if e := <-ch; e.ID != "evt_1" {
				t.Fatalf("got %+v", e)
			}
			tt.end(cancel, w)
			waitFor(t, "the channel to close", func() bool {
				select {
				case _, ok := <-ch:
					return !ok
				default:
					return false
				}
			})
			closeWriter(t, w)
		})
	}
}

func TestWriterSubscribeAfterClose(t *testing.T) {
	w := NewWriter(&fakeStore{}, WriterOptions{})
	closeWriter(t, w)
	ch, unsubscribe := w.Subscribe(context.Background())
	defer unsubscribe()
	if _, ok := <-ch; ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
}

func TestWriterSubscribeAlreadyCancelled(t *testing.T) {
	w := NewWriter(&fakeStore{}, WriterOptions{})
	defer closeWriter(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch, _ := w.Subscribe(ctx)
	waitFor(t, "the channel to close", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})
}

func TestWriterSlowSubscriber(t *testing.T) {
	var rec recorder
	w := NewWriter(&fakeStore{InsertFn: rec.insert(nil)}, WriterOptions{BatchSize: 5, FlushInterval: time.Hour, SubscriberBuffer: 1})
	// Two subscribers that never read while the writer runs.
	slow, unsubscribe := w.Subscribe(context.Background())
	defer unsubscribe()
	_, unsubscribeOther := w.Subscribe(context.Background())
	defer unsubscribeOther()
	for range 5 {
		w.Enqueue(Event{})
	}
	closeWriter(t, w) // would hang if the writer blocked on the slow subscriber
	if n := len(rec.events()); n != 5 {
		t.Fatalf("persisted %d of 5 with a stuck subscriber", n)
	}
	if st := w.Stats(); st.SubscriberDrops != 8 { // 4 for each subscriber with room for 1
		t.Errorf("SubscriberDrops = %d, want 8", st.SubscriberDrops)
	}
	if e, ok := <-slow; !ok || e.ID == "" {
		t.Error("slow subscriber did not get the event that fit")
	}
	if _, ok := <-slow; ok {
		t.Error("slow subscriber channel not closed by Close")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger writing from the writer
// goroutine while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func cond(c bool, err error) error {
	if c {
		return err
	}
	return nil
}

// A full batch is written as soon as it is queued, long before its
// FlushInterval: Enqueue kicks the writer, which otherwise waits for the
// interval without waking per event. What does not fill a batch waits
// (here until Close) and no insert carries more than BatchSize events.
func TestWriterKickWritesFullBatches(t *testing.T) {
	var rec recorder
	var sizes []int
	var mu sync.Mutex
	insert := rec.insert(nil)
	store := &fakeStore{InsertFn: func(ctx context.Context, evs []Event) error {
		mu.Lock()
		sizes = append(sizes, len(evs))
		mu.Unlock()
		return insert(ctx, evs)
	}}
	w := NewWriter(store, WriterOptions{BatchSize: 4, FlushInterval: time.Hour})
	enqueue := func(i int) {
		t.Helper()
		if !w.Enqueue(Event{ID: fmt.Sprintf("evt_%02d", i)}) {
			t.Fatalf("event %d dropped", i)
		}
	}
	// The first event opens a batch; the writer then waits on its timer
	// rather than on the queue.
	enqueue(0)
	waitFor(t, "the writer to take the first event", func() bool { return len(w.queue) == 0 })
	for i := 1; i < 10; i++ {
		enqueue(i)
	}
	waitFor(t, "two full batches", func() bool { return w.Stats().Written >= 8 })
	closeWriter(t, w)
	if got := w.Stats().Written; got != 10 {
		t.Errorf("written %d, want 10", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 4 {
			t.Errorf("insert sizes %v: one above BatchSize 4", sizes)
		}
	}
	want := make([]string, 10)
	for i := range want {
		want[i] = fmt.Sprintf("evt_%02d", i)
	}
	if got := rec.ids(); !slices.Equal(got, want) {
		t.Errorf("written %v, want %v in order", got, want)
	}
}
