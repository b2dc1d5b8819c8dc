package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var allCategories = []string{"hate", "violence", "self_harm", "sexual", "harassment"}

// newEngine builds an engine or fails the test.
func newEngine(t testing.TB, ps ...config.Policy) *Engine {
	t.Helper()
	e, err := New(ps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func pol(name, action string, cats ...string) config.Policy {
	return config.Policy{Name: name, Type: TypeContentFilter, Action: action, Config: config.PolicyConfig{Categories: cats}}
}

// perCategory returns one policy per category, named after it.
func perCategory(action string) []config.Policy {
	ps := make([]config.Policy, 0, len(allCategories))
	for _, c := range allCategories {
		ps = append(ps, pol(c, action, c))
	}
	return ps
}

// userBody is a request with one user message.
func userBody(t testing.TB, text string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"model":    "gpt-4o-mini",
		"messages": []map[string]any{{"role": "user", "content": text}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// content decodes messages[i].content of a request body as a string.
func content(t *testing.T, body []byte, i int) string {
	t.Helper()
	var req struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, body)
	}
	return req.Messages[i].Content
}

// rot13 in tests keeps slurs out of the test source as the lists do.
func slur(s string) string { return rot13(s) }

// categoryCases are, per category, texts that must hit it (and only the
// categories listed) and texts that must not hit anything.
var categoryCases = []struct {
	category string
	hits     []string
	misses   []string
}{
	{
		category: "violence",
		hits: []string{
			"I will kill you",
			"K1LL Y0U",
			"k.i.l.l you right now",
			"kiiiill youuuu",
			"i will ki11 you",
			"killlllll youuuu",
			"I'm gonna HURT him so bad",
			"How to make a bomb at home?",
			"they plan to shoot up the school tomorrow",
			"Ｉ ｗｉｌｌ ｋｉｌｌ ｙｏｕ",
			"i will k\u200bill y\u00f6u",
		},
		misses: []string{
			"How do I kill the process on port 8080?",
			"I'm going to kill the process and restart it",
			"We'll shoot a photo at sunset",
			"That photo bomb was hilarious",
			"Great skill, you nailed it",
			"I'll shoot you an email tomorrow",
			"kill -9 1234",
			"The murder mystery novel was great",
		},
	},
	{
		category: "self_harm",
		hits: []string{
			"I want to kill myself",
			"i just want to end my life",
			"what is the most painless way to die",
			"k1ll mys3lf",
			"SUICIDE METHODS that work",
		},
		misses: []string{
			"My therapist helped a lot",
			"I don't want to die",
			"I cut myself shaving this morning",
			"The Suicide Squad movie",
			"I was killing myself laughing",
		},
	},
	{
		category: "sexual",
		hits: []string{
			"send nudes",
			"watch free porn",
			"p0rn",
			"b.l.o.w.j.o.b",
			"Pornography sites",
		},
		misses: []string{
			"a blue tit landed on the feeder",
			"graduated summa cum laude",
			"sex education curriculum",
			"Scunthorpe",
			"the cockpit and the cocktail",
		},
	},
	{
		category: "hate",
		hits: []string{
			"Heil Hitler",
			"immigrants are vermin",
			"DEATH TO ALL JEWS",
			slur("gurl ner nyy xvxrf"),
			slur("lbh svygul avttn"),
		},
		misses: []string{
			"the history of the holocaust",
			slur("Fcvp naq Fcna pyrnare"),
			slur("xnssve yvzr yrnirf"),
			"immigrants are welcome",
			"Niger is a country in West Africa",
		},
	},
	{
		category: "harassment",
		hits: []string{
			"you are worthless",
			"Nobody likes you",
			"u r pathetic",
			"you're an idiot",
			"go kill yourself",
			"STFU",
		},
		misses: []string{
			"This code is garbage",
			"you are welcome",
			"nobody likes Mondays",
			"You're right",
			"Scunthorpe",
		},
	},
}

func TestCategoriesByAction(t *testing.T) {
	for _, action := range []Action{ActionFlag, ActionBlock, ActionRedact} {
		e := newEngine(t, perCategory(string(action))...)
		want := map[Action]string{ActionFlag: OutcomeFlagged, ActionBlock: OutcomeBlocked, ActionRedact: OutcomeRedacted}[action]
		for _, tc := range categoryCases {
			ci := slices.Index(allCategories, tc.category)
			for n, text := range tc.hits {
				// Numbered, not named after the text: some texts are slurs.
				t.Run(fmt.Sprintf("%s/%s/hit/%d", action, tc.category, n), func(t *testing.T) {
					body := userBody(t, text)
					out, results, blocked, err := e.EvaluateRequest(body)
					if err != nil {
						t.Fatal(err)
					}
					for i, r := range results {
						if i != ci {
							if r.Hit() {
								t.Errorf("%q also hits %+v", text, r)
							}
							continue
						}
						if r.Policy != tc.category || r.Outcome != want || r.Matches < 1 || !slices.Equal(r.Categories, []string{tc.category}) {
							t.Errorf("%q: result = %+v, want outcome %s for %s", text, r, want, tc.category)
						}
					}
					if blocked != (action == ActionBlock) {
						t.Errorf("blocked = %v", blocked)
					}
					if action != ActionRedact {
						if &out[0] != &body[0] {
							t.Error("body was copied although nothing was redacted")
						}
						return
					}
					got := content(t, out, 0)
					if !strings.Contains(got, Redaction) {
						t.Errorf("content = %q, want a redaction", got)
					}
					// What is left must pass the category's policy.
					if _, again, _, err := e.EvaluateRequest(out); err != nil || again[ci].Hit() {
						t.Errorf("redacted %q still hits: %+v %v", got, again[ci], err)
					}
				})
			}
			for n, text := range tc.misses {
				t.Run(fmt.Sprintf("%s/%s/miss/%d", action, tc.category, n), func(t *testing.T) {
					body := userBody(t, text)
					out, results, blocked, err := e.EvaluateRequest(body)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range results {
						if r.Outcome != OutcomePass || r.Hit() || r.Categories != nil {
							t.Errorf("%q: result = %+v, want pass", text, r)
						}
					}
					if blocked || !bytes.Equal(out, body) {
						t.Errorf("blocked = %v, out changed = %v", blocked, !bytes.Equal(out, body))
					}
				})
			}
		}
	}
}

func TestBenignCorpus(t *testing.T) {
	data, err := os.ReadFile("testdata/benign.txt")
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, pol("all", "flag", allCategories...))
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		n++
		if r := e.EvaluateText(line); r[0].Hit() {
			t.Errorf("%q hit %v", line, r[0].Categories)
		}
	}
	if n < 50 {
		t.Fatalf("corpus has %d lines, want at least 50", n)
	}
}

