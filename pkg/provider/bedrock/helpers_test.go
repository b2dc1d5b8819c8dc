package bedrock

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch (run with -update to regenerate)\ngot:\n%s\nwant:\n%s", filepath.Base(path), got, want)
	}
}

// testAdapter is an adapter with pinned ids and clock, signing nothing.
func testAdapter() *adapter {
	a := New("us-east-1", nil).(*adapter)
	a.now = func() time.Time { return time.Unix(1700000000, 0) }
	a.newID = func() string { return "chatcmpl-test" }
	return a
}

// encodeFrames turns a fixture of lines "<message-type> <name> <json>"
// (message-type event, exception or error) into a binary event stream.
func encodeFrames(t testing.TB, fixture string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	sc := bufio.NewScanner(strings.NewReader(fixture))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		name, payload, _ := strings.Cut(rest, " ")
		if err := enc.Encode(&buf, frame(typ, name, []byte(payload))); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// frame builds one event stream message as Bedrock sends it.
func frame(typ, name string, payload []byte) eventstream.Message {
	var hs eventstream.Headers
	hs.Set(":message-type", eventstream.StringValue(typ))
	switch typ {
	case "event":
		hs.Set(":event-type", eventstream.StringValue(name))
		hs.Set(":content-type", eventstream.StringValue("application/json"))
	case "exception":
		hs.Set(":exception-type", eventstream.StringValue(name))
		hs.Set(":content-type", eventstream.StringValue("application/json"))
	case "error":
		hs.Set(":error-code", eventstream.StringValue(name))
		hs.Set(":error-message", eventstream.StringValue(string(payload)))
		payload = nil
	}
	return eventstream.Message{Headers: hs, Payload: payload}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
