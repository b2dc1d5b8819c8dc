package events

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
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

// BenchmarkNewID is minting an id, alone and with a caller on every core
// (the gateway mints one per request, from every handler goroutine).
func BenchmarkNewID(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			_ = NewID()
		}
		cpu(b.N, "op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = NewID()
			}
		})
		cpu(b.N, "op")
	})
}

// BenchmarkInsertBatch is the store's write throughput in writer-sized
// batches (256 events per transaction) of realistic events without bodies:
// auth-off events have no team (the events_team index is partial and skips
// them), auth-on events have a team and key name (spread over two teams).
func BenchmarkInsertBatch(b *testing.B) {
	for _, auth := range []bool{false, true} {
		name := "auth-off"
		if auth {
			name = "auth-on"
		}
		b.Run(name, func(b *testing.B) {
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "events.db"), Retention{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const batchSize = DefaultBatchSize
			batch := make([]Event, batchSize)
			ctx := context.Background()
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				for i := range batch {
					batch[i] = fullEvent(NewID(), time.Now().UTC())
					batch[i].RequestBody, batch[i].ResponseBody = nil, nil
					switch {
					case !auth:
						batch[i].Team, batch[i].KeyName = "", ""
					case i%3 == 0:
						batch[i].Team = "data-science"
					}
				}
				if err := s.Insert(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "events/s")
			cpu(b.N*batchSize, "event")
		})
	}
}

// BenchmarkPrune is one retention pass over a store of 100,000 events
// with nothing to delete (the default limits), what the writer runs every
// PruneInterval on a gateway whose store is not full.
func BenchmarkPrune(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "events.db"), Retention{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// Filled by SQLite itself: a realistic row size, in a fraction of the
	// time 100,000 Inserts take.
	if _, err := s.db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000)
		INSERT INTO events (id, ts, provider, failover_triggered, status, event)
		SELECT printf('evt_%026d', i), ?, 'openai', i % 10 = 0, 200, printf('%0800d', i) FROM n`,
		time.Now().UnixNano()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		if n, err := s.Prune(ctx); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
	cpu(b.N, "op")
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

// BenchmarkWriterThroughput is the events pipeline as the gateway runs it:
// producers enqueueing id-less events (Enqueue mints the ids) through a
// default Writer into a real SQLite store, until every event is committed.
// events/s is end-to-end throughput; cpu-ns/event is the whole process's
// CPU (producers, writer, SQLite, GC) per event, the figure the gateway's
// per-request CPU pays. A producer that finds the queue full backs off
// briefly and retries, as a loaded gateway would keep serving requests
// rather than spin.
func BenchmarkWriterThroughput(b *testing.B) {
	for _, producers := range []int{1, 50} {
		b.Run(fmt.Sprintf("producers-%d", producers), func(b *testing.B) {
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "events.db"), Retention{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			w := NewWriter(s, WriterOptions{})
			ev := fullEvent("", time.Time{})
			ev.RequestBody, ev.ResponseBody = nil, nil
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU(b)
			var wg sync.WaitGroup
			for p := range producers {
				n := b.N / producers
				if p < b.N%producers {
					n++
				}
				wg.Go(func() {
					for range n {
						for !w.Enqueue(ev) {
							time.Sleep(100 * time.Microsecond)
						}
					}
				})
			}
			wg.Wait()
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu(b.N, "event")
			st := w.Stats()
			if st.Written != uint64(b.N) {
				b.Fatalf("written %d of %d events", st.Written, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Dropped)/float64(b.N), "retries/event")
		})
	}
}

// startCPU starts measuring the process's CPU time; the function it returns
// reports it per unit as cpu-ns/<unit>. On a shared machine wall time says
// as much about the neighbours as about the code; CPU time is steadier, and
// it counts every goroutine's work (the writer's, SQLite's, the GC's), not
// only the benchmark loop's.
func startCPU(b *testing.B) func(n int, unit string) {
	b.Helper()
	start, ok := processCPU()
	return func(n int, unit string) {
		b.Helper()
		end, _ := processCPU()
		if ok && n > 0 {
			b.ReportMetric(float64((end-start).Nanoseconds())/float64(n), "cpu-ns/"+unit)
		}
	}
}

// BenchmarkWriterHandoff is the cost of handing one event to the writer on
// one core (GOMAXPROCS=1, as the gateway pinned by make bench runs) when
// the writer keeps up: the producer yields after each event as a request
// goroutine parks between requests. The store accepts everything at once,
// so only Enqueue, the queue and the writer's loop are measured.
func BenchmarkWriterHandoff(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	store := &fakeStore{InsertFn: func(context.Context, []Event) error { return nil }}
	w := NewWriter(store, WriterOptions{})
	ev := Event{ID: "evt_bench"}
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		for !w.Enqueue(ev) {
			runtime.Gosched()
		}
		runtime.Gosched()
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	cpu(b.N, "event")
}
