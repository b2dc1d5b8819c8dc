package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/inbound"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sim"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// simTarget is one adapter and endpoint aimed at the simulator.
type simTarget struct {
	name string
	a    provider.Adapter
	ep   *provider.Endpoint
}

// startSim starts a gemini simulator expecting key, and returns the two
// kinds aimed at it: gemini with the key, vertex with application-default
// credentials whose token endpoint hands out key as the access token.
func startSim(t *testing.T, key string) (*sim.Sim, []simTarget, *http.Client) {
	t.Helper()
	s := sim.New(sim.Options{Kind: sim.KindGemini, ExpectKey: key})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "", s)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	t.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	tok, _ := tokenServer(t, key)
	vx, err := NewVertex(&provider.TargetSpec{ID: "vx", BaseURL: srv.URL(), Project: "proj", Location: "us-central1",
		Environ: []string{"GOOGLE_APPLICATION_CREDENTIALS=" + serviceAccountFile(t, tok.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	return s, []simTarget{
		{"gemini", New(), &provider.Endpoint{BaseURL: srv.BaseURL(), APIKey: key}},
		{"vertex", vx, &provider.Endpoint{BaseURL: srv.URL()}},
	}, client
}

// do runs one request as the router does and returns the classified
// outcome with the translated answer.
func do(t *testing.T, client *http.Client, a provider.Adapter, ep *provider.Endpoint, r *provider.Request) (classify.Outcome, []byte, provider.Stream, error) {
	t.Helper()
	req, err := a.ChatRequest(context.Background(), ep, r)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return classify.Error(context.Background(), err), nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return classify.Response(resp.StatusCode, resp.Header, body), a.ErrorBody(resp.StatusCode, body), nil, nil
	}
	if !r.Stream {
		if err != nil {
			return classify.Error(context.Background(), err), nil, nil, err
		}
		res, err := a.ChatResponse(body, r)
		if err != nil {
			return classify.Outcome{Reason: classify.UpstreamError}, nil, nil, err
		}
		return classify.Success, res.Body, nil, nil
	}
	st := a.NewStream(r)
	rd := sse.NewReader(strings.NewReader(string(body)))
	var out []byte
	for {
		ev, rerr := rd.Next()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return classify.StreamCut, out, st, rerr
		}
		if out, err = st.Event(out, ev); err != nil {
			return classify.Malformed, out, st, err
		}
	}
	out, err = st.Finish(out)
	if err != nil {
		return classify.StreamCut, out, st, err
	}
	return classify.Success, out, st, nil
}

const weatherTool = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"],"additionalProperties":false,"$schema":"x"}}}]`

func TestAgainstSim(t *testing.T) {
	s, targets, client := startSim(t, "sim-key")
	tests := []struct {
		name     string
		body     string
		stream   bool
		fault    sim.Fault
		want     classify.Reason
		contains string
	}{
		{name: "text", body: `{"model":"gemini-2.5-flash","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France?"}]}`,
			want: classify.None, contains: `"content":"The capital of France is Paris."`},
		{name: "text stream", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"What is the capital of France?"}],"stream_options":{"include_usage":true}}`,
			want: classify.None, contains: `"finish_reason":"stop"`},
		{name: "tool call", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"weather in Paris?"}],` + weatherTool + `}`,
			want: classify.None, contains: `"arguments":"{\"location\":\"Paris\"}"`},
		{name: "tool call stream", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"weather in Paris?"}],` + weatherTool + `,"tool_choice":"required"}`,
			want: classify.None, contains: `"finish_reason":"tool_calls"`},
		{name: "tool result", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"weather?"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"18C"}],` + weatherTool + `}`,
			want: classify.None, contains: "based on the tool result"},
		{name: "json schema", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}}}`,
			want: classify.None},
		{name: "max tokens", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"tell me a long story about everything"}],"max_tokens":2}`,
			want: classify.None, contains: `"finish_reason":"length"`},
		{name: "safety block is an answer", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`,
			fault: sim.Fault{Kind: sim.FaultContentPolicy}, want: classify.None, contains: `"finish_reason":"content_filter"`},
		{name: "safety block stream", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`,
			fault: sim.Fault{Kind: sim.FaultContentPolicy}, want: classify.None, contains: `"finish_reason":"content_filter"`},
		{name: "rate limited", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`,
			fault: sim.Fault{Kind: sim.FaultRateLimit}, want: classify.RateLimited, contains: `"code":"rate_limit_exceeded"`},
		{name: "overloaded", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`,
			fault: sim.Fault{Kind: sim.FaultError, Status: 503}, want: classify.UpstreamError, contains: "overloaded"},
		{name: "context length", body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`,
			fault: sim.Fault{Kind: sim.FaultContextLength}, want: classify.ContextLength, contains: "context_length_exceeded"},
		{name: "stream cut", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"tell me a long story about everything you know"}]}`,
			fault: sim.Fault{Kind: sim.FaultCut, AfterChunks: 1}, want: classify.ConnectionError},
		{name: "stream without finish", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"tell me a long story about everything you know"}]}`,
			fault: sim.Fault{Kind: sim.FaultNoDone}, want: classify.ConnectionError},
		{name: "stream error event", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"tell me a long story about everything you know"}]}`,
			fault: sim.Fault{Kind: sim.FaultStreamError, AfterChunks: 1}, want: classify.UpstreamError},
		{name: "stream malformed", stream: true, body: `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"tell me a long story about everything you know"}]}`,
			fault: sim.Fault{Kind: sim.FaultMalformed, AfterChunks: 1}, want: classify.UpstreamError},
	}
	for _, tg := range targets {
		for _, tt := range tests {
			t.Run(tg.name+"/"+tt.name, func(t *testing.T) {
				s.SetFault(tt.fault)
				defer s.SetFault(sim.Fault{})
				out, body, st, err := do(t, client, tg.a, tg.ep, &provider.Request{Body: []byte(tt.body), Model: "gemini-2.5-flash", Stream: tt.stream})
				if out.Reason != tt.want {
					t.Fatalf("outcome %+v (err %v), want %q; body %s", out, err, tt.want, body)
				}
				if tt.contains != "" && !strings.Contains(string(body), tt.contains) {
					t.Errorf("answer lacks %s:\n%s", tt.contains, body)
				}
				if st != nil && tt.want == classify.None && !st.Done() {
					t.Error("a complete stream is not Done")
				}
			})
		}
	}
}

