package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/jsontext"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// The tests in this file hold the single-pass translator to the reference
// (reference_test.go, the encoding/json translator it replaced) and its JSON
// reader and writer to encoding/json itself.

// requestEdgeCases are bodies that exercise the places where the fast reader
// defers to encoding/json or where decoding and re-encoding differ from
// copying.
var requestEdgeCases = []string{
	``, `null`, `[]`, `"x"`, `1`, `{}`, `{"messages":5}`, `{"messages":[]}`, ` {"messages":[{"role":"user","content":"a"}]} `,
	`{"messages":[{"role":"user","content":"a"}]} x`,
	`{"Model":"x","messages":[{"role":"user","content":"hi"}]}`,
	`{"MESSAGES":[{"role":"user","content":"hi"}]}`,
	`{"model":"x","model":"y","messages":[{"role":"user","content":"hi"}]}`,
	`{"messages":[{"role":"user","content":"a"},{"role":"user","content":"c"}],"messages":[{"content":"b"}]}`,
	`{"m\u006fdel":"x","messages":[{"role":"user","content":"hi"}]}`,
	`{"model\u212a":"x","messages":[{"role":"user","content":"hi"}]}`,
	`{"meſsages":[{"role":"user","content":"hi"}]}`,
	`{"messages":[{"role":"us\u0065r","content":"\u00e9\n\ud83d\ude00 \ud800 \udc00\ud800 \u2028\u2029 \u0000\u001f\u007f \/ \\ \" <&>"}]}`,
	"{\"messages\":[{\"role\":\"user\",\"content\":\"raw \xe2\x80\xa8 \xff\xfe \xed\xa0\x80 \xef\xbf\xbd é\"}]}",
	"{\"messages\":[{\"role\":\"user\",\"content\":\"raw \xe2\x80\xa8 é\"},{\"role\":\"user\",\"content\":\"\xe2\x80\xa9\"}],\"model\":\"m\"}",
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a","Type":"image_url"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`,
	`{"messages":[{"role":"user","content":[5]}]}`,
	`{"messages":[{"role":"user","content":[null,{"type":"text"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR\/w0K"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"HTTPS://example.com/a.png","detail":"low"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data: IMAGE/PNG ;x=1;base64,"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":null}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBER","filename":"a.pdf"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"file"}]}]}`,
	`{"model":"m","temperature":-0,"top_p":1e-7,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","temperature":0.5e0,"top_p":0.1E+0,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","temperature":1e400,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","max_tokens":1.0,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","max_tokens":1e3,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","max_tokens":99999999999999999999,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","logit_bias":{"a":null},"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","logit_bias":{},"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","logit_bias":{"a":"x"},"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","modalities":["text",null],"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","modalities":["te\u0078t"],"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","stop":["a",null,"","\u00e9"],"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","stop":[1],"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","stop":{},"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","stop":"","messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","n":1,"logprobs":false,"top_logprobs":0,"frequency_penalty":0,"presence_penalty":-0.0,"audio":null,"functions":null,"function_call":null,"reasoning_effort":"","verbosity":null,"web_search_options":null,"messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","user":"","safety_identifier":"s\u00e9","messages":[{"role":"user","content":"a"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","Function":{"name":"f","name":"g"}}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f","parameters":{ "type" : "object" , "properties" : { "a b" : { "type" : "string" } } }}}],"tool_choice":"none","parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"x":"<\u003c \xff"}}}],"tool_choice":"n\u006fne"}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[null]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":null}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"required"}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":5}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"name":"n\"q","description":"d <b>","schema":{ "type": "object" },"strict":true}}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_object"}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"name":"n"}}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":null}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"x"}],"response_format":{"type":"bad"}}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":" {\n \"a\" : [1, 2] }\t"}},null]}]}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"\u00a0{}"}}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"[1]"}}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{"}}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":5}}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","refusal":"no","content":[{"type":"refusal","refusal":""}]},{"role":"assistant","content":"x","audio":{"id":"a"}}]}`,
	`{"model":"m","messages":[{"role":"system","content":[{"type":"image_url"}]},{"role":"user","content":5}]}`,
	`{"model":"m","messages":[{"role":"user","content":5},{"role":"system","content":[{"type":"image_url"}]}]}`,
	`{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"d"},{"type":"text","text":""}]},{"role":"tool","tool_call_id":"t","content":[]},{"role":"tool","tool_call_id":"u","content":[{"type":"text","text":"r"}]},{"role":"user","content":""},{"role":"assistant","content":""},{"role":"user","content":"q"}]}`,
	`{"model":"m","messages":[{"role":"system","content":"s"}]}`,
	`{"model":"m","messages":[null]}`,
	`{"model":"m","messages":[{"role":"user","content":{}}]}`,
	`{"model":"m","messages":[{"role":"user","name":"x","content":"a"}],"stream":true,"stream_options":{"include_usage":true},"seed":1,"metadata":{"A":"b"}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"extra":[[[[{"deep":[]}]]]]}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","name":"g","arguments":"{}"}}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","ID":"d","function":{"Name":"f","arguments":"{}"}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f","parameters":{},"Parameters":[]}}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x","url":"https://x"}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"schema":{},"Schema":null}}}`,
	`{"Model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","Text":"b"},{"type":"image_url","image_url":{"url":"https://x","URL":"y"}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a","Content":"b"},{"ROLE":"assistant","content":"c"}]}`,
}