func TestContentShapes(t *testing.T) {
	e := newEngine(t, pol("cf", "flag", "violence", "hate"))
	tests := []struct {
		name    string
		body    string
		matches int
	}{
		{"string", `{"messages":[{"role":"user","content":"I will kill you"}]}`, 1},
		{"parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"https://x/kill you.png"}},{"type":"text","text":"kill you"}]}]}`, 1},
		{"several messages and roles", `{"messages":[
			{"role":"system","content":"Heil Hitler"},
			{"role":"user","content":"hi"},
			{"role":"assistant","content":"kill you","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{\"q\":\"kill you\"}"}}]},
			{"role":"tool","tool_call_id":"1","content":[{"type":"text","text":"shoot you"}]}]}`, 3},
		{"null content", `{"messages":[{"role":"assistant","content":null,"tool_calls":[]}]}`, 0},
		{"tool definitions are not read", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"kill_you","description":"kill you"}}]}`, 0},
		{"image data is not read", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,a2lsbCB5b3U="}}]}]}`, 0},
		{"escaped text", `{"messages":[{"role":"user","content":"I will \u006bill\nyou"}]}`, 1},
		{"keys any case", `{"Messages":[{"role":"user","CONTENT":"kill you"}]}`, 1},
		{"duplicate content keys are all read", `{"messages":[{"role":"user","content":"hello","content":"kill you"}]}`, 1},
		{"empty messages", `{"messages":[]}`, 0},
		{"leading whitespace", " \n{\"messages\":[{\"role\":\"user\",\"content\":\"kill you\"}]}", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, results, _, err := e.EvaluateRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := results[0].Matches; got != tc.matches {
				t.Errorf("matches = %d, want %d (%+v)", got, tc.matches, results[0])
			}
		})
	}
}

