package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/gateway"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// liveGateway runs a real gateway in-process in front of a simulated provider.
func liveGateway(t *testing.T) string {
	t.Helper()
	up, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", sim.New(sim.Options{Kind: sim.KindOpenAI}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	yaml := fmt.Sprintf("version: '1'\nproviders:\n  targets:\n    - id: openai-primary\n      provider: openai\n      base_url: %s/v1\n      secret_key_ref: {env: K}\nevents:\n  path: %s\n",
		up.URL(), filepath.Join(t.TempDir(), "events.db"))
	cfg, problems, err := config.Load(config.LoadOptions{Data: []byte(yaml), Environ: []string{"K=x"}})
	if err != nil || problems.Err() != nil {
		t.Fatal(err, problems)
	}
	gw, err := gateway.New(cfg, []string{"K=x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.Close(); _ = gw.Close(context.Background()) })
	return srv.URL
}

func ask(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestEventsTail(t *testing.T) {
	url := liveGateway(t)
	for range 3 {
		ask(t, url)
	}
	var out string
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		out, _, err = run(t, nil, "events", "tail", "--gateway", url, "--last", "2", "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var evs []events.Event
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("not one JSON array: %v\n%s", err, out)
		}
		if len(evs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 2 events, got %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _, err := run(t, nil, "events", "tail", "--gateway", url, "--format", "table")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "openai-primary") {
		t.Fatalf("table:\n%s", out)
	}
	if _, _, err := run(t, nil, "events", "tail", "--gateway", url, "--format", "xml"); err == nil {
		t.Fatal("--format xml accepted")
	}
}

func TestEventsTailFollow(t *testing.T) {
	url := liveGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- MainEnv(ctx, []string{"events", "tail", "--follow", "--format", "json", "--gateway", url}, out, io.Discard, nil)
	}()
	// The follower subscribes after printing the (empty) history; keep
	// asking until a followed event shows up.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"provider":"openai-primary"`) {
		if time.Now().After(deadline) {
			t.Fatalf("--follow printed no new event: %q", out.String())
		}
		ask(t, url)
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow ended with %v", err)
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	var e events.Event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("--follow --format json prints one JSON object per line: %v %q", err, line)
	}
}

// fakeGateway is an event API scripted by the test: it records what each
// request asked for and answers with evs (GET /v1/events) and stream (GET
// /v1/events/stream, unfiltered), or refuses every request with status
// and body.
type fakeGateway struct {
	evs    []events.Event
	stream []events.Event
	status int    // non-zero: refuse with this status
	body   string // the refusal's body

	mu   sync.Mutex
	reqs []*http.Request
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.reqs = append(g.reqs, r.Clone(context.Background()))
	g.mu.Unlock()
	if g.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(g.status)
		_, _ = io.WriteString(w, g.body)
		return
	}
	switch r.URL.Path {
	case "/v1/events":
		_ = json.NewEncoder(w).Encode(g.evs)
	case "/v1/events/stream":
		// Every scripted event, as a gateway whose stream ignores the
		// team filter would send them; then the stream ends.
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range g.stream {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
	default:
		http.NotFound(w, r)
	}
}

func (g *fakeGateway) requests() []*http.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*http.Request(nil), g.reqs...)
}

func startFakeGateway(t *testing.T, g *fakeGateway) string {
	t.Helper()
	srv := httptest.NewServer(g) // 127.0.0.1
	t.Cleanup(srv.Close)
	return srv.URL
}

func teamEvents() []events.Event {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return []events.Event{
		{ID: "evt_1", Timestamp: t0, Provider: "openai-primary", Status: 200, Team: "platform", KeyName: "ci-key"},
		{ID: "evt_2", Timestamp: t0.Add(time.Second), Provider: "openai-primary", Status: 200, Team: "data-science", KeyName: "ds-key"},
		{ID: "evt_3", Timestamp: t0.Add(2 * time.Second), Provider: "openai-primary", Status: 200, Team: "platform", KeyName: "ci-key"},
	}
}