// checkSameRequest asserts that translateRequest and the reference agree:
// the same bytes, or the same error.
func checkSameRequest(t *testing.T, body []byte, model string, stream bool, defMax int) {
	t.Helper()
	got, err := translateRequest(body, model, stream, defMax)
	want, wantErr := refTranslateRequest(body, model, stream, defMax)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("body %q: error %v, reference error %v\ngot  %s\nwant %s", body, err, wantErr, got, want)
	}
	if err != nil {
		var re, wantRE *provider.RequestError
		if !errors.As(err, &re) || !errors.As(wantErr, &wantRE) || *re != *wantRE {
			t.Fatalf("body %q: error %#v, reference %#v", body, err, wantErr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("body %q:\ngot  %s\nwant %s", body, got, want)
	}
}

func TestChatRequestMatchesReference(t *testing.T) {
	var bodies [][]byte
	for _, dir := range []string{filepath.Join("testdata", "requests"), filepath.Join("testdata", "requests", "errors")} {
		for _, name := range cases(t, dir, ".openai.json") {
			bodies = append(bodies, readFile(t, filepath.Join(dir, name+".openai.json")))
		}
	}
	for _, s := range requestEdgeCases {
		bodies = append(bodies, []byte(s))
	}
	bodies = append(bodies, typicalRequest(t))
	for _, body := range bodies {
		for _, model := range []string{"", testModel} {
			checkSameRequest(t, body, model, false, 0)
			checkSameRequest(t, body, model, true, 1000)
		}
	}
}

func FuzzChatRequestMatchesReference(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "requests"), ".openai.json")
	addFiles(f, filepath.Join("testdata", "requests", "errors"), ".openai.json")
	for _, s := range requestEdgeCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The body's last bits choose the model and flags, so that one input
		// covers all combinations across runs without a wider signature.
		var model string
		var stream bool
		var defMax int
		if n := len(body); n > 0 {
			if body[n-1]&1 != 0 {
				model = testModel
			}
			stream = body[n-1]&2 != 0
			if body[n-1]&4 != 0 {
				defMax = 100
			}
		}
		checkSameRequest(t, body, model, stream, defMax)
	})
}

// responseEdgeCases are Anthropic answers off the usual shape.
var responseEdgeCases = []string{
	``, `null`, `[]`, `{}`, `{"type":"message"}`, `{"type":"message","content":null,"usage":null}`,
	`{"type":"error","error":{"type":"api_error","message":"x"}}`,
	`{"type":"message","content":"text"}`,
	`{"Type":"message","content":[{"type":"text","text":"a"}]}`,
	`{"type":"message","type":"message","content":[]}`,
	`{"type":"message","content":[{"type":"text","text":"a","TEXT":"b"}]}`,
	`{"type":"message","id":"m\u00e9","model":"c\/1","content":[{"type":"text","text":"\u2028 \ud800 <&> \n"},{"type":"text","text":"\xff\u00e9"},{"type":"text"},null],"stop_reason":"max\u005ftokens"}`,
	`{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{ "a" : [ 1 , "\u00e9 \xff" ] }},{"type":"tool_use","id":"u","name":"g","input":null},{"type":"tool_use","id":"v","name":"h"}],"stop_reason":"tool_use"}`,
	`{"type":"message","content":[{"type":"thinking","thinking":"x","signature":"s"},{"type":"server_tool_use","id":"s","name":"web_search","input":{}}],"stop_reason":"pause_turn"}`,
	`{"type":"message","content":[],"usage":{"input_tokens":1.5}}`,
	`{"type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":null,"cache_read_input_tokens":2,"cache_creation_input_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":1},"service_tier":"standard"}}`,
	`{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{"x`,
	`{"type":"message","stop_reason":5}`,
}

