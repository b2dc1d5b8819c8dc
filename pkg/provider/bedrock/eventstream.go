package bedrock

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// maxMessageBytes bounds one event stream message. Bedrock's frames are a
// few hundred bytes; the SDK's decoder trusts the prelude's length, so a
// broken or hostile upstream could otherwise make it buffer gigabytes.
const maxMessageBytes = 1 << 20

// preludeBytes is the event stream prelude: total length, headers length,
// prelude CRC.
const preludeBytes = 12

// minMessageBytes is a message with no headers and no payload.
const minMessageBytes = preludeBytes + 4

// eventReader decodes Bedrock's binary event stream
// (application/vnd.amazon.eventstream) into events for the Stream:
//
//	:message-type event      → Name :event-type (messageStart, contentBlockDelta, ...), Data the JSON payload
//	:message-type exception  → Name :exception-type (throttlingException, ...), Data the JSON payload
//	:message-type error      → Name :error-code, Data {"message": :error-message}
//
// Exceptions and errors are told apart from events by their names, which
// end in "Exception" or are error codes (see isException).
type eventReader struct {
	br      *bufio.Reader
	dec     *eventstream.Decoder
	msg     []byte
	src     bytes.Reader
	payload []byte
	name    []byte
	data    []byte
}

// NewEventReader reads a ConverseStream body (provider.EventReaderAdapter).
func (a *adapter) NewEventReader(body io.Reader) provider.EventReader {
	return newEventReader(body)
}

func newEventReader(body io.Reader) *eventReader {
	return &eventReader{br: bufio.NewReaderSize(body, 4096), dec: eventstream.NewDecoder()}
}

// Buffered is the number of bytes read from the body and not yet decoded.
func (r *eventReader) Buffered() int { return r.br.Buffered() }

// errBadFrame wraps every frame that does not decode: the stream is broken
// there.
var errBadFrame = errors.New("bedrock event stream: bad frame")

// Next decodes the next message. A body that ends between messages is
// io.EOF; one that ends inside a message is io.ErrUnexpectedEOF; a frame
// that does not decode (length, checksum, headers) is an error wrapping
// provider.ErrMalformedEvent.
func (r *eventReader) Next() (sse.Event, error) {
	pre, err := r.br.Peek(preludeBytes)
	switch {
	case len(pre) == 0 && errors.Is(err, io.EOF):
		return sse.Event{}, io.EOF
	case err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return sse.Event{}, io.ErrUnexpectedEOF
	case err != nil:
		return sse.Event{}, err
	}
	total, headers := binary.BigEndian.Uint32(pre), binary.BigEndian.Uint32(pre[4:])
	if total < minMessageBytes || total > maxMessageBytes || uint64(headers) > uint64(total)-minMessageBytes {
		return sse.Event{}, fmt.Errorf("%w: message length %d, headers %d: %w", errBadFrame, total, headers, provider.ErrMalformedEvent)
	}
	// The whole message is read first: the decoder reads the payload
	// through a LimitReader and would take a short one for all of it, and
	// the body's read errors stay apart from the frame's own.
	if cap(r.msg) < int(total) {
		r.msg = make([]byte, total)
	}
	r.msg = r.msg[:total]
	if _, err := io.ReadFull(r.br, r.msg); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return sse.Event{}, io.ErrUnexpectedEOF
		}
		return sse.Event{}, err
	}
	r.src.Reset(r.msg)
	msg, err := r.dec.Decode(&r.src, r.payload[:0])
	if err != nil {
		return sse.Event{}, fmt.Errorf("%w: %w: %w", errBadFrame, provider.ErrMalformedEvent, err)
	}
	r.payload = msg.Payload
	typ := header(msg.Headers, ":message-type")
	switch typ {
	case "event":
		r.name = append(r.name[:0], header(msg.Headers, ":event-type")...)
		r.data = msg.Payload
	case "exception":
		r.name = append(r.name[:0], header(msg.Headers, ":exception-type")...)
		r.data = msg.Payload
	case "error":
		r.name = append(r.name[:0], header(msg.Headers, ":error-code")...)
		b, _ := json.Marshal(struct {
			Message string `json:"message"`
		}{header(msg.Headers, ":error-message")})
		r.data = b
	default:
		return sse.Event{}, fmt.Errorf("%w: message type %q: %w", errBadFrame, typ, provider.ErrMalformedEvent)
	}
	if typ != "event" && len(r.name) == 0 {
		r.name = append(r.name, "unknownException"...)
	}
	if typ == "error" && !isException(string(r.name)) {
		// An error code that does not read as an exception still is one.
		r.name = append(r.name, "Exception"...)
	}
	return sse.Event{Name: r.name, Data: r.data}, nil
}

// header returns a string header's value, "" when absent or not a string.
func header(hs eventstream.Headers, name string) string {
	v := hs.Get(name)
	if v == nil {
		return ""
	}
	if s, ok := v.(eventstream.StringValue); ok {
		return string(s)
	}
	return v.String()
}
