package azure

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzErrorBody: whatever an upstream answers, the client gets a JSON
// OpenAI error with a message and a type.
func FuzzErrorBody(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "errors", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(400, b)
		}
	}
	f.Add(429, []byte(`{"error":{"message":1,"type":null}}`))
	f.Add(500, []byte(`{"error":{"message":"x","type":""}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		out := errorBody(status, body)
		if !gjson.ValidBytes(out) {
			t.Fatalf("invalid JSON for %q: %q", body, out)
		}
		if m := gjson.GetBytes(out, "error.message"); m.Type != gjson.String {
			t.Fatalf("no message for %q: %s", body, out)
		}
		if ty := gjson.GetBytes(out, "error.type"); ty.Type != gjson.String {
			t.Fatalf("no type for %q: %s", body, out)
		}
	})
}
