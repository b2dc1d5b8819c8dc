package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configure a Writer. Zero fields take the defaults.
type WriterOptions struct {
	// BatchSize is the most events one Insert carries; default 256.
	BatchSize int
	// FlushInterval is the longest an event waits for its batch to fill
	// before it is written anyway; default 200ms.
	FlushInterval time.Duration
	// QueueSize is how many events may wait for the writer before Enqueue
	// starts dropping; default 65536.
	QueueSize int
	// MaxAttempts is how many times a batch is tried before it is dropped
	// (and counted in WriterStats.Failed); default 3.
	MaxAttempts int
	// RetryBackoff is the wait before the first retry, doubled for each
	// further one; default 100ms.
	RetryBackoff time.Duration
	// PruneInterval is how often retention runs when the store is a Pruner:
	// at most once per PruneInterval, on its own timer rather than as part
	// of a flush, and only if events were written since it last ran;
	// default 1 minute.
	PruneInterval time.Duration
	// SubscriberBuffer is each subscriber's channel capacity; a subscriber
	// that falls further behind misses events; default 256.
	SubscriberBuffer int
	// Logger receives insert failures and drops; default discards.
	Logger *slog.Logger
}

// Writer defaults.
const (
	DefaultBatchSize        = 256
	DefaultFlushInterval    = 200 * time.Millisecond
	DefaultQueueSize        = 65536
	DefaultMaxAttempts      = 3
	DefaultRetryBackoff     = 100 * time.Millisecond
	DefaultPruneInterval    = time.Minute
	DefaultSubscriberBuffer = 256
)

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WriterStats are a Writer's counters since it was created.
type WriterStats struct {
	// Enqueued counts events accepted by Enqueue.
	Enqueued uint64
	// Written counts events the store accepted.
	Written uint64
	// Dropped counts events Enqueue refused: queue full or writer closed.
	Dropped uint64
	// Failed counts accepted events lost after MaxAttempts failed inserts or
	// because Close's context ended first.
	Failed uint64
	// Flushes counts successful inserts (batches).
	Flushes uint64
	// InsertErrors counts failed Insert calls, retried or not.
	InsertErrors uint64
	// SubscriberDrops counts events not delivered to a subscriber that was
	// too far behind.
	SubscriberDrops uint64
	// Queued is how many events wait in the queue now.
	Queued int
	// LastError is the last insert or prune error, nil if none.
	LastError error
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time
}

// Writer persists events off the request path. Enqueue hands an event to a
// bounded queue; one goroutine batches the queue into Store.Insert and then
// fans the persisted events out to subscribers. See the package doc for
// what a crash can lose.
type Writer struct {
	store  Store
	pruner Pruner // store as a Pruner, nil if it is not one
	opts   WriterOptions
	log    *slog.Logger

	// mu orders Enqueue's sends against Close: once closed is set under the
	// write lock, no send can slip into the queue after the final drain.
	mu     sync.RWMutex
	closed bool
	// queue holds pointers: a channel of Event values would allocate
	// QueueSize × ~350 bytes (23 MB at the default) up front and have the
	// GC scan all of it every cycle, however idle the gateway. The events
	// pointed to are recycled through pool, so Enqueue does not allocate.
	queue chan *Event
	pool  sync.Pool

	// kick wakes the writer when a full batch is queued (capacity 1;
	// Enqueue never blocks on it), so that it need not wake per event.
	kick chan struct{}
	// kickAt is the queue length at which Enqueue kicks.
	kickAt    int
	stop      chan struct{} // closed by Close: drain, flush, exit
	done      chan struct{} // closed when run returns
	closeOnce sync.Once
	// ctx is passed to the store; cancelled when Close's deadline passes so
	// a stuck insert or retry wait gives up.
	ctx    context.Context
	cancel context.CancelFunc

	enqueued, written, dropped, failed  atomic.Uint64
	flushes, insertErrors, subscriberDr atomic.Uint64

	errMu     sync.Mutex
	lastErr   error
	lastErrAt time.Time

	subMu      sync.Mutex
	subs       map[uint64]*subscriber
	nextSub    uint64
	subsClosed bool
}

type subscriber struct {
	ch   chan Event
	stop func() bool // stops the context.AfterFunc watching the caller's ctx
}

// NewWriter starts a writer on s. s must not retain the slice passed to
// Insert. Close the writer before closing s.
func NewWriter(s Store, o WriterOptions) *Writer {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		store:  s,
		opts:   o,
		log:    o.Logger,
		queue:  make(chan *Event, o.QueueSize),
		kick:   make(chan struct{}, 1),
		kickAt: min(o.BatchSize, max(1, o.QueueSize/2)),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
		subs:   make(map[uint64]*subscriber),
	}
	w.pool.New = func() any { return new(Event) }
	w.pruner, _ = s.(Pruner)
	go w.run()
	return w
}

