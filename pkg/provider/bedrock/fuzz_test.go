package bedrock

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

func addFixtures(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if strings.Contains(p, ".golden") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzTranslateRequest: any body is translated into valid JSON or refused
// with a RequestError naming the field; never a panic.
func FuzzTranslateRequest(f *testing.F) {
	addFixtures(f, "testdata/requests/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := translateRequest(body, 64)
		if err != nil {
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("not a RequestError: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
	})
}

// FuzzTranslateResponse: any answer is translated into a valid
// chat.completion or refused with an error.
func FuzzTranslateResponse(f *testing.F) {
	addFixtures(f, "testdata/responses/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := translateResponse(body, "id", "m", 1)
		if err == nil && !json.Valid(res.Body) {
			t.Fatalf("invalid JSON: %s", res.Body)
		}
	})
}

// FuzzEventStream: any body, read by the event reader and translated by
// the stream, yields only whole SSE data frames of JSON, and ends with an
// error unless [DONE] went out.
func FuzzEventStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/streams/*.txt")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		enc := encodeFrames(f, string(b))
		f.Add(enc)
		f.Add(enc[:len(enc)/2])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, s, err := runStream(t, body, true)
		for _, fr := range strings.SplitAfter(out, "\n\n") {
			if fr == "" {
				continue
			}
			d, ok := strings.CutPrefix(fr, "data: ")
			d = strings.TrimSuffix(d, "\n\n")
			if !ok || d != "[DONE]" && !json.Valid([]byte(d)) {
				t.Fatalf("bad frame %q", fr)
			}
		}
		if err == nil && !s.Done() {
			t.Fatalf("stream ended without error and without [DONE]: %q", out)
		}
	})
}
