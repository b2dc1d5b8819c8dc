package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// apiCase is a body of one API and how many violence/hate spans the
// policies must find in it.
type apiCase struct {
	name    string
	api     provider.API
	body    string
	matches int
}

// apiCases put a hit in every position each API's reader covers, and in
// positions it must not read.
var apiCases = []apiCase{
	// Anthropic Messages and count_tokens.
	{"messages/system string", provider.APIMessages, `{"model":"m","max_tokens":5,"system":"kill you","messages":[{"role":"user","content":"hi"}]}`, 1},
	{"messages/system blocks", provider.APIMessages, `{"system":[{"type":"text","text":"hello"},{"type":"text","text":"kill you","cache_control":{"type":"ephemeral"}}],"messages":[]}`, 1},
	{"messages/system null", provider.APIMessages, `{"system":null,"messages":[]}`, 0},
	{"messages/content string", provider.APIMessages, `{"messages":[{"role":"user","content":"I will kill you"}]}`, 1},
	{"messages/text blocks", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"a2lsbCB5b3U="}},{"type":"text","text":"shoot you"}]}]}`, 1},
	{"messages/assistant turn", provider.APIMessages, `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"Heil Hitler"}]}]}`, 1},
	{"messages/tool_result string", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"kill you"}]}]}`, 1},
	{"messages/tool_result blocks", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"ok"},{"type":"text","text":"kill you"}]}]}]}`, 1},
	{"messages/tool_result type any case and duplicated", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"text","TYPE":"tool_result","content":"kill you"}]}]}`, 1},
	{"messages/content of other blocks is not read", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"web_search_tool_result","tool_use_id":"t","content":{"type":"web_search_tool_result_error","error_code":"kill you"}}]}]}`, 0},
	{"messages/tool input is not read", provider.APIMessages, `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"kill_you","input":{"q":"kill you"}}]}],"tools":[{"name":"f","description":"kill you","input_schema":{}}]}`, 0},
	{"messages/keys any case and duplicates", provider.APIMessages, `{"System":"hello","SYSTEM":"kill you","Messages":[{"role":"user","Content":"hi","content":"Heil Hitler"}]}`, 2},
	{"messages/every position", provider.APIMessages, `{"system":"kill you","messages":[{"role":"user","content":[{"type":"text","text":"shoot you"},{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"Heil Hitler"}]}]}]}`, 3},
	{"count_tokens/system and messages", provider.APICountTokens, `{"model":"m","system":[{"type":"text","text":"kill you"}],"messages":[{"role":"user","content":"Heil Hitler"}]}`, 2},

	// Responses.
	{"responses/instructions", provider.APIResponses, `{"model":"m","instructions":"kill you","input":"hi"}`, 1},
	{"responses/input string", provider.APIResponses, `{"model":"m","input":"I will kill you"}`, 1},
	{"responses/message content string", provider.APIResponses, `{"input":[{"role":"user","content":"kill you"}]}`, 1},
	{"responses/message parts", provider.APIResponses, `{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_image","image_url":"https://x/kill you.png"},{"type":"input_text","text":"kill you"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Heil Hitler","annotations":[]}]}]}`, 2},
	{"responses/function_call_output string", provider.APIResponses, `{"input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{\"q\":\"kill you\"}"},{"type":"function_call_output","call_id":"c","output":"kill you"}]}`, 1},
	{"responses/function_call_output parts", provider.APIResponses, `{"input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"kill you"}]}]}`, 1},
	{"responses/other outputs are not read", provider.APIResponses, `{"input":[{"type":"computer_call_output","call_id":"c","output":{"type":"computer_screenshot","image_url":"kill you"}}]}`, 0},
	{"responses/no input", provider.APIResponses, `{"model":"m","previous_response_id":"resp_1","instructions":null}`, 0},
	{"responses/tools are not read", provider.APIResponses, `{"input":"hi","tools":[{"type":"function","name":"f","description":"kill you","parameters":{}}]}`, 0},
	{"responses/keys any case", provider.APIResponses, `{"Instructions":"kill you","INPUT":[{"Role":"user","Content":"Heil Hitler"}]}`, 2},

	// Embeddings.
	{"embeddings/string", provider.APIEmbeddings, `{"model":"e","input":"kill you"}`, 1},
	{"embeddings/strings", provider.APIEmbeddings, `{"model":"e","input":["hello","kill you","Heil Hitler"],"encoding_format":"base64"}`, 2},
	{"embeddings/token ids", provider.APIEmbeddings, `{"model":"e","input":[1,2,3]}`, 0},
	{"embeddings/token id arrays", provider.APIEmbeddings, `{"model":"e","input":[[1,2],[3]]}`, 0},
	{"embeddings/duplicate input", provider.APIEmbeddings, `{"input":"hello","Input":"kill you"}`, 1},

	// Completions.
	{"completions/string", provider.APICompletions, `{"model":"m","prompt":"kill you","max_tokens":5}`, 1},
	{"completions/strings", provider.APICompletions, `{"model":"m","prompt":["kill you","fine","shoot you"]}`, 2},
	{"completions/token ids", provider.APICompletions, `{"model":"m","prompt":[[1,2],[3,4]]}`, 0},
	{"completions/null prompt", provider.APICompletions, `{"model":"m","prompt":null}`, 0},
	{"completions/suffix is not read", provider.APICompletions, `{"model":"m","prompt":"hi","suffix":"kill you"}`, 0},

	// Chat reads what EvaluateRequest reads.
	{"chat/messages", provider.APIChat, `{"messages":[{"role":"user","content":[{"type":"text","text":"kill you"}]},{"role":"system","content":"Heil Hitler"}]}`, 2},
}