// Enqueue queues e for writing without blocking. It returns false, and
// counts a drop, when the queue is full or the writer is closed. An empty ID
// is filled with NewID and a zero Timestamp with now.
func (w *Writer) Enqueue(e Event) bool {
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now().UTC()
	}
	p := w.pool.Get().(*Event)
	*p = e
	w.mu.RLock()
	if !w.closed {
		select {
		case w.queue <- p:
			w.mu.RUnlock()
			w.enqueued.Add(1)
			if len(w.queue) >= w.kickAt {
				select {
				case w.kick <- struct{}{}:
				default: // already kicked
				}
			}
			return true
		default:
		}
	}
	w.mu.RUnlock()
	w.recycle(p)
	w.dropped.Add(1)
	return false
}

// Close stops accepting events, writes everything queued and stops the
// writer's goroutine, then closes subscriber channels. If ctx ends first,
// the store call in progress is cancelled, what is still queued is counted
// as failed, and Close returns an error saying how many events were lost.
// It returns an error too if inserts failed while draining. Close never
// returns before the goroutine has exited.
func (w *Writer) Close(ctx context.Context) error {
	failedBefore := w.failed.Load()
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	var ctxErr error
	select {
	case <-w.done:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		w.cancel()
		<-w.done
	}
	w.cancel()
	w.closeSubscribers()
	lost := w.failed.Load() - failedBefore
	switch {
	case ctxErr != nil && lost > 0:
		return fmt.Errorf("events writer: close: %d events not persisted: %w", lost, ctxErr)
	case lost > 0:
		cause := w.Stats().LastError
		if cause == nil {
			cause = errors.New("insert failed")
		}
		return fmt.Errorf("events writer: close: %d events not persisted: %w", lost, cause)
	}
	return nil
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	w.errMu.Lock()
	lastErr, lastErrAt := w.lastErr, w.lastErrAt
	w.errMu.Unlock()
	return WriterStats{
		Enqueued:        w.enqueued.Load(),
		Written:         w.written.Load(),
		Dropped:         w.dropped.Load(),
		Failed:          w.failed.Load(),
		Flushes:         w.flushes.Load(),
		InsertErrors:    w.insertErrors.Load(),
		SubscriberDrops: w.subscriberDr.Load(),
		Queued:          len(w.queue),
		LastError:       lastErr,
		LastErrorAt:     lastErrAt,
	}
}

// Subscribe returns a channel of events as they are persisted, in the order
// they were written, and a function that unsubscribes (safe to call more
// than once). The channel is closed when the function is called, when ctx
// ends, or when the writer closes. A subscriber more than SubscriberBuffer
// events behind misses events rather than slowing the writer; a follower
// that must not miss any can Query with AfterID from the last id it saw.
func (w *Writer) Subscribe(ctx context.Context) (<-chan Event, func()) {
	ch := make(chan Event, w.opts.SubscriberBuffer)
	w.subMu.Lock()
	defer w.subMu.Unlock()
	if w.subsClosed {
		close(ch)
		return ch, func() {}
	}
	id := w.nextSub
	w.nextSub++
	sub := &subscriber{ch: ch}
	w.subs[id] = sub
	unsubscribe := func() { w.unsubscribe(id) }
	// Registered under subMu: if ctx is already done the callback runs in
	// its own goroutine and waits for the lock, so sub.stop is set first.
	sub.stop = context.AfterFunc(ctx, unsubscribe)
	return ch, unsubscribe
}

func (w *Writer) unsubscribe(id uint64) {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	sub, ok := w.subs[id]
	if !ok {
		return
	}
	delete(w.subs, id)
	sub.stop()
	close(sub.ch)
}

func (w *Writer) closeSubscribers() {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	w.subsClosed = true
	for id, sub := range w.subs {
		delete(w.subs, id)
		sub.stop()
		close(sub.ch)
	}
}

// publish hands persisted events to subscribers without ever blocking.
func (w *Writer) publish(batch []Event) {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	for _, sub := range w.subs {
		for _, e := range batch {
			select {
			case sub.ch <- e:
			default:
				w.subscriberDr.Add(1)
			}
		}
	}
}

func (w *Writer) setErr(err error) {
	w.errMu.Lock()
	w.lastErr, w.lastErrAt = err, time.Now()
	w.errMu.Unlock()
}

