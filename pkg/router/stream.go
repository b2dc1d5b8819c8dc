package router

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// errStreamStall is the cause set on an attempt's context when its stream
// went silent for longer than Settings.StreamIdleTimeout.
var errStreamStall = errors.New("stream stalled")

// Stream is a committed streaming answer: the client-facing bytes of an
// upstream event stream, translated event by event. It is read by one
// goroutine; Close must be called once.
//
// A stream is complete once its end marker ([DONE]) was handed out and the
// reader came back for more, i.e. wrote it: from then on nothing the
// client or the upstream does changes its outcome.
type Stream struct {
	run     *attemptRun
	body    io.ReadCloser
	rd      provider.EventReader
	tr      provider.Stream
	pending []byte
	buf     []byte
	idle    *idleWatch // nil when Settings.StreamIdleTimeout is 0

	// err is the stream's upstream failure, nil while healthy or complete.
	err     error
	outcome classify.Outcome
	// ended: the end marker was handed out; complete: the reader asked for
	// more after it; eof: the upstream body is read to its end.
	ended, complete, eof bool
	once                 sync.Once

	// mid is the continuation state, nil unless Settings.Midstream is on
	// and the request can be continued.
	mid *midstream
	// failedTarget is the target whose failure ended the stream.
	failedTarget string
}

// Next returns the next client-facing bytes, valid until the next call, or
// io.EOF after a complete stream, or the upstream's error.
func (s *Stream) Next() ([]byte, error) {
	if s.ended {
		// The caller came back after the end marker: it was written.
		s.complete = true
	}
	if s.pending != nil {
		p := s.pending
		s.pending = nil
		s.ended = s.ended || s.tr.Done() || s.eof
		if s.mid != nil {
			s.mid.observe(p)
		}
		return p, nil
	}
	if s.eof {
		return nil, io.EOF
	}
	if s.err != nil {
		return nil, s.err
	}
	for {
		if s.idle != nil {
			s.idle.reading()
		}
		ev, err := s.rd.Next()
		if s.idle != nil {
			s.idle.done()
		}
		if err != nil {
			if s.ended {
				// Whatever happens after the end marker (the upstream
				// lingers, the client leaves) is not the answer's concern.
				s.eof = true
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				out, ferr := s.tr.Finish(s.buf[:0])
				if ferr != nil {
					return s.interrupted(classify.StreamCut, ferr)
				}
				s.eof, s.ended = true, true
				if p, ok := s.hand(out); ok {
					return p, nil
				}
				s.complete = true
				return nil, io.EOF
			}
			return s.interrupted(s.readFailure(), err)
		}
		if s.ended {
			continue // drain to the end of the body, so the connection is reused
		}
		out, err := s.tr.Event(s.buf[:0], ev)
		if err != nil && errors.Is(err, provider.ErrMalformedEvent) {
			// A frame the client could not parse is not relayed: the
			// stream broke there, and is continued or ends like a cut.
			s.buf = out
			return s.interrupted(classify.Malformed, err)
		}
		if err != nil {
			s.buf = out
			s.err = err
			s.outcome = classify.Outcome{Reason: classify.UpstreamError, CountsAgainst: true}
			s.failedTarget = s.run.a.Target
			// Deliver the translated error frame; the next call reports the error.
			return out, nil
		}
		s.ended = s.tr.Done()
		if p, ok := s.hand(out); ok {
			return p, nil
		}
	}
}

// hand prepares out for the caller, through the continuation's rewrite
// when a continuation is relaying; false when nothing is left to hand out.
func (s *Stream) hand(out []byte) ([]byte, bool) {
	s.buf = out // the translator's buffer, reused for the next event
	if s.mid != nil {
		if s.mid.joined {
			out = s.mid.rewrite(out)
		}
		s.mid.observe(out)
	}
	return out, len(out) > 0
}

// readFailure classifies a body read that failed: the client went away, the
// idle watchdog fired (a stall), or the upstream broke off.
func (s *Stream) readFailure() classify.Outcome {
	switch {
	case s.run.ctx.Err() != nil:
		return classify.Outcome{Reason: classify.Canceled}
	case errors.Is(context.Cause(s.run.actx), errStreamStall):
		return classify.Stall
	}
	return classify.StreamCut
}

// interrupted ends the stream on an upstream failure, or continues it on
// the next target when mid-stream continuation can.
func (s *Stream) interrupted(out classify.Outcome, err error) ([]byte, error) {
	if out.Reason != classify.Canceled && s.mid != nil && s.mid.possible() {
		if s.continueOn(out) {
			return s.Next()
		}
		// The continuation failed or was refused: the stream ends with the
		// original interruption, its attempts already recorded.
		s.err, s.outcome = err, out
		return nil, err
	}
	s.err, s.outcome = err, out
	s.failedTarget = s.run.a.Target
	return nil, err
}