// checkSameResponse asserts that translateResponse and the reference agree.
func checkSameResponse(t *testing.T, body []byte) {
	t.Helper()
	got, err := translateResponse(body, testCreated)
	wantOut, want, wantErr := refTranslateResponse(body, testCreated)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("body %q: error %v, reference error %v", body, err, wantErr)
	}
	if err != nil {
		if err.Error() != wantErr.Error() {
			t.Fatalf("body %q: error %q, reference %q", body, err, wantErr)
		}
		return
	}
	wantBody, err := marshalNoEscape(wantOut)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, wantBody) {
		t.Fatalf("body %q:\ngot  %s\nwant %s", body, got.Body, wantBody)
	}
	got.Body = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q: response %+v, reference %+v", body, got, want)
	}
}

func TestChatResponseMatchesReference(t *testing.T) {
	dir := filepath.Join("testdata", "responses")
	for _, name := range cases(t, dir, ".anthropic.json") {
		checkSameResponse(t, readFile(t, filepath.Join(dir, name+".anthropic.json")))
	}
	for _, s := range responseEdgeCases {
		checkSameResponse(t, []byte(s))
	}
	checkSameResponse(t, typicalResponse(t))
}

func FuzzChatResponseMatchesReference(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "responses"), ".anthropic.json")
	for _, s := range responseEdgeCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameResponse(t, body)
	})
}

// includeUsageCases are bodies for includeUsage.
var includeUsageCases = []string{
	``, `null`, `[]`, `{}`, `{"stream_options":null}`, `{"stream_options":{}}`,
	`{"stream_options":{"include_usage":true}}`, `{"stream_options":{"include_usage":false}}`,
	`{"stream_options":{"include_usage":null,"x":1}}`, `{"stream_options":{"include_usage":"yes"}}`,
	`{"stream_options":5}`, `{"stream_options":{"include_usage":true}} x`, `{"Stream_Options":{"include_usage":true}}`,
	`{"stream_options":{"INCLUDE_USAGE":true}}`, `{"stream_options":{"include_usage":true},"stream_options":{}}`,
	`{"stream_options":{"include_usage":true,"include_usage":false}}`, `{"stream_options":{"include\u005fusage":true}}`,
	`{"messages":[1,2,{"a":"b"}],"stream_options":{"include_usage":true},"model":5}`,
}

func TestIncludeUsageMatchesReference(t *testing.T) {
	bodies := []string{string(typicalRequest(t))}
	for _, s := range append(bodies, includeUsageCases...) {
		if got, want := includeUsage([]byte(s)), refIncludeUsage([]byte(s)); got != want {
			t.Errorf("includeUsage(%s) = %v, reference %v", s, got, want)
		}
	}
}

func FuzzIncludeUsage(f *testing.F) {
	for _, s := range includeUsageCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, want := includeUsage(body), refIncludeUsage(body); got != want {
			t.Fatalf("includeUsage(%q) = %v, reference %v", body, got, want)
		}
	})
}

// TestDeepRequest: a body nested past encoding/json's limit is the
// client's syntax error, as before the fast reader.
func TestDeepRequest(t *testing.T) {
	deep := []byte(`{"model":"m","messages":[{"role":"user","content":"a"}],"x":` + strings.Repeat("[", jsontext.MaxDepth) + strings.Repeat("]", jsontext.MaxDepth) + `}`)
	checkSameRequest(t, deep, "", false, 0)
}

// typicalResponse is an answer with text and a tool call, as Anthropic
// sends it.
func typicalResponse(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", "tool_use.anthropic.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
