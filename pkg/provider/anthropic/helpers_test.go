package anthropic

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// testModel is the model the router would have mapped the request to; the
// request bodies ask for gpt-4o-mini to show that r.Model wins.
const testModel = "claude-sonnet-4-20250514"

// testCreated pins the created timestamp so goldens are stable.
const testCreated = 1700000000

func newTestAdapter() *adapter {
	return &adapter{now: func() time.Time { return time.Unix(testCreated, 0) }}
}

// cases lists the case names of files in dir ending in suffix.
func cases(t testing.TB, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) {
			names = append(names, strings.TrimSuffix(e.Name(), suffix))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no %s files in %s", suffix, dir)
	}
	return names
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGoldenJSON compares got with the golden file semantically (key order
// and whitespace do not matter), ignoring the keys listed in ignore at the top
// level. With -update it rewrites the golden, indented for review.
func checkGoldenJSON(t *testing.T, got []byte, path string, ignore ...string) {
	t.Helper()
	if *update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, got)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readFile(t, path)
	g, w := decodeAny(t, got), decodeAny(t, want)
	for _, k := range ignore {
		if gm, ok := g.(map[string]any); ok {
			delete(gm, k)
		}
		if wm, ok := w.(map[string]any); ok {
			delete(wm, k)
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s mismatch (run with -update to regenerate)\ngot:\n%s\nwant:\n%s", filepath.Base(path), indent(got), want)
	}
}

func checkGoldenBytes(t *testing.T, got []byte, path string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want := readFile(t, path); !bytes.Equal(got, want) {
		t.Errorf("%s mismatch (run with -update to regenerate)\ngot:\n%s\nwant:\n%s", filepath.Base(path), got, want)
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

func indent(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}