func TestEvaluateRequestAPIPositions(t *testing.T) {
	e := newEngine(t, pol("cf", "flag", "violence", "hate"))
	for _, tc := range apiCases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			out, results, blocked, err := e.EvaluateRequestAPI(tc.api, body)
			if err != nil {
				t.Fatal(err)
			}
			if got := results[0].Matches; got != tc.matches {
				t.Errorf("matches = %d, want %d (%+v)", got, tc.matches, results[0])
			}
			if blocked || &out[0] != &body[0] {
				t.Errorf("blocked = %v, body copied = %v under a flag policy", blocked, &out[0] != &body[0])
			}
		})
	}
}

func TestEvaluateRequestAPIChatIsEvaluateRequest(t *testing.T) {
	e := newEngine(t, pol("watch", "flag", "hate"), pol("mask", "redact", "violence"))
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"Heil Hitler, I will kill you"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"kill you"}]}]}`,
		`{"messages":"x"}`,
		`{"prompt":"kill you"}`,
	} {
		t.Run(body, func(t *testing.T) {
			out1, r1, b1, err1 := e.EvaluateRequest([]byte(body))
			out2, r2, b2, err2 := e.EvaluateRequestAPI(provider.APIChat, []byte(body))
			if !bytes.Equal(out1, out2) || !reflect.DeepEqual(r1, r2) || b1 != b2 || (err1 == nil) != (err2 == nil) {
				t.Errorf("EvaluateRequest = %s %+v %v %v\nEvaluateRequestAPI(chat) = %s %+v %v %v", out1, r1, b1, err1, out2, r2, b2, err2)
			}
		})
	}
}

func TestEvaluateRequestAPIRedact(t *testing.T) {
	e := newEngine(t, pol("mask", "redact", "violence", "harassment"))
	tests := []struct {
		name string
		api  provider.API
		body string
		want string // the whole output body
	}{
		{
			name: "messages: system, text, tool_result, the rest byte-identical",
			api:  provider.APIMessages,
			body: `{"model":"claude", "max_tokens": 64,` + "\n" + ` "system": [ {"type":"text","text":"Listen: I will kill you!"} ], "messages":[{"role":"user","content":[{"type":"text","text":"you idiot"},{"type":"tool_result","tool_use_id":"t","content":"a: shoot you"},{"type":"tool_result","tool_use_id":"u","content":[{"type":"text","text":"kill you \u00e9"}]}]},{"role":"assistant","content":"kill the process"}], "stream":true}`,
			want: `{"model":"claude", "max_tokens": 64,` + "\n" + ` "system": [ {"type":"text","text":"Listen: [REDACTED]!"} ], "messages":[{"role":"user","content":[{"type":"text","text":"[REDACTED]"},{"type":"tool_result","tool_use_id":"t","content":"a: [REDACTED]"},{"type":"tool_result","tool_use_id":"u","content":[{"type":"text","text":"[REDACTED] é"}]}]},{"role":"assistant","content":"kill the process"}], "stream":true}`,
		},
		{
			name: "count_tokens: system string",
			api:  provider.APICountTokens,
			body: ` {"system":"kill you","messages":[{"role":"user","content":"hi"}]}`,
			want: ` {"system":"[REDACTED]","messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "responses: instructions, items, outputs",
			api:  provider.APIResponses,
			body: `{"model":"gpt","instructions":"kill you.","input":[{"role":"user","content":"ok: shoot you"},{"type":"message","role":"user","content":[{"type":"input_text","text":"you are worthless"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":\"kill you\"}"},{"type":"function_call_output","call_id":"c","output":"kill you"}],"store":false}`,
			want: `{"model":"gpt","instructions":"[REDACTED].","input":[{"role":"user","content":"ok: [REDACTED]"},{"type":"message","role":"user","content":[{"type":"input_text","text":"[REDACTED]"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":\"kill you\"}"},{"type":"function_call_output","call_id":"c","output":"[REDACTED]"}],"store":false}`,
		},
		{
			name: "responses: input string with escapes",
			api:  provider.APIResponses,
			body: `{"input":"\"q\"\tI will \u006bill you\n"}`,
			want: `{"input":"\"q\"\t[REDACTED]\n"}`,
		},
		{
			name: "embeddings: strings in a batch",
			api:  provider.APIEmbeddings,
			body: `{"model":"e","input":["fine", "kill you", [1,2], "Ｋｉｌｌ ｙｏｕ"],"dimensions":8}`,
			want: `{"model":"e","input":["fine", "[REDACTED]", [1,2], "[REDACTED]"],"dimensions":8}`,
		},
		{
			name: "completions: prompt string",
			api:  provider.APICompletions,
			body: `{"model":"m","prompt":"ok k.i.l.l y-o-u ok","suffix":"kill you"}`,
			want: `{"model":"m","prompt":"ok [REDACTED] ok","suffix":"kill you"}`,
		},
		{
			name: "completions: clean prompts untouched",
			api:  provider.APICompletions,
			body: `{"model":"m","prompt":["kill the process","hello"]}`,
			want: `{"model":"m","prompt":["kill the process","hello"]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, results, blocked, err := e.EvaluateRequestAPI(tc.api, []byte(tc.body))
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
			// The redacted body is read the same way and is clean.
			if _, again, _, err := e.EvaluateRequestAPI(tc.api, out); err != nil || again[0].Hit() {
				t.Errorf("redacted body: %+v %v", again, err)
			}
		})
	}
}

func TestEvaluateRequestAPIBlock(t *testing.T) {
	e := newEngine(t, pol("watch", "flag", "hate"), pol("stop", "block", "violence"))
	for _, api := range []provider.API{provider.APIMessages, provider.APIResponses, provider.APIEmbeddings, provider.APICompletions} {
		t.Run(api.String(), func(t *testing.T) {
			var body string
			switch api {
			case provider.APIMessages:
				body = `{"messages":[{"role":"user","content":"I will kill you"}]}`
			case provider.APIResponses:
				body = `{"input":"I will kill you"}`
			case provider.APIEmbeddings:
				body = `{"input":"I will kill you"}`
			case provider.APICompletions:
				body = `{"prompt":"I will kill you"}`
			}
			_, results, blocked, err := e.EvaluateRequestAPI(api, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if !blocked || results[0].Outcome != OutcomePass || results[1].Outcome != OutcomeBlocked {
				t.Errorf("blocked = %v, results = %+v", blocked, results)
			}
		})
	}
}

func TestEvaluateRequestAPIMalformed(t *testing.T) {
	e := newEngine(t, pol("cf", "redact", "violence"))
	tests := []struct {
		name string
		api  provider.API
		body string
		msg  string
	}{
		{"not json", provider.APIMessages, `{"messages":`, "not valid JSON"},
		{"not an object", provider.APIEmbeddings, `["kill you"]`, "want a JSON object"},

		{"messages missing", provider.APIMessages, `{"system":"hi"}`, "messages: required"},
		{"count_tokens messages missing", provider.APICountTokens, `{"model":"m"}`, "messages: required"},
		{"messages not an array", provider.APIMessages, `{"messages":{}}`, "messages: want an array"},
		{"message not an object", provider.APIMessages, `{"messages":[{"content":"a"},"b"]}`, "messages[1]: want an object"},
		{"content a number", provider.APIMessages, `{"messages":[{"role":"user","content":1}]}`, "messages[0].content: want a string or an array of blocks"},
		{"block not an object", provider.APIMessages, `{"messages":[{"role":"user","content":["kill you"]}]}`, "messages[0].content[0]: want an object"},
		{"block text not a string", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"text","text":{"t":"kill you"}}]}]}`, "messages[0].content[0].text: want a string"},
		{"tool_result content an object", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"tool_result","content":{"text":"kill you"}}]}]}`, "messages[0].content[0].content: want a string or an array of blocks"},
		{"tool_result nested block text", provider.APIMessages, `{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"tool_result","content":[{"type":"text","text":"a"},{"type":"text","text":5}]}]}]}`, "messages[0].content[1].content[1].text: want a string"},
		{"system a number", provider.APIMessages, `{"system":1,"messages":[]}`, "system: want a string or an array of blocks"},
		{"system block not an object", provider.APIMessages, `{"system":[{"type":"text","text":"a"},[]],"messages":[]}`, "system[1]: want an object"},

		{"instructions not a string", provider.APIResponses, `{"instructions":["kill you"],"input":"hi"}`, "instructions: want a string"},
		{"input a number", provider.APIResponses, `{"input":5}`, "input: want a string or an array of items"},
		{"item not an object", provider.APIResponses, `{"input":[{"role":"user","content":"hi"},"kill you"]}`, "input[1]: want an object"},
		{"item content an object", provider.APIResponses, `{"input":[{"role":"user","content":{"text":"kill you"}}]}`, "input[0].content: want a string or an array of parts"},
		{"part text not a string", provider.APIResponses, `{"input":[{"role":"user","content":[{"type":"input_text","text":true}]}]}`, "input[0].content[0].text: want a string"},
		{"function output an object", provider.APIResponses, `{"input":[{"type":"function_call_output","call_id":"c","output":{"text":"kill you"}}]}`, "input[0].output: want a string or an array of parts"},
		{"function output part", provider.APIResponses, `{"input":[{"type":"function_call_output","call_id":"c","output":["kill you"]}]}`, "input[0].output[0]: want an object"},

		{"embeddings input missing", provider.APIEmbeddings, `{"model":"e"}`, "input: required"},
		{"embeddings input null", provider.APIEmbeddings, `{"input":null}`, "input: want a string or an array of strings or token ids"},
		{"embeddings input an object", provider.APIEmbeddings, `{"input":{"text":"kill you"}}`, "input: want a string or an array"},
		{"embeddings element an object", provider.APIEmbeddings, `{"input":["a",{"text":"kill you"}]}`, "input[1]: want a string or an array of token ids"},
		{"embeddings token array with a string", provider.APIEmbeddings, `{"input":[[1,2],[3,"kill you"]]}`, "input[1][1]: want a token id"},

		{"completions prompt missing", provider.APICompletions, `{"model":"m"}`, "prompt: required"},
		{"completions prompt an object", provider.APICompletions, `{"prompt":{"p":"kill you"}}`, "prompt: want a string or an array"},
		{"completions element null", provider.APICompletions, `{"prompt":["a",null]}`, "prompt[1]: want a string or an array of token ids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, results, blocked, err := e.EvaluateRequestAPI(tc.api, []byte(tc.body))
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

func TestEvaluateRequestAPIUnknownAndEmpty(t *testing.T) {
	e := newEngine(t, pol("cf", "flag", "violence"))
	if _, _, _, err := e.EvaluateRequestAPI(provider.NumAPIs, []byte(`{}`)); err == nil || errors.Is(err, ErrMalformedBody) {
		t.Errorf("unknown API: err = %v, want an error that is not ErrMalformedBody", err)
	}
	body := []byte(`not json`)
	for api := range provider.NumAPIs {
		out, results, blocked, err := newEngine(t).EvaluateRequestAPI(api, body)
		if err != nil || results != nil || blocked || !bytes.Equal(out, body) {
			t.Errorf("%s on an empty engine: %q %v %v %v", api, out, results, blocked, err)
		}
	}
}

func TestFieldString(t *testing.T) {
	tests := []struct {
		f    field
		want string
	}{
		{at("input"), "input"},
		{at("input").index(3), "input[3]"},
		{at("input").index(3).index(0), "input[3][0]"},
		{at("messages").index(1).key("content").index(2).key("text"), "messages[1].content[2].text"},
		{at("messages").index(1).key("content").index(2).key("content").index(0), "messages[1].content[2].content[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.f.String(); got != tc.want {
				t.Errorf("String() = %q", got)
			}
		})
	}
}
