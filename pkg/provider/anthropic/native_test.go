package anthropic

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

func nativeOf(t *testing.T, api provider.API) provider.Adapter {
	t.Helper()
	na, ok := New().(provider.NativeAdapter)
	if !ok {
		t.Fatal("the anthropic adapter is not a provider.NativeAdapter")
	}
	ad := na.Native(api)
	if ad == nil {
		t.Fatalf("Native(%v) is nil", api)
	}
	return ad
}

func TestNativeAPIs(t *testing.T) {
	na := New().(provider.NativeAdapter)
	for api := provider.APIChat + 1; api < provider.NumAPIs; api++ {
		want := api == provider.APIMessages || api == provider.APICountTokens
		if got := na.Native(api) != nil; got != want {
			t.Errorf("Native(%v) served = %v, want %v", api, got, want)
		}
	}
}

// upstream records the request it got and answers with status and body.
type upstream struct {
	got     *http.Request
	gotBody []byte
}

func (u *upstream) start(t *testing.T, status int, contentType, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.got = r.Clone(context.Background())
		u.gotBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestNativeRequestHeaders(t *testing.T) {
	body := `{"model":"claude-client","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name        string
		api         provider.API
		header      http.Header
		apiKey      string
		model       string
		wantKey     string
		wantVersion string
		wantBeta    string
		wantPath    string
		wantModel   string
	}{
		{"target key and version", provider.APIMessages, nil, "", "claude-client", "sk-ant-target", "2024-01-01", "", "/v1/messages", "claude-client"},
		{"client version and beta forwarded", provider.APIMessages,
			http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"prompt-caching-2024-07-31"}, "X-Api-Key": {"kt-gateway-key"}, "Authorization": {"Bearer kt-gateway-key"}},
			"", "claude-client", "sk-ant-target", "2023-06-01", "prompt-caching-2024-07-31", "/v1/messages", "claude-client"},
		{"request key wins", provider.APIMessages, nil, "sk-ant-own", "claude-client", "sk-ant-own", "2024-01-01", "", "/v1/messages", "claude-client"},
		{"mapped model rewritten", provider.APIMessages, nil, "", "claude-mapped", "sk-ant-target", "2024-01-01", "", "/v1/messages", "claude-mapped"},
		{"count_tokens", provider.APICountTokens, http.Header{"Anthropic-Beta": {"b1"}}, "", "claude-client", "sk-ant-target", "2024-01-01", "b1", "/v1/messages/count_tokens", "claude-client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u upstream
			srv := u.start(t, 200, "application/json", `{"input_tokens":3}`)
			ep := &provider.Endpoint{BaseURL: srv.URL, APIKey: "sk-ant-target", Version: "2024-01-01", Header: http.Header{"X-Static": {"s"}}}
			ad := nativeOf(t, tt.api)
			req, err := ad.ChatRequest(context.Background(), ep, &provider.Request{Body: []byte(body), Model: tt.model, BodyModel: "claude-client", Header: tt.header, APIKey: tt.apiKey})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			h := u.got.Header
			if got := h.Get("X-Api-Key"); got != tt.wantKey {
				t.Errorf("x-api-key %q, want %q", got, tt.wantKey)
			}
			if got := h.Values("X-Api-Key"); len(got) != 1 {
				t.Errorf("x-api-key values %q", got)
			}
			if h.Get("Authorization") != "" {
				t.Errorf("Authorization forwarded: %q", h.Get("Authorization"))
			}
			if got := h.Get("Anthropic-Version"); got != tt.wantVersion {
				t.Errorf("anthropic-version %q, want %q", got, tt.wantVersion)
			}
			if got := h.Get("Anthropic-Beta"); got != tt.wantBeta {
				t.Errorf("anthropic-beta %q, want %q", got, tt.wantBeta)
			}
			if h.Get("X-Static") != "s" {
				t.Error("static endpoint header lost")
			}
			if u.got.URL.Path != tt.wantPath {
				t.Errorf("path %q, want %q", u.got.URL.Path, tt.wantPath)
			}
			if got := gjson.GetBytes(u.gotBody, "model").String(); got != tt.wantModel {
				t.Errorf("model %q, want %q", got, tt.wantModel)
			}
			if tt.model == "claude-client" && string(u.gotBody) != body {
				t.Errorf("body changed:\n%s\nwant\n%s", u.gotBody, body)
			}
		})
	}
}

func TestNativeResponse(t *testing.T) {
	body := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":4,"cache_creation_input_tokens":2,"output_tokens":3}}`)
	res, err := nativeOf(t, provider.APIMessages).ChatResponse(body, &provider.Request{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != string(body) {
		t.Error("body not passed as is")
	}
	want := provider.Usage{InputTokens: 16, OutputTokens: 3, CacheReadTokens: 4, CacheCreationTokens: 2}
	if res.Usage != want || res.Model != "claude-sonnet-4-20250514" || len(res.FinishReasons) != 1 || res.FinishReasons[0] != "end_turn" {
		t.Errorf("got %+v", res)
	}
	ct, err := nativeOf(t, provider.APICountTokens).ChatResponse([]byte(`{"input_tokens":42}`), &provider.Request{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if ct.Usage.InputTokens != 42 || string(ct.Body) != `{"input_tokens":42}` {
		t.Errorf("count_tokens %+v", ct)
	}
	if _, err := nativeOf(t, provider.APICountTokens).ChatResponse([]byte(`{}`), &provider.Request{}); err == nil {
		t.Error("a count_tokens answer without input_tokens accepted")
	}
	if _, err := nativeOf(t, provider.APIMessages).ChatResponse([]byte(`<html>`), &provider.Request{}); err == nil {
		t.Error("an answer that is not JSON accepted")
	}
}

func TestNativeErrorBody(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		same     bool
		wantType string
	}{
		{"anthropic error kept", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`, true, "rate_limit_error"},
		{"overloaded kept", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, true, "overloaded_error"},
		{"html wrapped", 502, `<html>bad gateway</html>`, false, "api_error"},
		{"empty wrapped", 503, ``, false, "overloaded_error"},
		{"key masked", 401, `{"type":"error","error":{"type":"authentication_error","message":"bad key sk-ant-api03-SECRET"}}`, false, "authentication_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := nativeOf(t, provider.APIMessages).ErrorBody(tt.status, []byte(tt.body))
			if (string(out) == tt.body) != tt.same {
				t.Errorf("body kept = %v, want %v: %s", string(out) == tt.body, tt.same, out)
			}
			if gjson.GetBytes(out, "type").String() != "error" || gjson.GetBytes(out, "error.type").String() != tt.wantType {
				t.Errorf("not an Anthropic %s error: %s", tt.wantType, out)
			}
			if strings.Contains(string(out), "SECRET") {
				t.Errorf("key leaked: %s", out)
			}
		})
	}
}

const nativeStreamBody = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n" +
	"event: ping\ndata: {\"type\":\"ping\"}\n\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func TestNativeStreamRelay(t *testing.T) {
	s := nativeOf(t, provider.APIMessages).NewStream(&provider.Request{Model: "m", Stream: true})
	rd := sse.NewReader(strings.NewReader(nativeStreamBody))
	var out []byte
	events := 0
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		before := len(out)
		wasContent := s.Content()
		out, err = s.Event(out, ev)
		if err != nil {
			t.Fatal(err)
		}
		// Each event goes out as itself, as soon as it arrives.
		if got := string(out[before:]); got != string(ev.Raw) {
			t.Errorf("event %d relayed as %q, want %q", events, got, ev.Raw)
		}
		if !wasContent && s.Content() && string(ev.Name) != "content_block_start" {
			t.Errorf("content first seen at %s, want the tool_use content_block_start", ev.Name)
		}
		events++
	}
	out, err := s.Finish(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != nativeStreamBody || !s.Done() || !s.Content() {
		t.Errorf("relay changed the stream or state: done %v content %v", s.Done(), s.Content())
	}
	want := provider.Usage{InputTokens: 30, OutputTokens: 15, CacheReadTokens: 5}
	if s.Usage() != want || s.Model() != "claude-sonnet-4-20250514" || strings.Join(s.FinishReasons(), ",") != "tool_use" {
		t.Errorf("usage %+v model %q reasons %v", s.Usage(), s.Model(), s.FinishReasons())
	}
}

func TestNativeStreamFailures(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantErr   string
		malformed bool
		relayed   string
	}{
		{"error event relayed then error", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", "Overloaded", false, "event: error\n"},
		{"invalid JSON", "event: content_block_delta\ndata: {\"type\":\n\n", "", true, ""},
		{"cut before message_stop", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\n", "message_stop", false, "event: message_start\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := nativeOf(t, provider.APIMessages).NewStream(&provider.Request{Model: "m", Stream: true})
			rd := sse.NewReader(strings.NewReader(tt.body))
			var out []byte
			var err error
			for err == nil {
				var ev sse.Event
				ev, err = rd.Next()
				if errors.Is(err, io.EOF) {
					out, err = s.Finish(out)
					if err == nil {
						t.Fatal("Finish accepted an incomplete stream")
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				var next []byte
				next, err = s.Event(out, ev)
				if err == nil || !errors.Is(err, provider.ErrMalformedEvent) {
					out = next
				}
			}
			if errors.Is(err, provider.ErrMalformedEvent) != tt.malformed {
				t.Errorf("err %v, malformed want %v", err, tt.malformed)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want it to mention %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(string(out), tt.relayed) || tt.relayed == "" && len(out) != 0 {
				t.Errorf("relayed %q", out)
			}
			if s.Done() {
				t.Error("Done after a failure")
			}
		})
	}
}

func TestNativeStreamMultiLineData(t *testing.T) {
	s := nativeOf(t, provider.APIMessages).NewStream(&provider.Request{})
	ev := sse.Event{Name: []byte("message_stop"), Data: []byte("{\"type\":\n\"message_stop\"}")}
	out, err := s.Event(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sse.NewReader(bufio.NewReader(strings.NewReader(string(out)))).Next()
	if err != nil || string(got.Data) != string(ev.Data) || string(got.Name) != "message_stop" {
		t.Errorf("relayed %q as %q (%v)", ev.Data, got.Data, err)
	}
}
