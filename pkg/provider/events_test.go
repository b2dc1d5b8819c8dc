package provider_test

import (
	"io"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

type fixedReader struct{}

func (fixedReader) Next() (sse.Event, error) { return sse.Event{Name: []byte("own")}, nil }
func (fixedReader) Buffered() int            { return 0 }

// ownReaderAdapter is an adapter with its own event reader; the methods of
// provider.Adapter are never called here.
type ownReaderAdapter struct{ provider.Adapter }

func (ownReaderAdapter) NewEventReader(io.Reader) provider.EventReader { return fixedReader{} }

type bridge struct {
	provider.Adapter
	inner provider.Adapter
}

func (b bridge) Wrapped() provider.Adapter { return b.inner }

func TestNewEventReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		ad   provider.Adapter
		want string
	}{
		{name: "sse by default", ad: ownReaderAdapter{}.Adapter, want: "sse"},
		{name: "the adapter's own", ad: ownReaderAdapter{}, want: "own"},
		{name: "through a bridge", ad: bridge{inner: ownReaderAdapter{}}, want: "own"},
		{name: "bridge over an sse adapter", ad: bridge{inner: bridge{}}, want: "sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := provider.NewEventReader(tc.ad, strings.NewReader("event: sse\ndata: {}\n\n")).Next()
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.Name) != tc.want {
				t.Fatalf("event %q, want %q", ev.Name, tc.want)
			}
		})
	}
}