func TestAgainstSimAuth(t *testing.T) {
	_, targets, client := startSim(t, "right-key")
	body := []byte(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}]}`)
	// A wrong Gemini API key answers 400 API_KEY_INVALID, which classify
	// reads as auth_error: another target may answer.
	out, _, _, _ := do(t, client, targets[0].a, &provider.Endpoint{BaseURL: targets[0].ep.BaseURL, APIKey: "wrong"}, &provider.Request{Body: body, Model: "m"})
	if out.Reason != classify.AuthError {
		t.Errorf("wrong gemini key: %+v, want auth_error", out)
	}
	// A vertex token the sim does not accept answers 401.
	tok, _ := tokenServer(t, "wrong-token")
	vx, err := NewVertex(&provider.TargetSpec{ID: "vx", BaseURL: targets[1].ep.BaseURL, Project: "p", Location: "us-central1",
		Environ: []string{"GOOGLE_APPLICATION_CREDENTIALS=" + serviceAccountFile(t, tok.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, _ = do(t, client, vx, targets[1].ep, &provider.Request{Body: body, Model: "m"})
	if out.Reason != classify.AuthError || out.Status != http.StatusUnauthorized {
		t.Errorf("wrong vertex token: %+v, want auth_error 401", out)
	}
	for _, tg := range targets {
		req, err := tg.a.ProbeRequest(context.Background(), tg.ep)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s probe: %d", tg.name, resp.StatusCode)
		}
	}
}

func TestEmbeddingsAgainstSim(t *testing.T) {
	_, targets, client := startSim(t, "k")
	for _, tg := range targets {
		for _, format := range []string{"float", "base64"} {
			t.Run(tg.name+"/"+format, func(t *testing.T) {
				ad := tg.a.(provider.NativeAdapter).Native(provider.APIEmbeddings)
				r := &provider.Request{Body: []byte(`{"model":"text-embedding-004","input":["a","b"],"dimensions":8,"encoding_format":"` + format + `"}`), Model: "text-embedding-004"}
				out, body, _, err := do(t, client, ad, tg.ep, r)
				if out.Reason != classify.None {
					t.Fatalf("outcome %+v err %v body %s", out, err, body)
				}
				var res struct {
					Data []struct {
						Index     int             `json:"index"`
						Embedding json.RawMessage `json:"embedding"`
					} `json:"data"`
				}
				if err := json.Unmarshal(body, &res); err != nil || len(res.Data) != 2 {
					t.Fatalf("answer %s: %v", body, err)
				}
				if format == "float" {
					var v []float64
					if err := json.Unmarshal(res.Data[1].Embedding, &v); err != nil || len(v) != 8 {
						t.Errorf("vector %s: %v", res.Data[1].Embedding, err)
					}
				} else if res.Data[0].Embedding[0] != '"' || len(res.Data[0].Embedding) != 2+44 {
					// 8 float32s are 32 bytes: 44 base64 characters.
					t.Errorf("base64 vector %s", res.Data[0].Embedding)
				}
			})
		}
	}
}

// TestBridgesAgainstSim serves Anthropic's Messages API and the stateless
// Responses API on both kinds through pkg/inbound's bridges, which hand the
// chat request to this adapter.
func TestBridgesAgainstSim(t *testing.T) {
	_, targets, client := startSim(t, "k")
	tests := []struct {
		name     string
		api      provider.API
		body     string
		stream   bool
		contains string
	}{
		{"messages", provider.APIMessages, `{"model":"gemini-2.5-flash","max_tokens":100,"messages":[{"role":"user","content":"What is the capital of France?"}]}`, false, `"text":"The capital of France is Paris."`},
		{"messages stream tools", provider.APIMessages, `{"model":"gemini-2.5-flash","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"weather in Paris?"}],"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]}`, true, `"type":"tool_use"`},
		{"responses", provider.APIResponses, `{"model":"gemini-2.5-flash","input":"What is the capital of France?","store":false}`, false, "Paris"},
		{"responses stream", provider.APIResponses, `{"model":"gemini-2.5-flash","input":"What is the capital of France?","store":false,"stream":true}`, true, "response.completed"},
	}
	for _, tg := range targets {
		for _, tt := range tests {
			t.Run(tg.name+"/"+tt.name, func(t *testing.T) {
				ad := inbound.Adapters(tg.a, inbound.Options{})[tt.api]
				if ad == nil {
					t.Fatal("no adapter")
				}
				out, body, st, err := do(t, client, ad, tg.ep, &provider.Request{Body: []byte(tt.body), Model: "gemini-2.5-flash", Stream: tt.stream})
				if out.Reason != classify.None {
					t.Fatalf("outcome %+v err %v body %s", out, err, body)
				}
				if !strings.Contains(string(body), tt.contains) {
					t.Errorf("answer lacks %s:\n%s", tt.contains, body)
				}
				if st != nil && !st.Done() {
					t.Error("a complete stream is not Done")
				}
			})
		}
	}
}
