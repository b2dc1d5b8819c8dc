package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sim"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// TestNativeAgainstSim runs each native adapter against the simulator's
// endpoint for its API, as the router does: the request it builds is
// accepted, and the answer (whole or streamed) reads as complete, with
// content, model and usage; a cut stream reads as incomplete.
func TestNativeAgainstSim(t *testing.T) {
	s := sim.New(sim.Options{Kind: sim.KindOpenAI, ExpectKey: "sk-sim"})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	t.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	ep := &provider.Endpoint{BaseURL: srv.BaseURL(), APIKey: "sk-sim"}
	ep.Prepare()
	tests := []struct {
		name     string
		api      provider.API
		body     string
		stream   bool
		fault    sim.Fault
		wantCut  bool
		wantUsed bool // output tokens reported
	}{
		{name: "responses", api: provider.APIResponses, body: `{"model":"asked","input":"hi"}`, wantUsed: true},
		{name: "responses stream", api: provider.APIResponses, body: `{"model":"asked","input":"hi","stream":true}`, stream: true, wantUsed: true},
		{name: "responses stream function call", api: provider.APIResponses, stream: true, wantUsed: true,
			body: `{"model":"asked","input":"weather?","stream":true,"tools":[{"type":"function","name":"get_weather","parameters":{}}]}`},
		{name: "responses stream cut", api: provider.APIResponses, body: `{"model":"asked","input":"hi","stream":true}`, stream: true,
			fault: sim.Fault{Kind: sim.FaultCut, AfterChunks: 6}, wantCut: true},
		{name: "responses stream no_done", api: provider.APIResponses, body: `{"model":"asked","input":"hi","stream":true}`, stream: true,
			fault: sim.Fault{Kind: sim.FaultNoDone}, wantCut: true},
		{name: "embeddings", api: provider.APIEmbeddings, body: `{"model":"asked","input":["a","b"]}`},
		{name: "completions", api: provider.APICompletions, body: `{"model":"asked","prompt":"hi"}`, wantUsed: true},
		{name: "completions stream", api: provider.APICompletions, stream: true, wantUsed: true,
			body: `{"model":"asked","prompt":"hi","stream":true,"stream_options":{"include_usage":true}}`},
		{name: "completions stream cut", api: provider.APICompletions, body: `{"model":"asked","prompt":"hi","stream":true}`, stream: true,
			fault: sim.Fault{Kind: sim.FaultCut, AfterChunks: 2}, wantCut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFault(tt.fault)
			defer s.SetFault(sim.Fault{})
			ad := New("openai").Native(tt.api)
			r := &provider.Request{Body: []byte(tt.body), Model: "gpt-4o-mini", BodyModel: "asked", Stream: tt.stream}
			req, err := ad.ChatRequest(t.Context(), ep, r)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var model string
			var usage provider.Usage
			if !tt.stream {
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				res, err := ad.ChatResponse(b, r)
				if err != nil {
					t.Fatal(err)
				}
				model, usage = res.Model, res.Usage
			} else {
				st := ad.NewStream(r)
				rd := sse.NewReader(resp.Body)
				var out []byte
				var streamErr error
				for {
					ev, err := rd.Next()
					if errors.Is(err, io.EOF) {
						_, streamErr = st.Finish(out)
						break
					}
					if err != nil {
						streamErr = err
						break
					}
					if out, err = st.Event(out, ev); err != nil {
						t.Fatalf("event: %v", err)
					}
				}
				if tt.wantCut {
					if streamErr == nil || st.Done() {
						t.Errorf("a cut stream read as complete (done %v)", st.Done())
					}
					return
				}
				if streamErr != nil || !st.Done() || !st.Content() {
					t.Fatalf("stream: %v, done %v, content %v", streamErr, st.Done(), st.Content())
				}
				model, usage = st.Model(), st.Usage()
			}
			if model != "gpt-4o-mini" || usage.InputTokens < 1 || tt.wantUsed != (usage.OutputTokens > 0) {
				t.Errorf("model %q usage %+v", model, usage)
			}
		})
	}
}