func TestEventsTailTeamAndToken(t *testing.T) {
	tests := []struct {
		name     string
		environ  []string
		args     []string
		wantAuth string
		wantTeam string
	}{
		{"no token, no header", nil, nil, "", ""},
		{"token sent as bearer", []string{"KEEPTRUSTS_ADMIN_TOKEN=s3cret-admin"}, nil, "Bearer s3cret-admin", ""},
		{"surrounding whitespace dropped, last entry wins", []string{"KEEPTRUSTS_ADMIN_TOKEN=old", "KEEPTRUSTS_ADMIN_TOKEN= s3cret-admin\n"}, nil, "Bearer s3cret-admin", ""},
		{"blank token is no token", []string{"KEEPTRUSTS_ADMIN_TOKEN=  "}, nil, "", ""},
		{"team filter", nil, []string{"--team", "data-science"}, "", "data-science"},
		{"team filter and token", []string{"KEEPTRUSTS_ADMIN_TOKEN=s3cret-admin"}, []string{"--team", "platform", "--last", "3"}, "Bearer s3cret-admin", "platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fakeGateway{evs: teamEvents()}
			url := startFakeGateway(t, g)
			out, _, err := run(t, tt.environ, append([]string{"events", "tail", "--gateway", url, "--format", "table"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			reqs := g.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got, has := r.URL.Query().Get(events.ParamTeam), r.URL.Query().Has(events.ParamTeam); got != tt.wantTeam || has != (tt.wantTeam != "") {
				t.Errorf("query %q: team = %q, want %q", r.URL.RawQuery, got, tt.wantTeam)
			}
			if _, err := events.ParseFilter(r.URL.Query()); err != nil {
				t.Errorf("the gateway would refuse the query %q: %v", r.URL.RawQuery, err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 4 || !strings.Contains(lines[0], " TEAM ") || !strings.Contains(lines[2], "data-science") {
				t.Errorf("table with teams:\n%s", out)
			}
		})
	}
}

func TestEventsTailAdminRefused(t *testing.T) {
	const token = "s3cret-admin"
	unauthorized := `{"error":{"message":"missing or invalid admin token: send \"Authorization: Bearer <admin token>\"","type":"invalid_request_error","param":null,"code":"invalid_admin_token"}}`
	forbidden := `{"error":{"message":"management endpoints are disabled: this server is bound to a non-loopback address and no admin token is configured; set admin.token_ref in the config, or bind to 127.0.0.1","type":"invalid_request_error","param":null,"code":"admin_token_required"}}`
	tests := []struct {
		name    string
		status  int
		body    string
		environ []string
		follow  bool
		want    []string
	}{
		{"401 without a token", 401, unauthorized, nil, false,
			[]string{"401 Unauthorized", "missing or invalid admin token", "set KEEPTRUSTS_ADMIN_TOKEN"}},
		{"401 with a wrong token", 401, unauthorized, []string{"KEEPTRUSTS_ADMIN_TOKEN=" + token}, false,
			[]string{"401 Unauthorized", "missing or invalid admin token", "did not accept the token in KEEPTRUSTS_ADMIN_TOKEN"}},
		{"403 without a token configured on the gateway", 403, forbidden, nil, false,
			[]string{"403 Forbidden", "set admin.token_ref in the config, or bind to 127.0.0.1", "set KEEPTRUSTS_ADMIN_TOKEN"}},
		{"a body echoing the token is redacted", 401, `{"error":{"message":"bad header Bearer ` + token + `"}}`, []string{"KEEPTRUSTS_ADMIN_TOKEN=" + token}, false,
			[]string{"bad header Bearer [redacted]", "KEEPTRUSTS_ADMIN_TOKEN"}},
		{"401 on follow", 401, unauthorized, nil, true,
			[]string{"401 Unauthorized", "missing or invalid admin token", "set KEEPTRUSTS_ADMIN_TOKEN"}},
		{"403 on follow with a token", 403, forbidden, []string{"KEEPTRUSTS_ADMIN_TOKEN=" + token}, true,
			[]string{"403 Forbidden", "admin.token_ref", "set KEEPTRUSTS_ADMIN_TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startFakeGateway(t, &fakeGateway{status: tt.status, body: tt.body})
			args := []string{"events", "tail", "--gateway", url, "--store", filepath.Join(t.TempDir(), "none.db")}
			if tt.follow {
				args = append(args, "--follow")
			}
			out, stderr, err := run(t, tt.environ, args...)
			if err == nil {
				t.Fatalf("a refused request succeeded: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error()+out+stderr, token) {
				t.Errorf("the token was printed: err %q stdout %q stderr %q", err, out, stderr)
			}
			if strings.Contains(stderr, "local event store") {
				t.Errorf("a refusal fell back to the local store: %q", stderr)
			}
		})
	}
}

func TestEventsTailTokenWithControlCharacters(t *testing.T) {
	g := &fakeGateway{evs: teamEvents()}
	url := startFakeGateway(t, g)
	_, _, err := run(t, []string{"KEEPTRUSTS_ADMIN_TOKEN=ab\x00cd-secret"}, "events", "tail", "--gateway", url)
	if err == nil || !strings.Contains(err.Error(), "KEEPTRUSTS_ADMIN_TOKEN contains control characters") || strings.Contains(err.Error(), "cd-secret") {
		t.Fatalf("err = %v, want a control character error without the token", err)
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("%d requests sent with an unusable token", n)
	}
}

// With the gateway down, --team filters the local store.
func TestEventsTailTeamLocalStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	st, err := events.OpenSQLite(path, events.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	evs := teamEvents()
	now := time.Now().UTC()
	for i := range evs {
		evs[i].Timestamp = now.Add(time.Duration(i) * time.Millisecond) // within retention
	}
	if err := st.Insert(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()

	out, stderr, err := run(t, []string{"KEEPTRUSTS_ADMIN_TOKEN=s3cret-admin"}, "events", "tail", "--gateway", down, "--store", path, "--team", "platform", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "reading the local event store") || strings.Contains(stderr, "s3cret-admin") {
		t.Errorf("stderr = %q", stderr)
	}
	var got []events.Event
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "evt_1" || got[1].ID != "evt_3" || got[0].KeyName != "ci-key" {
		t.Errorf("local store with --team platform = %+v, want evt_1 and evt_3", got)
	}
}

func TestEventsTailFollowTeam(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		headerTeam   bool     // the first header has a TEAM column
		want, reject []string // substrings of stdout's lines; want in order
	}{
		{
			// The history is empty: the header has no TEAM column until
			// an event with a team arrives, which repeats it with one.
			"table grows a team column", []string{"--format", "table"}, false,
			[]string{"TIME", "evt_0", "TEAM", "evt_1", "evt_2", "evt_3"}, nil,
		},
		{
			"team filtered on the client too", []string{"--format", "table", "--team", "platform"}, true,
			[]string{"TEAM", "evt_1", "evt_3"}, []string{"evt_0", "evt_2", "data-science"},
		},
		{
			"json", []string{"--format", "json", "--team", "data-science"}, false,
			[]string{`"id":"evt_2"`}, []string{"evt_0", "evt_1", "evt_3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No history; the stream sends an event without a team (auth
			// refused it) before the team ones.
			now := time.Now().UTC()
			stream := append([]events.Event{{ID: "evt_0", Provider: "openai-primary", Status: 401}}, teamEvents()...)
			for i := range stream {
				stream[i].Timestamp = now
			}
			g := &fakeGateway{evs: []events.Event{}, stream: stream}
			url := startFakeGateway(t, g)
			out, _, err := run(t, []string{"KEEPTRUSTS_ADMIN_TOKEN=s3cret-admin"}, append([]string{"events", "tail", "--follow", "--gateway", url}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), "closed the event stream") {
				t.Fatalf("follow ended with %v, want the stream closed", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if tt.headerTeam != strings.Contains(lines[0], "TEAM") && strings.HasPrefix(lines[0], "TIME") {
				t.Errorf("first header %q: TEAM shown %v, want %v", lines[0], !tt.headerTeam, tt.headerTeam)
			}
			i := 0
			for _, l := range lines {
				if i < len(tt.want) && strings.Contains(l, tt.want[i]) {
					i++
				}
				for _, r := range tt.reject {
					if strings.Contains(l, r) {
						t.Errorf("line %q has %q", l, r)
					}
				}
			}
			if i != len(tt.want) {
				t.Errorf("output lacks %q (in order):\n%s", tt.want[i:], out)
			}
			reqs := g.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want the history and the stream", len(reqs))
			}
			for _, r := range reqs {
				if r.Header.Get("Authorization") != "Bearer s3cret-admin" {
					t.Errorf("%s sent without the admin token", r.URL.Path)
				}
			}
		})
	}
}

// The table's ENDPOINT column appears with the first event not made to
// chat, under a repeated header, as the TEAM column does; json always
// carries the endpoint.
func TestEventsTailFollowEndpoint(t *testing.T) {
	now := time.Now().UTC()
	stream := []events.Event{
		{ID: "evt_1", Timestamp: now, Endpoint: "chat", Provider: "openai-primary", Status: 200},
		{ID: "evt_2", Timestamp: now, Endpoint: "messages", Provider: "anthropic-fallback", Status: 200},
		{ID: "evt_3", Timestamp: now, Endpoint: "chat", Provider: "openai-primary", Status: 200},
	}
	tests := []struct {
		name string
		args []string
		want []string // substrings of stdout's lines, in order
	}{
		{"table grows an endpoint column", []string{"--format", "table"},
			[]string{"TIME", "evt_1", "ENDPOINT", "messages", "chat"}},
		{"json", []string{"--format", "json"},
			[]string{`"endpoint":"chat"`, `"endpoint":"messages"`, `"endpoint":"chat"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fakeGateway{evs: []events.Event{}, stream: stream}
			url := startFakeGateway(t, g)
			out, _, err := run(t, nil, append([]string{"events", "tail", "--follow", "--gateway", url}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), "closed the event stream") {
				t.Fatalf("follow ended with %v, want the stream closed", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if tt.args[1] == "table" && strings.Contains(lines[0], "ENDPOINT") {
				t.Errorf("first header %q shows ENDPOINT before any other endpoint", lines[0])
			}
			i := 0
			for _, l := range lines {
				if i < len(tt.want) && strings.Contains(l, tt.want[i]) {
					i++
				}
			}
			if i != len(tt.want) {
				t.Errorf("output lacks %q (in order):\n%s", tt.want[i:], out)
			}
		})
	}
}