func TestRedact(t *testing.T) {
	e := newEngine(t, pol("mask", "redact", "violence", "harassment"))
	tests := []struct {
		name string
		body string
		want string // the whole output body
	}{
		{
			name: "only the string changes",
			body: `{"model":"m",  "messages": [ {"role":"system","content":"Be nice."}, {"role":"user","content":"Listen: I will kill you! ok"} ], "temperature":0.2}`,
			want: `{"model":"m",  "messages": [ {"role":"system","content":"Be nice."}, {"role":"user","content":"Listen: [REDACTED]! ok"} ], "temperature":0.2}`,
		},
		{
			name: "two spans, two categories",
			body: `{"messages":[{"role":"user","content":"kill you, you idiot"}]}`,
			want: `{"messages":[{"role":"user","content":"[REDACTED], [REDACTED]"}]}`,
		},
		{
			name: "parts and several messages",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"a: shoot you"},{"type":"text","text":"fine"}]},{"role":"user","content":"you are worthless."}]}`,
			want: `{"messages":[{"role":"user","content":[{"type":"text","text":"a: [REDACTED]"},{"type":"text","text":"fine"}]},{"role":"user","content":"[REDACTED]."}]}`,
		},
		{
			name: "multi-byte obfuscation maps back to whole runes",
			body: `{"messages":[{"role":"user","content":"é Ｋｉｌｌ ｙｏｕ é"}]}`,
			want: `{"messages":[{"role":"user","content":"é [REDACTED] é"}]}`,
		},
		{
			name: "escapes are re-encoded",
			body: `{"messages":[{"role":"user","content":"\"q\"\tI will \u006bill you\n\u00e9"}]}`,
			want: `{"messages":[{"role":"user","content":"\"q\"\t[REDACTED]\né"}]}`,
		},
		{
			name: "separators inside the span go with it",
			body: `{"messages":[{"role":"user","content":"ok k.i.l.l y-o-u ok"}]}`,
			want: `{"messages":[{"role":"user","content":"ok [REDACTED] ok"}]}`,
		},
		{
			name: "clean body is untouched",
			body: `{"messages":[{"role":"user","content":"kill the process"}]}`,
			want: `{"messages":[{"role":"user","content":"kill the process"}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, results, blocked, err := e.EvaluateRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("out =\n%s\nwant\n%s", out, tc.want)
			}
			if !json.Valid(out) {
				t.Error("output is not valid JSON")
			}
			wantOutcome := OutcomeRedacted
			if tc.body == tc.want {
				wantOutcome = OutcomePass
			}
			if blocked || results[0].Outcome != wantOutcome {
				t.Errorf("blocked = %v, result = %+v", blocked, results[0])
			}
		})
	}
}

func TestRedactOnlyRedactCategories(t *testing.T) {
	// A flagged category stays in the text; only the redact policy's
	// categories are masked.
	e := newEngine(t, pol("flag-hate", "flag", "hate"), pol("mask-violence", "redact", "violence"))
	out, results, _, err := e.EvaluateRequest(userBody(t, "Heil Hitler, I will kill you"))
	if err != nil {
		t.Fatal(err)
	}
	if got := content(t, out, 0); got != "Heil Hitler, [REDACTED]" {
		t.Errorf("content = %q", got)
	}
	want := []Result{
		{Policy: "flag-hate", Type: TypeContentFilter, Action: ActionFlag, Outcome: OutcomeFlagged, Categories: []string{"hate"}, Matches: 1},
		{Policy: "mask-violence", Type: TypeContentFilter, Action: ActionRedact, Outcome: OutcomeRedacted, Categories: []string{"violence"}, Matches: 1},
	}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("results = %+v\nwant %+v", results, want)
	}
}

