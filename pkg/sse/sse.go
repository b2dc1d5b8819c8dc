// Package sse reads Server-Sent Events (text/event-stream) one event at a
// time, keeping each event's raw bytes so that a relay can pass it on
// unchanged without re-encoding it.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one SSE event. Its slices are valid until the next call to Next.
type Event struct {
	// Name is the event: field, empty when absent (the default "message").
	Name []byte
	// Data is the data: lines joined by "\n".
	Data []byte
	// Raw is the event exactly as received, including the terminating blank
	// line and any stray blank lines before it, so that relaying the Raw of
	// every event reproduces the stream byte for byte.
	Raw []byte
}

// Reader reads events from an SSE stream.
type Reader struct {
	br   *bufio.Reader
	raw  []byte
	data []byte
	name []byte
	line []byte
}

// NewReader returns a Reader on r. The reader buffers: reads return as soon as
// a whole event is available, never waiting for more.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4096)}
}

// Reset makes the reader read from r, keeping its buffers.
func (r *Reader) Reset(src io.Reader) {
	r.br.Reset(src)
	r.raw, r.data, r.name = r.raw[:0], r.data[:0], r.name[:0]
}

// Next returns the next event. It returns io.EOF at the end of a stream that
// ended between events, and io.ErrUnexpectedEOF when it ended inside one.
// Comment-only events (": ping") are returned with no Name and no Data.
func (r *Reader) Next() (Event, error) {
	r.raw, r.data, r.name = r.raw[:0], r.data[:0], r.name[:0]
	// started is set by the first non-blank line: blank lines before it
	// dispatch nothing, and a stream that ends among them ended between events.
	started, hasData := false, false
	for {
		line, err := r.readLine()
		if err != nil {
			switch {
			case !errors.Is(err, io.EOF):
				return Event{}, err
			case started:
				return Event{}, io.ErrUnexpectedEOF
			default:
				return Event{}, io.EOF
			}
		}
		r.raw = append(r.raw, line...)
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			if !started {
				continue
			}
			return Event{Name: r.name, Data: r.data, Raw: r.raw}, nil
		}
		started = true
		field, value := content, []byte(nil)
		if i := bytes.IndexByte(content, ':'); i >= 0 {
			field, value = content[:i], content[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			r.name = append(r.name[:0], value...)
		}
	}
}

// readLine returns one line including its terminator, of any length.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return line, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.line = append(r.line[:0], line...)
	for {
		line, err = r.br.ReadSlice('\n')
		r.line = append(r.line, line...)
		if err == nil {
			return r.line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// IsDone reports whether data is the OpenAI end-of-stream sentinel "[DONE]".
func IsDone(data []byte) bool { return string(data) == "[DONE]" }

// Buffered returns the number of bytes already read from the source but not
// yet returned as events.
func (r *Reader) Buffered() int { return r.br.Buffered() }
