package drill

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the gateway's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsCanary runs every scenario with canary API keys and checks that
// no key shows up in the logs (debug level), spans, events, error bodies,
// /health?verbose=1, the report or the lint output.
func TestSecretsCanary(t *testing.T) {
	canaries := []string{"sk-canary-" + randomHex(16), "sk-ant-canary-" + randomHex(16)}
	environ := []string{"OPENAI_API_KEY=" + canaries[0], "ANTHROPIC_API_KEY=" + canaries[1]}
	cfg := testConfig(t)

	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true}))
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "drill-canary", SpanProcessors: []sdktrace.SpanProcessor{rec}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()

	// Where a key could leak, by name.
	seen := map[string]*strings.Builder{}
	add := func(where, s string) {
		if seen[where] == nil {
			seen[where] = &strings.Builder{}
		}
		seen[where].WriteString(s)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(url string) string {
		resp, err := client.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Www-Authenticate") + string(b)
	}
	for _, sc := range Scenarios() {
		rep, err := Run(context.Background(), Options{
			Data: cfg, File: "drill.yaml", Environ: environ, Scenario: sc, RPS: 50, Duration: 1200 * time.Millisecond,
			StreamShare: 0.5, Logger: logger, Telemetry: tel,
			Inspect: func(u string) {
				add("events", get(u+"/v1/events?last=10000"))
				add("/health", get(u+"/health?verbose=1"))
				add("/health", get(u+"/health"))
				add("/v1/models", get(u+"/v1/models"))
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent == 0 {
			t.Fatalf("%s: nothing sent", sc)
		}
		var b bytes.Buffer
		_ = rep.WriteJSON(&b)
		_ = rep.WriteTable(&b)
		add("report and error bodies", b.String())
	}
	add("logs", logs.String())
	if !strings.Contains(logs.String(), "Gateway ready") {
		t.Fatal("the log capture saw no gateway log")
	}
	spans := rec.Ended()
	if len(spans) == 0 {
		t.Fatal("no span recorded")
	}
	for _, s := range spans {
		add("spans", s.Name()+" "+s.Status().Description)
		for _, a := range s.Attributes() {
			add("spans", fmt.Sprintf(" %s=%s", a.Key, a.Value.String()))
		}
		for _, e := range s.Events() {
			add("spans", " "+e.Name)
			for _, a := range e.Attributes {
				add("spans", fmt.Sprintf(" %s=%s", a.Key, a.Value.String()))
			}
		}
		for _, a := range s.Resource().Attributes() {
			add("spans", fmt.Sprintf(" %s=%s", a.Key, a.Value.String()))
		}
	}
	// kt policy lint: a valid file and one with problems.
	for _, data := range [][]byte{cfg, append(bytes.Clone(cfg), []byte("\nbogus: 1\n")...)} {
		f, problems, err := config.Load(config.LoadOptions{File: "drill.yaml", Data: data, Environ: environ})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		config.Lint(&out, "drill.yaml", f, problems)
		add("lint", out.String())
	}
	if !strings.Contains(seen["lint"].String(), "OPENAI_API_KEY") {
		t.Fatalf("lint output does not name the variable; the check means nothing:\n%s", seen["lint"])
	}
	for where, b := range seen {
		for _, c := range canaries {
			// A prefix of the key is enough to leak it.
			if strings.Contains(b.String(), c[len(c)-16:]) {
				t.Errorf("a canary key appears in %s", where)
			}
		}
	}
}
