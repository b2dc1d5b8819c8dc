package router

import (
	"errors"
	"io"
	"sync"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// Stream is a committed streaming answer: the client-facing bytes of an
// upstream event stream, translated event by event. It is read by one
// goroutine; Close must be called once.
type Stream struct {
	run     *attemptRun
	body    io.ReadCloser
	rd      *sse.Reader
	tr      provider.Stream
	pending []byte
	buf     []byte

	// err is the stream's upstream failure, nil while healthy or complete.
	err      error
	outcome  classify.Outcome
	complete bool
	once     sync.Once
}

// Next returns the next client-facing bytes, valid until the next call, or
// io.EOF after a complete stream, or the upstream's error.
func (s *Stream) Next() ([]byte, error) {
	if s.pending != nil {
		p := s.pending
		s.pending = nil
		return p, nil
	}
	if s.complete {
		return nil, io.EOF
	}
	if s.err != nil {
		return nil, s.err
	}
	for {
		ev, err := s.rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				out, ferr := s.tr.Finish(s.buf[:0])
				if ferr != nil {
					return s.failed(ferr, classify.ConnectionError)
				}
				s.complete = true
				if len(out) > 0 {
					s.buf = out
					return out, nil
				}
				return nil, io.EOF
			}
			if s.run.ctx.Err() != nil {
				return s.failed(err, classify.Canceled)
			}
			return s.failed(err, classify.ConnectionError)
		}
		out, err := s.tr.Event(s.buf[:0], ev)
		s.buf = out
		if err != nil {
			s.err = err
			s.outcome = classify.Outcome{Reason: classify.UpstreamError, CountsAgainst: true}
			// Deliver the translated error frame; the next call reports the error.
			return out, nil
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

func (s *Stream) failed(err error, reason classify.Reason) ([]byte, error) {
	s.err = err
	s.outcome = classify.Outcome{Reason: reason, CountsAgainst: reason != classify.Canceled}
	return nil, err
}

// Buffered reports whether upstream bytes are already waiting, so that a
// caller may write the next event before flushing.
func (s *Stream) Buffered() bool { return s.pending != nil || s.rd.Buffered() > 0 }

// Model is the model that answered (from the stream when it says, else the
// model asked for).
func (s *Stream) Model() string { return s.tr.Model() }

// Usage is the token usage the stream reported.
func (s *Stream) Usage() provider.Usage { return s.tr.Usage() }

// FinishReasons seen in the stream.
func (s *Stream) FinishReasons() []string { return s.tr.FinishReasons() }

// Err is the upstream failure that ended the stream, if any.
func (s *Stream) Err() error { return s.err }

// Outcome is the stream's final classification (valid after Close).
func (s *Stream) Outcome() classify.Outcome { return s.outcome }

// Close ends the stream and reports its outcome to the target's breaker and
// the observer: a complete stream is a success, an upstream failure counts
// against the provider, and a client that went away (or stopped reading)
// counts for nothing.
func (s *Stream) Close() {
	s.once.Do(func() {
		switch {
		case s.complete:
			s.outcome = classify.Success
		case s.err == nil:
			// The reader stopped early: the client went away or its write failed.
			s.outcome = classify.Outcome{Reason: classify.Canceled}
		}
		_ = s.body.Close()
		a := s.run.a
		a.Usage, a.ResponseModel, a.FinishReasons = s.tr.Usage(), s.tr.Model(), s.tr.FinishReasons()
		s.run.finish(s.outcome)
	})
}

// Attempt is the stream's attempt record, complete after Close.
func (s *Stream) Attempt() *Attempt { return s.run.a }