func TestBlockAndFlag(t *testing.T) {
	e := newEngine(t,
		pol("watch", "flag", "violence", "hate"),
		pol("stop", "block", "violence"),
		pol("quiet", "flag", "sexual"),
	)
	tests := []struct {
		name     string
		text     string
		blocked  bool
		outcomes []string
	}{
		{"block wins over flag", "I will kill you", true, []string{OutcomeFlagged, OutcomeBlocked, OutcomePass}},
		{"flag only", "Heil Hitler", false, []string{OutcomeFlagged, OutcomePass, OutcomePass}},
		{"clean", "hello there", false, []string{OutcomePass, OutcomePass, OutcomePass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, results, blocked, err := e.EvaluateRequest(userBody(t, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if blocked != tc.blocked {
				t.Errorf("blocked = %v", blocked)
			}
			var got []string
			for _, r := range results {
				got = append(got, r.Outcome)
			}
			if !slices.Equal(got, tc.outcomes) {
				t.Errorf("outcomes = %v, want %v", got, tc.outcomes)
			}
		})
	}
}

func TestResultDetails(t *testing.T) {
	e := newEngine(t, pol("cf", "", allCategories...))
	tests := []struct {
		text    string
		cats    []string
		matches int
	}{
		// "i will kill" and "kill you" overlap: one span.
		{"i will kill you", []string{"violence"}, 1},
		{"kill you. kill you.", []string{"violence"}, 2},
		{"you idiot, I will kill you", []string{"harassment", "violence"}, 2},
		{"hello", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			r := e.EvaluateText(tc.text)[0]
			if !slices.Equal(r.Categories, tc.cats) || r.Matches != tc.matches {
				t.Errorf("result = %+v, want categories %v, matches %d", r, tc.cats, tc.matches)
			}
			if r.Action != ActionFlag {
				t.Errorf("action = %q, want the default flag", r.Action)
			}
		})
	}
}

func TestMalformedBodies(t *testing.T) {
	e := newEngine(t, pol("cf", "redact", "violence"))
	tests := []struct {
		name, body, msg string
	}{
		{"empty", ``, "not valid JSON"},
		{"not json", `hello`, "not valid JSON"},
		{"truncated", `{"messages":[`, "not valid JSON"},
		{"array", `[{"role":"user","content":"hi"}]`, "want a JSON object"},
		{"no messages", `{"model":"x"}`, "messages: required"},
		{"messages not an array", `{"messages":"hi"}`, "messages: want an array"},
		{"message not an object", `{"messages":[{"content":"a"},1]}`, "messages[1]: want an object"},
		{"content a number", `{"messages":[{"role":"user","content":5}]}`, "messages[0].content: want a string"},
		{"content an object", `{"messages":[{"role":"user","content":{"text":"kill you"}}]}`, "messages[0].content: want a string"},
		{"part not an object", `{"messages":[{"role":"user","content":["kill you"]}]}`, "messages[0].content[0]: want an object"},
		{"part text not a string", `{"messages":[{"role":"user","content":[{"type":"text","text":["kill you"]}]}]}`, "messages[0].content[0].text: want a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, results, blocked, err := e.EvaluateRequest([]byte(tc.body))
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("err = %v, want ErrMalformedBody", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.msg)
			}
			if out != nil || results != nil || blocked {
				t.Errorf("got out=%q results=%v blocked=%v with an error", out, results, blocked)
			}
		})
	}
}

