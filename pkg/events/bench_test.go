package events

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// benchWriter is a writer on a store that accepts everything at once, so
// the benchmarks measure Enqueue, not a disk.
func benchWriter(b *testing.B) *Writer {
	b.Helper()
	w := NewWriter(&fakeStore{}, WriterOptions{})
	b.Cleanup(func() {
		if err := w.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return w
}

func reportDrops(b *testing.B, w *Writer) {
	b.Helper()
	if n := w.Stats().Enqueued + w.Stats().Dropped; n > 0 {
		b.ReportMetric(float64(w.Stats().Dropped)/float64(n), "dropped/op")
	}
}

// BenchmarkEnqueue is the cost on the request path. A tight loop enqueues
// far faster than any gateway serves requests, so the queue is let drain
// (timer stopped) every drainEvery events: the figure is the cost of an
// accepted event, not of the cheaper refusal.
func BenchmarkEnqueue(b *testing.B) {
	ev := fullEvent(NewID(), time.Now().UTC())
	ev.RequestBody, ev.ResponseBody = nil, nil
	noID := ev
	noID.ID = ""
	for _, tt := range []struct {
		name string
		ev   Event
	}{
		{"with-id", ev},
		{"mint-id", noID},
	} {
		b.Run(tt.name, func(b *testing.B) {
			w := benchWriter(b)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if i%drainEvery == 0 {
					b.StopTimer()
					waitDrained(b, w)
					b.StartTimer()
				}
				w.Enqueue(tt.ev)
			}
			b.StopTimer()
			reportDrops(b, w)
		})
	}
	// Producers on every core in a tight loop: outpaces the single consumer,
	// so this shows Enqueue under contention, refusals (dropped/op) included.
	b.Run("parallel", func(b *testing.B) {
		w := benchWriter(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Enqueue(ev)
			}
		})
		b.StopTimer()
		reportDrops(b, w)
	})
}

const drainEvery = 1024

func waitDrained(b *testing.B, w *Writer) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Queued > 0 {
		if time.Now().After(deadline) {
			b.Fatal("queue did not drain")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewID()
	}
}

// BenchmarkInsertBatch is the store's write throughput in writer-sized
// batches (256 events per transaction) of realistic events without bodies.
func BenchmarkInsertBatch(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "events.db"), Retention{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batchSize = DefaultBatchSize
	batch := make([]Event, batchSize)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			batch[i] = fullEvent(NewID(), time.Now().UTC())
			batch[i].RequestBody, batch[i].ResponseBody = nil, nil
		}
		if err := s.Insert(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkQueryLast is `kt events tail --last 10` on a store of 10,000.
func BenchmarkQueryLast(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "events.db"), Retention{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for range 40 {
		batch := make([]Event, 250)
		for i := range batch {
			batch[i] = fullEvent(NewID(), time.Now().UTC())
			batch[i].RequestBody, batch[i].ResponseBody = nil, nil
		}
		if err := s.Insert(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	yes := true
	b.ReportAllocs()
	for b.Loop() {
		if evs, err := s.Query(ctx, Filter{Last: 10, Failover: &yes}); err != nil || len(evs) != 10 {
			b.Fatal(len(evs), err)
		}
	}
}
