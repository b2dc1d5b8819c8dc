package drill

import (
	"bytes"
	"testing"
)

// FuzzReadFrames checks that timing a stream's frames never changes the
// body the drill judges (complete, error samples) and never gives a
// negative silence.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\n"))
	f.Add([]byte("data: partial"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gap, err := readFrames(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("body %q read as %q", body, got)
		}
		if gap < 0 {
			t.Fatalf("negative silence %v", gap)
		}
	})
}
