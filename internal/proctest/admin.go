package proctest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Admin sends a request to an admin API (kt sim's fault injection and
// stats, the gateway's): body, when not nil, is sent as JSON. Anything but
// 200 fails the test; the answer's body is returned.
func Admin(t testing.TB, method, url string, body any) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	return b
}
