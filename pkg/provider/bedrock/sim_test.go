package bedrock_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/bedrock"
	"github.com/keeptrusts/gateway/pkg/sim"
)

const simKey = "AKIDSIM:simsecret"

// target is a bedrock adapter on a kt sim that verifies SigV4 signatures
// made with simKey; secret is the secret the adapter signs with.
func target(t *testing.T, secret string) (*sim.Sim, provider.Adapter, *provider.Endpoint) {
	t.Helper()
	s := sim.New(sim.Options{Kind: sim.KindBedrock, ExpectKey: simKey})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ad, err := bedrock.Kind.New(&provider.TargetSpec{ID: "bedrock-sim", Region: "us-east-1", BaseURL: srv.URL,
		Environ: []string{"AWS_ACCESS_KEY_ID=AKIDSIM", "AWS_SECRET_ACCESS_KEY=" + secret}})
	if err != nil {
		t.Fatal(err)
	}
	return s, ad, &provider.Endpoint{BaseURL: srv.URL}
}

const question = `{"model":"gw","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France?"}],"max_tokens":100,"stream_options":{"include_usage":true}}`

func send(t *testing.T, ad provider.Adapter, ep *provider.Endpoint, model, body string, stream bool) (*provider.Request, *http.Response) {
	t.Helper()
	r := &provider.Request{Body: []byte(body), Model: model, Stream: stream}
	req, err := ad.ChatRequest(context.Background(), ep, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return r, resp
}

// readStream reads a ConverseStream body as the router does.
func readStream(ad provider.Adapter, r *provider.Request, body io.Reader) (string, provider.Stream, error) {
	st := ad.NewStream(r)
	rd := provider.NewEventReader(ad, body)
	var out []byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			out, err = st.Finish(out)
			return string(out), st, err
		}
		if err != nil {
			return string(out), st, err
		}
		n := len(out)
		if out, err = st.Event(out, ev); err != nil {
			if errors.Is(err, provider.ErrMalformedEvent) {
				out = out[:n]
			}
			return string(out), st, err
		}
	}
}

func TestAgainstSim(t *testing.T) {
	s, ad, ep := target(t, "simsecret")
	model := "anthropic.claude-3-5-sonnet-20241022-v2:0"

	t.Run("answer", func(t *testing.T) {
		r, resp := send(t, ad, ep, model, question, false)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		res, err := ad.ChatResponse(body, r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(res.Body), `"content":"The capital of France is Paris."`) || res.Model != model || res.Usage.OutputTokens == 0 || res.FinishReasons[0] != "stop" {
			t.Fatalf("answer %s usage %+v", res.Body, res.Usage)
		}
	})
	t.Run("stream", func(t *testing.T) {
		r, resp := send(t, ad, ep, model, question, true)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
			t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		out, st, err := readStream(ad, r, resp.Body)
		if err != nil || !st.Done() || !st.Content() || st.Usage().InputTokens == 0 {
			t.Fatalf("err %v done %v usage %+v\n%s", err, st.Done(), st.Usage(), out)
		}
		if !strings.Contains(out, `"content":"Paris."`) || !strings.HasSuffix(out, "data: [DONE]\n\n") {
			t.Fatalf("stream %s", out)
		}
	})
	t.Run("tool call through an ARN model id", func(t *testing.T) {
		arn := "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
		body := `{"messages":[{"role":"user","content":"What is the weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}],"tool_choice":"required"}`
		r, resp := send(t, ad, ep, arn, body, true)
		out, st, err := readStream(ad, r, resp.Body)
		if err != nil || st.FinishReasons()[0] != "tool_calls" || !strings.Contains(out, `"name":"get_weather"`) || !strings.Contains(out, `Paris`) {
			t.Fatalf("err %v\n%s", err, out)
		}
		if s.Stats().Models[arn].Attempts != 1 {
			t.Fatalf("the sim did not see the ARN as the model: %+v", s.Stats().Models)
		}
	})
	t.Run("probe", func(t *testing.T) {
		req, err := ad.ProbeRequest(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"modelId":"anthropic.claude-3-5-sonnet-20241022-v2:0"`) {
			t.Fatalf("probe %d %s", resp.StatusCode, body)
		}
	})
}

func TestAgainstSimWrongSecret(t *testing.T) {
	_, ad, ep := target(t, "not-the-secret")
	_, resp := send(t, ad, ep, "m", question, false)
	body, _ := io.ReadAll(resp.Body)
	out := classify.Response(resp.StatusCode, resp.Header, body)
	if resp.StatusCode != 403 || out.Reason != classify.AuthError {
		t.Fatalf("status %d %+v %s", resp.StatusCode, out, body)
	}
	if strings.Contains(string(body), "not-the-secret") || !strings.Contains(string(ad.ErrorBody(resp.StatusCode, body)), "signature") {
		t.Fatalf("error body %s", ad.ErrorBody(resp.StatusCode, body))
	}
	req, _ := ad.ProbeRequest(context.Background(), ep)
	presp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = presp.Body.Close()
	if presp.StatusCode != 403 {
		t.Fatalf("a probe with bad credentials must fail: %d", presp.StatusCode)
	}
}

// TestAgainstSimFaults: the sim's faults, in Bedrock's wire format, end as
// the router needs: errors classified, broken streams incomplete.
func TestAgainstSimFaults(t *testing.T) {
	for _, tc := range []struct {
		fault      sim.Fault
		stream     bool
		wantReason classify.Reason // for an error status
		wantDone   bool
		wantErr    error // for a stream
	}{
		{fault: sim.Fault{Kind: sim.FaultRateLimit}, wantReason: classify.RateLimited},
		{fault: sim.Fault{Kind: sim.FaultError, Status: 503}, wantReason: classify.UpstreamError},
		{fault: sim.Fault{Kind: sim.FaultError, Status: 424}, wantReason: classify.UpstreamError},
		{fault: sim.Fault{Kind: sim.FaultContextLength}, wantReason: classify.ContextLength},
		{fault: sim.Fault{Kind: sim.FaultContentPolicy}, wantReason: classify.ClientError},
		{fault: sim.Fault{Kind: sim.FaultCut, AfterChunks: 2}, stream: true, wantErr: io.ErrUnexpectedEOF},
		{fault: sim.Fault{Kind: sim.FaultMalformed, AfterChunks: 2}, stream: true, wantErr: provider.ErrMalformedEvent},
		{fault: sim.Fault{Kind: sim.FaultStreamError, AfterChunks: 2}, stream: true, wantErr: errAny},
		{fault: sim.Fault{Kind: sim.FaultNoDone}, stream: true, wantDone: true},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			s, ad, ep := target(t, "simsecret")
			s.SetFault(tc.fault)
			r, resp := send(t, ad, ep, "anthropic.claude-3-5-haiku-20241022-v1:0", question, tc.stream)
			if tc.wantReason != "" {
				body, _ := io.ReadAll(resp.Body)
				if got := classify.Response(resp.StatusCode, resp.Header, body); got.Reason != tc.wantReason {
					t.Fatalf("status %d %s: %+v, want %s", resp.StatusCode, body, got, tc.wantReason)
				}
				return
			}
			out, st, err := readStream(ad, r, resp.Body)
			switch {
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err %v, want %v\n%s", err, tc.wantErr, out)
			case tc.wantErr == nil && err != nil:
				t.Fatalf("err %v\n%s", err, out)
			case st.Done() != tc.wantDone:
				t.Fatalf("done %v, want %v\n%s", st.Done(), tc.wantDone, out)
			}
		})
	}
}

var errAny = errors.New("any error")
