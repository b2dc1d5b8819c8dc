package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keeptrusts/gateway/internal/proctest"
	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// The simulators' keys; the gateway reads them from its environment.
const (
	openAIKey    = "sk-faults-openai"
	anthropicKey = "sk-ant-faults-anthropic"
	// The target ids of every stack.
	primaryID  = "openai-primary"
	fallbackID = "anthropic-fallback"
)

// simProc is a running `kt sim`.
type simProc struct {
	proc  *proctest.Proc
	kind  sim.Kind
	base  string // the gateway's base_url for it
	admin string // its admin API
}

// stack is a gateway in front of an OpenAI-shaped primary and an
// Anthropic-shaped fallback, each a real process.
type stack struct {
	gw       string
	gwProc   *proctest.Proc
	primary  *simProc
	fallback *simProc
	client   *http.Client
}

var (
	readyAttr = regexp.MustCompile(`(base_url|admin|addr)=(\S+)`)
)

// attrs reads key=value attributes from the first output line holding
// marker, waiting for it; the process failing first fails the test.
func attrs(t *testing.T, p *proctest.Proc, marker string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), marker) {
				m := map[string]string{}
				for _, kv := range readyAttr.FindAllStringSubmatch(sc.Text(), -1) {
					m[kv[1]] = kv[2]
				}
				return m
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("%s exited before %q:\n%s", p.Name, marker, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within 30s:\n%s", p.Name, marker, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startSim runs `kt sim` on ports the system picks and waits until it
// listens (a gateway probing a simulator still starting would mark it
// unhealthy).
func startSim(t *testing.T, kind sim.Kind, key string) *simProc {
	t.Helper()
	p := proctest.Start(t, "kt sim "+string(kind), []string{"XDG_STATE_HOME=" + stateDir}, ktBin,
		"sim", "--kind", string(kind), "--port", "0", "--admin-port", "0", "--expect-key", key)
	a := attrs(t, p, "provider ready")
	return &simProc{proc: p, kind: kind, base: a["base_url"], admin: a["admin"]}
}

// startStack starts both simulators and a gateway whose configuration is
// cfg(primary base_url, fallback base_url, event store path).
func startStack(t *testing.T, cfg func(primary, fallback, store string) string) *stack {
	t.Helper()
	s := &stack{primary: startSim(t, sim.KindOpenAI, openAIKey), fallback: startSim(t, sim.KindAnthropic, anthropicKey)}
	dir := t.TempDir()
	path := filepath.Join(dir, "policy-config.yaml")
	if err := os.WriteFile(path, []byte(cfg(s.primary.base, s.fallback.base, filepath.Join(dir, "events.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	s.gwProc = proctest.Start(t, "kt gateway run", []string{
		"XDG_STATE_HOME=" + stateDir, "OPENAI_API_KEY=" + openAIKey, "ANTHROPIC_API_KEY=" + anthropicKey,
	}, ktBin, "gateway", "run", "--policy-config", path)
	s.gw = attrs(t, s.gwProc, "Gateway ready")["addr"]
	// A safety net far above every bound the tests assert: a request the
	// gateway never ends fails the test instead of hanging it.
	s.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// modelStats is what simulator s saw of model m.
func (s *simProc) modelStats(t *testing.T, m string) sim.ModelStats {
	t.Helper()
	var ms sim.ModelStats
	if err := json.Unmarshal(proctest.Admin(t, http.MethodGet, s.admin+"/stats/models/"+m, nil), &ms); err != nil {
		t.Fatal(err)
	}
	return ms
}

// stats is everything simulator s counted.
func (s *simProc) stats(t *testing.T) sim.Stats {
	t.Helper()
	var st sim.Stats
	if err := json.Unmarshal(proctest.Admin(t, http.MethodGet, s.admin+"/stats", nil), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// reply is what the client received, parsed.
type reply struct {
	status  int
	header  http.Header
	body    []byte
	start   time.Time
	elapsed time.Duration
	// provider is the target that answered, as keeptrusts_metadata (or a
	// stream's X-Keeptrusts-Provider header) says.
	provider string
	stream   bool
	// text is the answer: the message content, or the concatenated
	// content deltas of a stream.
	text string
	// finish is the (last) finish_reason.
	finish string
	// done: the stream ended with data: [DONE].
	done bool
	// errCode and errMsg are the error body's, or a stream's in-band
	// error event's.
	errCode, errMsg string
	// malformed counts stream frames that are not valid JSON.
	malformed int
	// ids and models are the distinct chunk ids and models of a stream.
	ids, models map[string]bool
}

// chatBody is a chat request for model with one user message.
func chatBody(model, prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
		"stream":   stream,
	})
	return string(b)
}

// chat sends one chat request through the gateway and reads the whole
// answer, timing it.
func (s *stack) chat(t *testing.T, model, prompt string, stream bool) reply {
	t.Helper()
	r, err := s.send(model, prompt, stream)
	if err != nil {
		t.Fatalf("chat %s: %v", model, err)
	}
	return r
}

// send is chat for goroutines other than the test's: it returns what
// went wrong instead of failing the test.
func (s *stack) send(model, prompt string, stream bool) (reply, error) {
	req, err := http.NewRequest(http.MethodPost, s.gw+"/v1/chat/completions", strings.NewReader(chatBody(model, prompt, stream)))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, body: body, start: start, elapsed: time.Since(start), stream: stream}
	if err != nil {
		return r, fmt.Errorf("reading the answer: %w (after %s)\n%s", err, r.elapsed, body)
	}
	if stream && resp.StatusCode == http.StatusOK {
		err = r.parseSSE()
	} else {
		err = r.parseJSON()
	}
	return r, err
}

func (r *reply) parseJSON() error {
	var v struct {
		Metadata struct {
			Provider string `json:"provider"`
		} `json:"keeptrusts_metadata"`
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Error *struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		return fmt.Errorf("answer is not JSON (%d): %w\n%s", r.status, err, r.body)
	}
	r.provider = v.Metadata.Provider
	if v.Error != nil {
		r.errCode, r.errMsg = v.Error.Code, v.Error.Message
	}
	if len(v.Choices) > 0 {
		r.text, r.finish = v.Choices[0].Message.Content, v.Choices[0].FinishReason
	}
	return nil
}

func (r *reply) parseSSE() error {
	r.provider = r.header.Get("X-Keeptrusts-Provider")
	r.ids, r.models = map[string]bool{}, map[string]bool{}
	for _, ev := range strings.Split(string(r.body), "\n\n") {
		for _, line := range strings.Split(ev, "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			if r.done {
				return fmt.Errorf("frame after [DONE]: %q", line)
			}
			if data == "[DONE]" {
				r.done = true
				continue
			}
			var c struct {
				ID      string `json:"id"`
				Model   string `json:"model"`
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
				Error *struct {
					Message string `json:"message"`
					Code    string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				r.malformed++
				continue
			}
			if c.Error != nil {
				r.errCode, r.errMsg = c.Error.Code, c.Error.Message
				continue
			}
			r.ids[c.ID], r.models[c.Model] = true, true
			for _, ch := range c.Choices {
				r.text += ch.Delta.Content
				if ch.FinishReason != "" {
					r.finish = ch.FinishReason
				}
			}
		}
	}
	return nil
}

// answer is the simulator's full answer to a single user message (see
// docs/sim.md, "How the answer text is derived").
func answer(kind sim.Kind, prompt string) string {
	if strings.Contains(strings.ToLower(prompt), "capital of france") {
		return "The capital of France is Paris."
	}
	u := strings.Join(strings.Fields(prompt), " ")
	if utf8.RuneCountInString(u) > 60 {
		u = string([]rune(u)[:60])
	}
	if u == "" {
		return "Simulated " + string(kind) + " answer."
	}
	return "Simulated " + string(kind) + " answer to: " + u
}

// checkNoTruncatedSuccess is the suite's invariant: an answer presented as
// a success (a 200 JSON answer, or a stream that ended with [DONE]) holds
// the full answer of one of the simulators, finished normally, with no
// broken frame; a stream that is not complete ends with an in-band error
// rather than silence.
func checkNoTruncatedSuccess(t *testing.T, r reply, prompt string) {
	t.Helper()
	full := map[string]bool{answer(sim.KindOpenAI, prompt): true, answer(sim.KindAnthropic, prompt): true}
	success := r.status == http.StatusOK && (!r.stream || r.done)
	switch {
	case success && (!full[r.text] || r.finish != "stop" || r.malformed > 0 || r.errCode != ""):
		t.Errorf("truncated answer presented as success: text %q finish %q, %d malformed frames, error %q\n%s",
			r.text, r.finish, r.malformed, r.errCode, r.body)
	case r.stream && r.status == http.StatusOK && !r.done && r.errCode == "":
		t.Errorf("a stream ended without [DONE] and without an error event:\n%s", r.body)
	case r.status != http.StatusOK && r.errCode == "" && r.errMsg == "":
		t.Errorf("status %d without an error body:\n%s", r.status, r.body)
	}
}

// event waits for the event of the request the client got reply r for.
func (s *stack) event(t *testing.T, r reply) events.Event {
	t.Helper()
	id := r.header.Get("X-Request-Id")
	if id == "" {
		t.Fatalf("answer without X-Request-Id")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range s.events(t) {
			if e.RequestID == id {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event for %s within 10s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// events is the last 10000 events of the gateway (GET /v1/events).
func (s *stack) events(t *testing.T) []events.Event {
	t.Helper()
	resp, err := s.client.Get(s.gw + "/v1/events?last=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []events.Event
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

// attemptsOf renders an event's attempts as "p|f outcome [status] [rN]
// [skipped]", p for the primary and f for the fallback.
func attemptsOf(e events.Event) []string {
	out := make([]string, 0, len(e.Attempts))
	for _, a := range e.Attempts {
		s := map[string]string{primaryID: "p", fallbackID: "f"}[a.Target] + " " + a.Outcome
		if a.Status != 0 {
			s += fmt.Sprint(" ", a.Status)
		}
		if a.Retry > 0 {
			s += fmt.Sprint(" r", a.Retry)
		}
		if a.Skipped {
			s += " skipped"
		}
		out = append(out, s)
	}
	return out
}

// scrape reads the gateway's /metrics, each metric summed over its labels.
func scrape(t *testing.T, s *stack) map[string]float64 {
	t.Helper()
	resp, err := s.client.Get(s.gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		f := strings.Fields(line)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err == nil {
			m[name] += v
		}
	}
	return m
}