// Buffered reports whether upstream bytes are already waiting, so that a
// caller may write the next event before flushing.
func (s *Stream) Buffered() bool { return s.pending != nil || s.rd.Buffered() > 0 }

// Model is the model that answered (from the stream when it says, else the
// model asked for); after a continuation, the continuing target's.
func (s *Stream) Model() string { return s.tr.Model() }

// Usage is the token usage the stream reported, across a continuation's
// attempts.
func (s *Stream) Usage() provider.Usage {
	u := s.tr.Usage()
	if s.mid != nil {
		u = addUsage(u, s.mid.usage)
	}
	return u
}

// FinishReasons seen in the stream.
func (s *Stream) FinishReasons() []string { return s.tr.FinishReasons() }

// Err is the upstream failure that ended the stream, if any.
func (s *Stream) Err() error { return s.err }

// Outcome is the stream's final classification (valid after Close). After a
// continuation that failed it is the original interruption.
func (s *Stream) Outcome() classify.Outcome { return s.outcome }

// FailedTarget is the id of the target whose failure ended the stream
// (valid after Close; "" when it did not fail).
func (s *Stream) FailedTarget() string { return s.failedTarget }

// Target is the target relaying the stream now: the one that answered,
// or the one that continued it.
func (s *Stream) Target() string { return s.run.a.Target }

// Close ends the stream and reports its outcome to the target's breaker and
// the observer: a complete stream is a success, an upstream failure counts
// against the provider, and a client that went away (or stopped reading)
// counts for nothing.
func (s *Stream) Close() {
	s.once.Do(func() {
		out := s.outcome
		switch {
		case s.complete:
			out = classify.Success
			s.outcome, s.err = out, nil
		case s.err == nil:
			// The reader stopped early: the client went away or its write failed.
			out = classify.Outcome{Reason: classify.Canceled}
			s.outcome = out
		case s.mid != nil && s.mid.ended:
			// A continuation failed: every attempt is already reported.
			return
		}
		s.endAttempt(out)
	})
}

// endAttempt closes the current upstream and reports its attempt.
func (s *Stream) endAttempt(out classify.Outcome) {
	if s.idle != nil {
		s.idle.stop()
	}
	_ = s.body.Close()
	a := s.run.a
	a.Usage, a.ResponseModel, a.FinishReasons = s.tr.Usage(), s.tr.Model(), s.tr.FinishReasons()
	s.run.finish(out)
}

// Attempt is the stream's first attempt record, complete after Close.
func (s *Stream) Attempt() *Attempt {
	if s.mid != nil && len(s.mid.attempts) > 0 {
		return &s.mid.attempts[0]
	}
	return s.run.a
}

// Attempts are the stream's attempt records, complete after Close: the
// attempt that committed the stream, then those of a continuation (skips
// included).
func (s *Stream) Attempts() []Attempt {
	if s.mid == nil || len(s.mid.attempts) == 0 {
		return []Attempt{*s.run.a}
	}
	out := s.mid.attempts
	if !s.mid.ended {
		out = append(out, *s.run.a)
	}
	return out
}

// idleWatch bounds the gap between a stream's upstream events: one timer
// per stream, and per event only a clock read and two atomic stores (the
// timer is not reset per event; when it fires early it re-arms for the
// rest of the gap).
type idleWatch struct {
	base time.Time
	// since is time.Since(base) when the current read began.
	since atomic.Int64
	// waiting is set while the stream waits on the upstream: only then is
	// a gap the upstream's. Between reads the client is being written to,
	// and a slow client is not a stalled provider.
	waiting atomic.Bool
	limit   time.Duration
	fire    func()
	stopped atomic.Bool
	// mu guards t, which its own callback re-arms: taken once per limit,
	// never per event.
	mu sync.Mutex
	t  *time.Timer
}

func newIdleWatch(limit time.Duration, fire func()) *idleWatch {
	w := &idleWatch{base: time.Now(), limit: limit, fire: fire}
	w.mu.Lock()
	w.t = time.AfterFunc(limit, w.check)
	w.mu.Unlock()
	return w
}

// reading marks the start of a wait on the upstream.
func (w *idleWatch) reading() {
	w.since.Store(int64(time.Since(w.base)))
	w.waiting.Store(true)
}

// done marks the end of that wait: an event (or the end) arrived.
func (w *idleWatch) done() { w.waiting.Store(false) }

func (w *idleWatch) check() {
	if w.stopped.Load() {
		return
	}
	next := w.limit
	if w.waiting.Load() {
		gap := time.Since(w.base) - time.Duration(w.since.Load())
		if gap >= w.limit {
			w.fire()
			return
		}
		next = w.limit - gap
	}
	w.mu.Lock()
	w.t.Reset(next)
	w.mu.Unlock()
}

func (w *idleWatch) stop() {
	w.stopped.Store(true)
	w.mu.Lock()
	w.t.Stop()
	w.mu.Unlock()
}
