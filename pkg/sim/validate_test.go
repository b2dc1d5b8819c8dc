package sim

import (
	"net/http"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	type vcase struct {
		name      string
		body      string
		hdr       func(http.Header)
		wantCode  int
		wantType  string
		wantParam string // OpenAI only
		wantMsg   string // substring
	}
	oaMsgs := `"messages":[{"role":"user","content":"hi"}]`
	openaiCases := []vcase{
		{name: "malformed json", body: `{"model":`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "could not parse the JSON body"},
		{name: "trailing garbage", body: `{"model":"m",` + oaMsgs + `} x`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "could not parse"},
		{name: "missing model", body: `{` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "you must provide a model parameter"},
		{name: "missing messages", body: `{"model":"gpt-4o"}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages", wantMsg: "Missing required parameter"},
		{name: "empty messages", body: `{"model":"gpt-4o","messages":[]}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages", wantMsg: "empty array"},
		{name: "messages not a list", body: `{"model":"gpt-4o","messages":"hi"}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages", wantMsg: "Invalid type"},
		{name: "model wrong type", body: `{"model":5,` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "model", wantMsg: "expected a string"},
		{name: "unknown argument", body: `{"model":"gpt-4o","max_tokens_to_sample":5,` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "Unrecognized request argument supplied: max_tokens_to_sample"},
		{name: "bad role", body: `{"model":"gpt-4o","messages":[{"role":"robot","content":"hi"}]}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages[0].role"},
		{name: "user without content", body: `{"model":"gpt-4o","messages":[{"role":"user"}]}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages[0].content"},
		{name: "bad part type", body: `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"video","text":"x"}]}]}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages[0].content[0].type"},
		{name: "image without url", body: `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "messages[0].content[0].image_url.url"},
		{name: "tool message without call", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_x","content":"r"}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "must be a response to a preceeding message with 'tool_calls'"},
		{name: "tool call without answer", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"call_x","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"?"}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "call_x"},
		{name: "stream options without stream", body: `{"model":"gpt-4o","stream_options":{"include_usage":true},` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "stream_options"},
		{name: "max tokens zero", body: `{"model":"gpt-4o","max_tokens":0,` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "max_tokens"},
		{name: "temperature too high", body: `{"model":"gpt-4o","temperature":2.5,` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "temperature"},
		{name: "tool choice without tools", body: `{"model":"gpt-4o","tool_choice":"auto",` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "tool_choice"},
		{name: "named tool not offered", body: `{"model":"gpt-4o","tools":[` + oaWeatherTool + `],"tool_choice":{"type":"function","function":{"name":"nope"}},` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "tool_choice"},
		{name: "bad tool name", body: `{"model":"gpt-4o","tools":[{"type":"function","function":{"name":"get weather"}}],` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "tools[0].function.name"},
		{name: "too many stops", body: `{"model":"gpt-4o","stop":["a","b","c","d","e"],` + oaMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantParam: "stop"},
		{name: "wrong method", body: "", wantCode: 405, wantType: "invalid_request_error", wantMsg: "Invalid method"},
	}
	anMsgs := `"messages":[{"role":"user","content":"hi"}]`
	anthropicCases := []vcase{
		{name: "missing version", body: `{"model":"m","max_tokens":5,` + anMsgs + `}`, hdr: func(h http.Header) { h.Del("anthropic-version") }, wantCode: 400, wantType: "invalid_request_error", wantMsg: "anthropic-version"},
		{name: "malformed json", body: `{"model":`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "valid JSON"},
		{name: "missing max tokens", body: `{"model":"m",` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "max_tokens: Field required"},
		{name: "missing model", body: `{"max_tokens":5,` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "model: Field required"},
		{name: "missing messages", body: `{"model":"m","max_tokens":5}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "messages: Field required"},
		{name: "openai field leaks", body: `{"model":"m","max_tokens":5,"n":1,` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "n: Extra inputs are not permitted"},
		{name: "system role message", body: `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "top-level `system`"},
		{name: "roles not alternating", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "must alternate"},
		{name: "empty text block", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "non-empty"},
		{name: "openai image part", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "Input tag 'image_url'"},
		{name: "bad image media type", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA"}}]}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "media_type"},
		{name: "tool result without use", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"r"}]}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "unexpected `tool_use_id`"},
		{name: "tool use without result", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_x","name":"f","input":{}}]},{"role":"user","content":"b"}]}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "without `tool_result`"},
		{name: "temperature above one", body: `{"model":"m","max_tokens":5,"temperature":1.5,` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "temperature"},
		{name: "tool without schema", body: `{"model":"m","max_tokens":5,"tools":[{"name":"f"}],` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "input_schema"},
		{name: "openai tool shape", body: `{"model":"m","max_tokens":5,"tools":[` + oaWeatherTool + `],` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "Input tag 'function'"},
		{name: "named tool not offered", body: `{"model":"m","max_tokens":5,"tools":[` + anWeatherTool + `],"tool_choice":{"type":"tool","name":"nope"},` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "nope"},
		{name: "max tokens wrong type", body: `{"model":"m","max_tokens":"5",` + anMsgs + `}`, wantCode: 400, wantType: "invalid_request_error", wantMsg: "max_tokens"},
		{name: "wrong method", body: "", wantCode: 405, wantType: "invalid_request_error"},
	}
	for _, k := range []Kind{KindOpenAI, KindAnthropic} {
		cases := openaiCases
		if k == KindAnthropic {
			cases = anthropicCases
		}
		h := newHarness(t, Options{Kind: k, ExpectKey: testKey})
		for _, tc := range cases {
			t.Run(string(k)+"/"+tc.name, func(t *testing.T) {
				h := h.in(t)
				hdr := authHeaders(k, testKey)
				if tc.hdr != nil {
					tc.hdr(hdr)
				}
				method := http.MethodPost
				if tc.body == "" {
					method = http.MethodGet
				}
				status, _, body := h.call(method, chatPath(k), tc.body, hdr)
				if status != tc.wantCode {
					t.Fatalf("status %d, want %d: %s", status, tc.wantCode, body)
				}
				e := decodeError(t, k, body)
				if e.Error.Type != tc.wantType || !strings.Contains(e.Error.Message, tc.wantMsg) {
					t.Errorf("error %q %q, want type %q message containing %q", e.Error.Type, e.Error.Message, tc.wantType, tc.wantMsg)
				}
				if tc.wantParam != "" && (e.Error.Param == nil || *e.Error.Param != tc.wantParam) {
					t.Errorf("param %v, want %q: %s", e.Error.Param, tc.wantParam, body)
				}
			})
		}
	}
}

func TestUnknownPathAndModels(t *testing.T) {
	for _, k := range []Kind{KindOpenAI, KindAnthropic} {
		t.Run(string(k), func(t *testing.T) {
			h := newHarness(t, Options{Kind: k, Models: []string{"m-1", "m-2"}})
			hdr := authHeaders(k, testKey)
			status, _, body := h.call(http.MethodGet, "/v1/nope", "", hdr)
			if status != 404 {
				t.Fatalf("unknown path: %d %s", status, body)
			}
			e := decodeError(t, k, body)
			if want := map[Kind]string{KindOpenAI: "invalid_request_error", KindAnthropic: "not_found_error"}[k]; e.Error.Type != want {
				t.Errorf("unknown path error type %q, want %q", e.Error.Type, want)
			}
			// The other kind's chat path is unknown too.
			other := KindAnthropic
			if k == KindAnthropic {
				other = KindOpenAI
			}
			if status, _, _ := h.call(http.MethodPost, chatPath(other), `{}`, hdr); status != 404 {
				t.Errorf("%s chat path on %s sim: %d", other, k, status)
			}
			status, _, body = h.call(http.MethodGet, "/v1/models/m-2", "", hdr)
			if status != 200 || !strings.Contains(string(body), `"id":"m-2"`) {
				t.Errorf("model lookup: %d %s", status, body)
			}
			if status, _, _ = h.call(http.MethodGet, "/v1/models/zzz", "", hdr); status != 404 {
				t.Errorf("unknown model lookup: %d", status)
			}
		})
	}
}

func TestModelList(t *testing.T) {
	t.Run("openai", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindOpenAI})
		status, _, body := h.call(http.MethodGet, "/v1/models", "", authHeaders(KindOpenAI, testKey))
		var l struct {
			Object string `json:"object"`
			Data   []struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
				OwnedBy string `json:"owned_by"`
			} `json:"data"`
		}
		decodeStrictT(t, body, &l)
		if status != 200 || l.Object != "list" || len(l.Data) != 2 || l.Data[0].ID != "gpt-4o-mini" || l.Data[1].ID != "gpt-4o" ||
			l.Data[0].Object != "model" || l.Data[0].Created == 0 || l.Data[0].OwnedBy == "" {
			t.Errorf("models: %d %s", status, body)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindAnthropic})
		status, _, body := h.call(http.MethodGet, "/v1/models", "", authHeaders(KindAnthropic, testKey))
		var l struct {
			Data []struct {
				Type        string `json:"type"`
				ID          string `json:"id"`
				DisplayName string `json:"display_name"`
				CreatedAt   string `json:"created_at"`
			} `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}
		decodeStrictT(t, body, &l)
		if status != 200 || len(l.Data) != 2 || l.Data[0].ID != "claude-sonnet-4-20250514" || l.Data[0].Type != "model" ||
			l.Data[0].DisplayName != "Claude Sonnet 4" || l.Data[0].CreatedAt != "2025-05-14T00:00:00Z" || l.HasMore ||
			l.FirstID == nil || *l.FirstID != "claude-sonnet-4-20250514" || l.LastID == nil || *l.LastID != "claude-3-5-haiku-20241022" {
			t.Errorf("models: %d %s", status, body)
		}
	})
}

func TestAuth(t *testing.T) {
	type acase struct {
		name      string
		key       string
		path      string
		wantCode  int
		wantWrong bool // the 401 says the key is wrong rather than missing
	}
	cases := []acase{
		{"right key chat", testKey, "chat", 200, false},
		{"wrong key chat", "sk-wrong-key-999", "chat", 401, true},
		{"missing key chat", "", "chat", 401, false},
		{"right key models", testKey, "/v1/models", 200, false},
		{"wrong key models", "sk-wrong-key-999", "/v1/models", 401, true},
		{"missing key models", "", "/v1/models", 401, false},
	}
	bodies := map[Kind]string{
		KindOpenAI:    `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		KindAnthropic: `{"model":"claude-sonnet-4-20250514","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
	}
	for _, k := range []Kind{KindOpenAI, KindAnthropic} {
		h := newHarness(t, Options{Kind: k, ExpectKey: testKey})
		for _, tc := range cases {
			t.Run(string(k)+"/"+tc.name, func(t *testing.T) {
				h := h.in(t)
				method, path, body := http.MethodGet, tc.path, ""
				if tc.path == "chat" {
					method, path, body = http.MethodPost, chatPath(k), bodies[k]
				}
				status, _, resp := h.call(method, path, body, authHeaders(k, tc.key))
				if status != tc.wantCode {
					t.Fatalf("status %d, want %d: %s", status, tc.wantCode, resp)
				}
				if status != 401 {
					return
				}
				for _, secret := range []string{testKey, tc.key, "wrong", "secret"} {
					if secret != "" && strings.Contains(string(resp), secret) {
						t.Errorf("401 body echoes %q: %s", secret, resp)
					}
				}
				e := decodeError(t, k, resp)
				switch k {
				case KindOpenAI:
					gotWrong := e.Error.Code != nil && *e.Error.Code == "invalid_api_key"
					if e.Error.Type != "invalid_request_error" || gotWrong != tc.wantWrong {
						t.Errorf("openai 401 body: %s", resp)
					}
				case KindAnthropic:
					if e.Error.Type != "authentication_error" || strings.Contains(e.Error.Message, "required") == tc.wantWrong {
						t.Errorf("anthropic 401 body: %s", resp)
					}
				}
			})
		}
	}
	// anthropic-sdk-go sends the key WithAPIKey sets as Authorization:
	// Bearer, which the Anthropic API accepts: so does the simulator, with
	// x-api-key first when both are sent.
	t.Run("anthropic bearer key", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindAnthropic, ExpectKey: testKey})
		for _, tc := range []struct {
			name    string
			headers map[string]string
			want    int
		}{
			{"right bearer", map[string]string{"Authorization": "Bearer " + testKey}, 200},
			{"wrong bearer", map[string]string{"Authorization": "Bearer sk-wrong-key-999"}, 401},
			{"x-api-key first", map[string]string{"x-api-key": "sk-wrong-key-999", "Authorization": "Bearer " + testKey}, 401},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hdr := http.Header{"Anthropic-Version": {"2023-06-01"}}
				for k, v := range tc.headers {
					hdr.Set(k, v)
				}
				if status, _, body := h.in(t).call(http.MethodPost, chatPath(KindAnthropic), bodies[KindAnthropic], hdr); status != tc.want {
					t.Errorf("status %d, want %d: %s", status, tc.want, body)
				}
			})
		}
	})
	t.Run("no expected key accepts anything", func(t *testing.T) {
		h := newHarness(t, Options{Kind: KindOpenAI})
		if status, _, body := h.call(http.MethodPost, chatPath(KindOpenAI), bodies[KindOpenAI], nil); status != 200 {
			t.Errorf("status %d: %s", status, body)
		}
	})
}