// take appends the queued event to batch and recycles its slot.
func (w *Writer) take(batch []Event, e *Event) []Event {
	batch = append(batch, *e)
	w.recycle(e)
	return batch
}

func (w *Writer) recycle(e *Event) {
	*e = Event{} // drop references so pooled slots keep no bodies alive
	w.pool.Put(e)
}

// dropLogInterval spaces out "queue full" warnings during an overload.
const dropLogInterval = 10 * time.Second

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Event, 0, w.opts.BatchSize)
	// The flush timer runs only while a batch is open, so an idle writer
	// never wakes up.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// Retention has its own timer, armed by a write when it is not already
	// armed and due PruneInterval after the last run (the store pruned when
	// it was opened): it runs at most once per PruneInterval however many
	// batches are written, never while the writer is idle, and never adds
	// its cost to a flush's.
	pruneTimer := time.NewTimer(time.Hour)
	pruneTimer.Stop()
	defer pruneTimer.Stop()
	pruneArmed := false
	lastPrune := time.Now()
	var loggedDrops uint64
	var lastDropLog time.Time

	flush := func() {
		wrote := len(batch) > 0
		w.flush(batch)
		clear(batch) // let the written events' bodies be collected
		batch = batch[:0]
		if d := w.dropped.Load(); d != loggedDrops && time.Since(lastDropLog) >= dropLogInterval {
			w.log.Warn("events dropped: writer queue full", "dropped", d-loggedDrops, "dropped_total", d)
			loggedDrops, lastDropLog = d, time.Now()
		}
		if w.pruner != nil && wrote && !pruneArmed {
			pruneTimer.Reset(w.opts.PruneInterval - time.Since(lastPrune))
			pruneArmed = true
		}
	}
	prune := func() {
		pruneArmed = false
		lastPrune = time.Now()
		w.prune()
	}
	// add puts e in the batch and writes the batch once it is full.
	add := func(e *Event) {
		batch = w.take(batch, e)
		if len(batch) >= w.opts.BatchSize {
			flush()
		}
	}
	// drain adds everything queued, with cheap single-channel receives.
	drain := func() {
		for {
			select {
			case e := <-w.queue:
				add(e)
			default:
				return
			}
		}
	}
	for {
		// Idle: wait for an event.
		select {
		case <-pruneTimer.C:
			prune()
			continue
		case <-w.kick:
			continue // left over from a batch already written
		case e := <-w.queue:
			add(e)
			drain()
			if len(batch) == 0 {
				continue
			}
		case <-w.stop:
			drain()
			flush()
			return
		}
		// A batch is open. Wait for its deadline, or for Enqueue's kick
		// when a full batch is queued, without receiving each event: on a
		// busy gateway a receive per event would wake this goroutine (a
		// scheduler round trip and a select) once per request.
		timer.Reset(w.opts.FlushInterval)
	open:
		for {
			select {
			case <-timer.C:
				drain()
				flush()
				break open
			case <-w.kick:
				drain() // writes the full batches; the rest waits for the timer
				if len(batch) == 0 {
					timer.Stop()
					break open
				}
			case <-pruneTimer.C:
				prune()
			case <-w.stop:
				// closed is set: the queue only shrinks from here.
				timer.Stop()
				drain()
				flush()
				return
			}
		}
	}
}

// flush inserts batch, retrying with backoff up to MaxAttempts, then
// publishes it. A batch that still fails is dropped and counted so one bad
// batch or a long store outage cannot wedge the writer; the queue absorbs
// what arrives meanwhile, and Enqueue drops (counted) once it is full.
func (w *Writer) flush(batch []Event) {
	if len(batch) == 0 {
		return
	}
	n := uint64(len(batch))
	backoff := w.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		if w.ctx.Err() != nil {
			w.failed.Add(n)
			w.log.Error("events lost: writer closed before they were written", "events", n)
			return
		}
		err := w.store.Insert(w.ctx, batch)
		if err == nil {
			w.written.Add(n)
			w.flushes.Add(1)
			w.publish(batch)
			return
		}
		w.insertErrors.Add(1)
		w.setErr(err)
		if attempt >= w.opts.MaxAttempts {
			w.failed.Add(n)
			w.log.Error("events dropped after failed inserts", "events", n, "attempts", attempt, "err", err)
			return
		}
		w.log.Warn("events insert failed; retrying", "events", n, "attempt", attempt, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
		}
		backoff *= 2
	}
}

func (w *Writer) prune() {
	n, err := w.pruner.Prune(w.ctx)
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		w.setErr(err)
		w.log.Warn("events retention failed", "err", err)
	case n > 0:
		w.log.Debug("events retention applied", "deleted", n)
	}
}