func TestEvaluateResponse(t *testing.T) {
	e := newEngine(t, pol("mask", "redact", "violence"))
	body := `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Sure: I will kill you."},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":null}}],"usage":{"total_tokens":3}}`
	want := `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Sure: [REDACTED]."},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":null}}],"usage":{"total_tokens":3}}`
	out, results, _, err := e.EvaluateResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want || results[0].Outcome != OutcomeRedacted {
		t.Errorf("out = %s, results = %+v", out, results)
	}
	for _, bad := range []string{`{"id":"x"}`, `{"choices":{}}`, `{"choices":[1]}`, `{"choices":[{"message":"hi"}]}`} {
		if _, _, _, err := e.EvaluateResponse([]byte(bad)); !errors.Is(err, ErrMalformedBody) {
			t.Errorf("EvaluateResponse(%s) err = %v, want ErrMalformedBody", bad, err)
		}
	}
}

func TestEmptyEngine(t *testing.T) {
	e := newEngine(t)
	if !e.Empty() {
		t.Fatal("Empty() = false")
	}
	body := []byte(`not even json`)
	out, results, blocked, err := e.EvaluateRequest(body)
	if err != nil || results != nil || blocked || !bytes.Equal(out, body) {
		t.Errorf("got %q %v %v %v", out, results, blocked, err)
	}
	if r := e.EvaluateText("kill you"); r != nil {
		t.Errorf("EvaluateText = %v", r)
	}
	var none *Engine
	if out, results, _, err := none.EvaluateRequest(body); !none.Empty() || err != nil || results != nil || !bytes.Equal(out, body) {
		t.Errorf("nil engine: %q %v %v", out, results, err)
	}
	if newEngine(t, pol("a", "flag", "hate")).Empty() {
		t.Error("Empty() = true with a policy")
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name     string
		policies []config.Policy
		want     []string
	}{
		{"missing name", []config.Policy{pol("", "flag", "hate")}, []string{"policies[0].name: required"}},
		{"duplicate name", []config.Policy{pol("a", "flag", "hate"), pol("a", "block", "hate")}, []string{`policies[1].name: duplicate name "a" (already used by policies[0])`}},
		{"unknown type", []config.Policy{{Name: "a", Type: "regex", Config: config.PolicyConfig{Categories: []string{"hate"}}}}, []string{`policies[0].type: unknown type "regex"`}},
		{"unknown action", []config.Policy{pol("a", "warn", "hate")}, []string{`policies[0].action: unknown action "warn"`}},
		{"no categories", []config.Policy{pol("a", "flag")}, []string{"policies[0].config.categories: at least one category"}},
		{"unknown category", []config.Policy{pol("a", "flag", "hate", "spam")}, []string{`policies[0].config.categories[1]: unknown category "spam"`}},
		{"every problem at once", []config.Policy{pol("a", "warn", "spam"), {Name: "a"}}, []string{
			`policies[0].action: unknown action "warn"`,
			`policies[0].config.categories[0]: unknown category "spam"`,
			`policies[1].name: duplicate name`,
			`policies[1].type: unknown type ""`,
			"policies[1].config.categories: at least one category",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.policies)
			if err == nil || e != nil {
				t.Fatalf("New = %v, %v; want an error", e, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEngine(t, pol("watch", "flag", "hate"), pol("mask", "redact", "violence"))
	bodies := [][]byte{
		userBody(t, "hello there, how are you?"),
		userBody(t, "I will kill you"),
		userBody(t, "Heil Hitler"),
	}
	want := make([][]Result, len(bodies))
	wantOut := make([][]byte, len(bodies))
	for i, b := range bodies {
		var err error
		wantOut[i], want[i], _, err = e.EvaluateRequest(b)
		if err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 200 {
				i := (g + n) % len(bodies)
				out, results, _, err := e.EvaluateRequest(bodies[i])
				if err != nil || !reflect.DeepEqual(results, want[i]) || !bytes.Equal(out, wantOut[i]) {
					errs <- fmt.Errorf("body %d: results %+v out %s err %v", i, results, out, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
