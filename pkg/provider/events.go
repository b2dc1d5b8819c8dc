package provider

import (
	"io"

	"github.com/keeptrusts/gateway/pkg/sse"
)

// EventReader reads the events of one streaming upstream body, one at a
// time; the router feeds each to the adapter's Stream. *sse.Reader is the
// reader of every provider that streams Server-Sent Events.
type EventReader interface {
	// Next returns the next event, valid until the next call; io.EOF at
	// the end of a stream that ended between events, io.ErrUnexpectedEOF
	// when it ended inside one, or the body's read error.
	Next() (sse.Event, error)
	// Buffered is the number of bytes already read from the body and not
	// yet returned as events.
	Buffered() int
}

// EventReaderAdapter is implemented by adapters whose provider does not
// stream SSE (Amazon Bedrock's binary event stream): NewEventReader decodes
// the body into events with a Name and JSON Data that the adapter's Stream
// translates like any other. Raw is read only by a Stream that relays
// events unchanged (openai kinds); a translating Stream ignores it.
type EventReaderAdapter interface {
	NewEventReader(body io.Reader) EventReader
}

// NewEventReader returns the event reader for a streaming body from ad: the
// adapter's own when it (or the chat adapter a Bridge hands requests to)
// implements EventReaderAdapter, else an SSE reader.
func NewEventReader(ad Adapter, body io.Reader) EventReader {
	for ad != nil {
		if er, ok := ad.(EventReaderAdapter); ok {
			return er.NewEventReader(body)
		}
		b, ok := ad.(Bridge)
		if !ok {
			break
		}
		ad = b.Wrapped()
	}
	return sse.NewReader(body)
}
