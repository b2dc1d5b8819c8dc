package responses

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// testModel is the model the router mapped the request to; the request
// bodies ask for gpt-4o to show that r.Model wins.
const testModel = "claude-sonnet-4-20250514"

const testCreated = 1700000000

// counterIDs numbers ids per prefix, so goldens are stable.
func counterIDs() func(string) string {
	n := map[string]int{}
	return func(prefix string) string {
		n[prefix]++
		return fmt.Sprintf("%stest%d", prefix, n[prefix])
	}
}

// newTestBridge wraps inner (an openai_compatible adapter by default: it
// passes the chat body on untouched) with fixed time and ids.
func newTestBridge(inner provider.Adapter) *bridge {
	if inner == nil {
		inner = openai.New("openai_compatible")
	}
	return newBridge(inner, func() time.Time { return time.Unix(testCreated, 0) }, counterIDs())
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

// checkGolden compares got with the golden file byte for byte; with
// -update it rewrites it. JSON is indented for review.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if json.Valid(got) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
		got = buf.Bytes()
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
