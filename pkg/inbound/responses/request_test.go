package responses

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// TestRequestGolden translates each testdata/requests/NAME.json to the
// chat request in NAME.chat.json.
func TestRequestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "requests")
	for _, name := range cases(t, dir, ".json") {
		if filepath.Ext(name) == ".chat" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			body := readFile(t, filepath.Join(dir, name+".json"))
			got, err := toChat(body, testModel)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, name+".chat.json"), got)
		})
	}
}

// TestChatRequestSetsInner checks that ChatRequest hands the translated
// chat request to the wrapped adapter and keeps it on r.Inner.
func TestChatRequestSetsInner(t *testing.T) {
	b := newTestBridge(nil)
	hdr := http.Header{"X-Test": {"1"}}
	r := &provider.Request{Body: []byte(`{"model":"gpt-4o","input":"hi","stream":true}`), Model: testModel, BodyModel: "gpt-4o", Stream: true, Header: hdr, APIKey: "sk-client"}
	ep := &provider.Endpoint{BaseURL: "http://127.0.0.1:1/v1"}
	req, err := b.ChatRequest(context.Background(), ep, r)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/v1/chat/completions" {
		t.Errorf("path %q, want the chat path", req.URL.Path)
	}
	if r.Inner == nil || r.Inner.Model != testModel || r.Inner.BodyModel != testModel || !r.Inner.Stream || r.Inner.APIKey != "sk-client" || r.Inner.Header.Get("X-Test") != "1" {
		t.Fatalf("inner request %+v", r.Inner)
	}
	sent, _ := io.ReadAll(req.Body)
	if string(sent) != string(r.Inner.Body) {
		t.Errorf("upstream body %s, want the inner body %s", sent, r.Inner.Body)
	}
	var chat map[string]any
	if err := json.Unmarshal(sent, &chat); err != nil {
		t.Fatal(err)
	}
	if chat["model"] != testModel || chat["stream_options"] == nil {
		t.Errorf("chat body %s", sent)
	}
	if req.Header.Get("Authorization") != "Bearer sk-client" {
		t.Errorf("authorization %q", req.Header.Get("Authorization"))
	}
}

// TestRequestErrors lists requests chat cannot express: each is a
// RequestError naming the field.
func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"not json", `{`, ""},
		{"no input", `{"model":"m"}`, "input"},
		{"input number", `{"input":3}`, "input"},
		{"instructions not string", `{"input":"x","instructions":[1]}`, "instructions"},
		{"image file id", `{"input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, "input[0].content[0].file_id"},
		{"file by id", `{"input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "input[0].content[0]"},
		{"audio part", `{"input":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "input[0].content[0].type"},
		{"image in system", `{"input":[{"role":"system","content":[{"type":"input_image","image_url":"https://x.invalid/a.png"}]}]}`, "input[0].content"},
		{"unknown role", `{"input":[{"role":"critic","content":"x"}]}`, "input[0].role"},
		{"item reference", `{"input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type"},
		{"computer call", `{"input":[{"type":"computer_call_output","call_id":"c"}]}`, "input[0].type"},
		{"function call without name", `{"input":[{"type":"function_call","call_id":"c"}]}`, "input[0]"},
		{"output without call id", `{"input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id"},
		{"output with image", `{"input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://x.invalid/a.png"}]}]}`, "input[0].output[0].type"},
		{"built-in tool", `{"input":"x","tools":[{"type":"function","name":"f"},{"type":"web_search"}]}`, "tools[1].type"},
		{"tool without name", `{"input":"x","tools":[{"type":"function"}]}`, "tools[0].name"},
		{"tool choice built-in", `{"input":"x","tool_choice":{"type":"file_search"}}`, "tool_choice.type"},
		{"tool choice unknown", `{"input":"x","tool_choice":"sometimes"}`, "tool_choice"},
		{"schema without name", `{"input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name"},
		{"schema without schema", `{"input":"x","text":{"format":{"type":"json_schema","name":"n"}}}`, "text.format.schema"},
		{"unknown format", `{"input":"x","text":{"format":{"type":"xml"}}}`, "text.format.type"},
		{"max tokens string", `{"input":"x","max_output_tokens":"many"}`, "max_output_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := toChat([]byte(tt.body), testModel)
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a RequestError", err)
			}
			if re.Param != tt.param {
				t.Errorf("param %q, want %q (%v)", re.Param, tt.param, re)
			}
		})
	}
}

// TestChatRequestRefusesResourceMethods: GET/DELETE of a stored response
// never go through the bridge.
func TestChatRequestRefusesResourceMethods(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		t.Run(m, func(t *testing.T) {
			r := &provider.Request{Method: m, ResourceID: "resp_1", Model: testModel}
			_, err := newTestBridge(nil).ChatRequest(context.Background(), &provider.Endpoint{BaseURL: "http://127.0.0.1:1"}, r)
			var re *provider.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a RequestError", err)
			}
		})
	}
}
