package azure

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sim"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// TestAgainstSim runs the adapter against `kt sim --kind azure_openai` as
// the router does: its requests reach the deployment with the api-version
// and key the simulator requires, answers and streams read complete, and
// the simulator's content filter and rate limit classify as a client error
// (never failed over) and rate_limited with the wait.
func TestAgainstSim(t *testing.T) {
	s := sim.New(sim.Options{Kind: sim.KindAzureOpenAI, ExpectKey: "az-key", Models: []string{"prod-4o", "embed"}})
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
	a := NewAdapter("", map[string]string{"gpt-4o": "prod-4o", "text-embedding-3-small": "embed"}, nil)
	ep := &provider.Endpoint{BaseURL: srv.BaseURL(), APIKey: "az-key"}
	tests := []struct {
		name       string
		api        provider.API
		model      string
		body       string
		stream     bool
		key        string
		fault      sim.Fault
		wantStatus int
		wantReason classify.Reason
		wantRetry  time.Duration
	}{
		{name: "chat", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"capital of France?"}]}`, wantStatus: 200},
		{name: "chat stream", model: "gpt-4o", stream: true, wantStatus: 200,
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{name: "chat tools", model: "gpt-4o", wantStatus: 200,
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}]}`},
		{name: "embeddings", api: provider.APIEmbeddings, model: "text-embedding-3-small", body: `{"model":"text-embedding-3-small","input":"x"}`, wantStatus: 200},
		{name: "unmapped model is not deployed", model: "gpt-4.1", body: `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 404, wantReason: classify.ClientError},
		{name: "wrong key", model: "gpt-4o", key: "bad", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 401, wantReason: classify.AuthError},
		{name: "content filter", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			fault: sim.Fault{Kind: sim.FaultContentPolicy}, wantStatus: 400, wantReason: classify.ClientError},
		{name: "rate limit", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			fault: sim.Fault{Kind: sim.FaultRateLimit, RetryAfterSeconds: 3}, wantStatus: 429, wantReason: classify.RateLimited, wantRetry: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFault(tt.fault)
			defer s.SetFault(sim.Fault{})
			ad := provider.Adapter(a)
			if tt.api != provider.APIChat {
				ad = a.Native(tt.api)
			}
			r := &provider.Request{Body: []byte(tt.body), Model: tt.model, Stream: tt.stream, APIKey: tt.key}
			req, err := ad.ChatRequest(context.Background(), ep, r)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				o := classify.Response(resp.StatusCode, resp.Header, b)
				if o.Reason != tt.wantReason || o.RetryAfter != tt.wantRetry {
					t.Errorf("classified %+v, want %s with wait %v", o, tt.wantReason, tt.wantRetry)
				}
				if tt.wantReason == classify.ClientError && o.Retryable {
					t.Error("a client error would fail over")
				}
				return
			}
			if !tt.stream {
				b, _ := io.ReadAll(resp.Body)
				res, err := ad.ChatResponse(b, r)
				if err != nil {
					t.Fatal(err)
				}
				if res.Usage.InputTokens == 0 {
					t.Errorf("no usage in %s", b)
				}
				return
			}
			st := ad.NewStream(r)
			rd := sse.NewReader(resp.Body)
			var out []byte
			for {
				ev, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if out, err = st.Event(out, ev); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Finish(out); err != nil {
				t.Fatal(err)
			}
			if !st.Done() || !st.Content() || st.Model() != "prod-4o" || st.Usage().OutputTokens == 0 {
				t.Errorf("stream done %v content %v model %q usage %+v", st.Done(), st.Content(), st.Model(), st.Usage())
			}
		})
	}
	t.Run("probe", func(t *testing.T) {
		for _, tc := range []struct {
			key  string
			want int
		}{{"az-key", 200}, {"bad", 401}} {
			req, err := a.ProbeRequest(context.Background(), &provider.Endpoint{BaseURL: srv.BaseURL(), APIKey: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("probe with key %q: %d, want %d", tc.key, resp.StatusCode, tc.want)
			}
		}
		if got := s.Stats().ProbeRequests; got != 2 {
			t.Errorf("sim saw %d probes, want 2", got)
		}
	})
}

// TestEntraAgainstSim: an Entra ID token from the identity module is what
// the simulator checks as the bearer token.
func TestEntraAgainstSim(t *testing.T) {
	fa := newFakeAuthority(t)
	s := sim.New(sim.Options{Kind: sim.KindAzureOpenAI, ExpectKey: testToken})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "", s)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	a := NewAdapter("", nil, fa.credential(t, testSecret))
	req, err := a.ChatRequest(context.Background(), &provider.Endpoint{BaseURL: srv.BaseURL()},
		&provider.Request{Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`), Model: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
}
