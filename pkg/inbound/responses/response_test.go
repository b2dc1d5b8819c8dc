package responses

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// responseCases are chat completions as an upstream answers them, and the
// Responses request they answer.
var responseCases = []struct {
	name, req, chat string
	reasons         []string
	status          string
}{
	{
		name:    "text",
		req:     `{"model":"gpt-4o","instructions":"Be terse.","input":"Say hi.","max_output_tokens":64,"temperature":0.2,"metadata":{"k":"v"},"user":"u-1"}`,
		chat:    `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"message":{"role":"assistant","content":"Hi."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}}}`,
		reasons: []string{"stop"}, status: "completed",
	},
	{
		name:    "function_call",
		req:     `{"model":"gpt-4o","input":"Weather in Paris and Rome?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}],"tool_choice":"required","parallel_tool_calls":true}`,
		chat:    `{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"message":{"role":"assistant","content":"Checking both.","tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50}}`,
		reasons: []string{"tool_calls"}, status: "completed",
	},
	{
		name:    "json_schema",
		req:     `{"model":"gpt-4o","input":"A person","text":{"format":{"type":"json_schema","name":"person","schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false},"strict":true}}}`,
		chat:    `{"id":"chatcmpl-3","object":"chat.completion","created":1,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"message":{"role":"assistant","content":"{\"name\":\"Ada\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14,"completion_tokens_details":{"reasoning_tokens":0}}}`,
		reasons: []string{"stop"}, status: "completed",
	},
	{
		name:    "length",
		req:     `{"model":"gpt-4o","input":"Write a saga.","max_output_tokens":5}`,
		chat:    `{"id":"chatcmpl-4","object":"chat.completion","created":1,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"message":{"role":"assistant","content":"Once upon a"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}`,
		reasons: []string{"length"}, status: "incomplete",
	},
	{
		name:    "content_filter",
		req:     `{"model":"gpt-4o","input":"Something bad."}`,
		chat:    `{"id":"chatcmpl-5","object":"chat.completion","created":1,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}`,
		reasons: []string{"content_filter"}, status: "incomplete",
	},
}

// TestResponseGolden translates each chat completion into the response
// object in testdata/responses/NAME.json.
func TestResponseGolden(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBridge(nil)
			r := &provider.Request{Body: []byte(tc.req), Model: testModel}
			pr, err := b.ChatResponse([]byte(tc.chat), r)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Model != testModel {
				t.Errorf("model %q", pr.Model)
			}
			if !reflect.DeepEqual(pr.FinishReasons, tc.reasons) {
				t.Errorf("finish reasons %v, want %v", pr.FinishReasons, tc.reasons)
			}
			var got struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(pr.Body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.status {
				t.Errorf("status %q, want %q", got.Status, tc.status)
			}
			checkGolden(t, filepath.Join("testdata", "responses", tc.name+".json"), pr.Body)
		})
	}
}

// TestResponseUsage checks the provider-neutral usage comes from the
// wrapped adapter.
func TestResponseUsage(t *testing.T) {
	tc := responseCases[0]
	pr, err := newTestBridge(nil).ChatResponse([]byte(tc.chat), &provider.Request{Body: []byte(tc.req), Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Usage{InputTokens: 12, OutputTokens: 3, CacheReadTokens: 4}
	if pr.Usage != want {
		t.Errorf("usage %+v, want %+v", pr.Usage, want)
	}
}

// TestResponseRejectsNonChat: an answer that is no chat completion is an
// error, as for chat.
func TestResponseRejectsNonChat(t *testing.T) {
	for _, body := range []string{`not json`, `{"object":"list","data":[]}`} {
		t.Run(body, func(t *testing.T) {
			if _, err := newTestBridge(nil).ChatResponse([]byte(body), &provider.Request{Body: []byte(`{"input":"x"}`), Model: testModel}); err == nil {
				t.Error("no error")
			}
		})
	}
}
