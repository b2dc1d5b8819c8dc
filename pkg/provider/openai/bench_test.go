package openai

import (
	"context"
	"net/http"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// benchRequest is a typical ~1 KiB chat request.
const benchRequest = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly and precisely, citing sources when it can."},{"role":"user","content":"Summarise the main trade-offs between active health checks and passive circuit breakers for an LLM gateway that fails over between OpenAI and Anthropic, in three bullet points."},{"role":"assistant","content":"1. Active checks find outages before users do but cost requests. 2. Breakers react to real traffic only. 3. Combining both gives fast detection and safe recovery."},{"role":"user","content":"And how should Retry-After be handled?"}],"temperature":0.2,"max_tokens":256,"stream":false,"user":"user-1234"}`

// benchResponse is a typical non-streaming answer.
const benchResponse = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Honour it: stop sending to the target until the hint passes, fail over meanwhile, and never count the wait itself as an outage.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":112,"completion_tokens":31,"total_tokens":143,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_06737a9306"}`

func BenchmarkChatRequest(b *testing.B) {
	ep := &provider.Endpoint{BaseURL: "https://api.openai.com/v1", APIKey: "sk-bench", Header: http.Header{"Openai-Organization": {"org-1"}}}
	ctx := context.Background()
	for _, bc := range []struct{ name, model string }{
		{"same model", "gpt-4o-mini"},
		{"mapped model", "claude-sonnet-4-20250514"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := New("openai")
			r := &provider.Request{Body: []byte(benchRequest), Model: bc.model, BodyModel: "gpt-4o-mini"}
			b.SetBytes(int64(len(benchRequest)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.ChatRequest(ctx, ep, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkChatResponse(b *testing.B) {
	a := New("openai")
	body := []byte(benchResponse)
	r := &provider.Request{Model: "gpt-4o-mini"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.ChatResponse(body, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvent measures one content chunk of a stream whose model is
// already known: the common case.
func BenchmarkStreamEvent(b *testing.B) {
	const data = `{"id":"chatcmpl-9xYz0123456789AbCdEf","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}`
	ev := sse.Event{Data: []byte(data), Raw: []byte("data: " + data + "\n\n")}
	s := New("openai").NewStream(&provider.Request{Model: "gpt-4o-mini", Stream: true})
	dst, err := s.Event(nil, ev)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(ev.Raw)))
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = s.Event(dst[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}
