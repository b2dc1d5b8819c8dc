package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/router"
)

// An attempt's span and metrics name the operation of the API it serves
// (gen_ai.operation.name) and the span the endpoint: Messages is a chat
// operation, told apart from Chat Completions by keeptrusts.endpoint.
func TestAttemptOperationAndEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		api      provider.API
		kind     string
		model    string
		wantSpan string
		wantOp   string
	}{
		{"chat", provider.APIChat, "openai", "gpt-4o-mini", "chat gpt-4o-mini", "chat"},
		{"messages", provider.APIMessages, "anthropic", "claude-sonnet-4-20250514", "chat claude-sonnet-4-20250514", "chat"},
		{"count_tokens", provider.APICountTokens, "anthropic", "claude-sonnet-4-20250514", "chat claude-sonnet-4-20250514", "chat"},
		{"responses", provider.APIResponses, "openai", "gpt-4.1", "chat gpt-4.1", "chat"},
		{"embeddings", provider.APIEmbeddings, "openai", "text-embedding-3-small", "embeddings text-embedding-3-small", "embeddings"},
		{"completions", provider.APICompletions, "openai_compatible", "gpt-3.5-turbo-instruct", "text_completion gpt-3.5-turbo-instruct", "text_completion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			obs := h.tel.Observer()
			a := &router.Attempt{N: 1, API: tt.api, Target: "t1", Kind: tt.kind, Model: tt.model, Start: time.Now()}
			ctx := obs.StartAttempt(context.Background(), a)
			a.Duration = 20 * time.Millisecond
			a.ResponseModel = tt.model
			a.Usage = provider.Usage{InputTokens: 8, OutputTokens: 2}
			obs.EndAttempt(ctx, a)

			span := one(t, h.spans.Ended(), tt.wantSpan)
			wantAttrs(t, "attempt", span.Attributes(), map[string]any{
				"gen_ai.operation.name": tt.wantOp,
				"keeptrusts.endpoint":   tt.api.String(),
				"gen_ai.request.model":  tt.model,
				"keeptrusts.target.id":  "t1",
			})

			ms := h.collect(t)
			base := "gen_ai.operation.name=" + tt.wantOp + ",gen_ai.provider.name=" + providerName(tt.kind) +
				",gen_ai.request.model=" + tt.model + ",gen_ai.response.model=" + tt.model + ",keeptrusts.target.id=t1"
			wantPoints(t, ms, MetricClientOperationDuration, "s", map[string]float64{base: 1})
			wantPoints(t, ms, MetricClientTokenUsage, "{token}", map[string]float64{
				with(base, "gen_ai.token.type=input"):  1,
				with(base, "gen_ai.token.type=output"): 1,
			})
		})
	}
}

// The gateway-level metrics of a request carry its operation and endpoint.
func TestRequestOperationAndEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		api    provider.API
		stream bool
		server string // gen_ai.server.request.duration's attributes
		count  string // keeptrusts.requests' attributes
	}{
		{"chat by default", provider.APIChat, false,
			"gen_ai.operation.name=chat,gen_ai.request.model=m,gen_ai.response.model=m,keeptrusts.endpoint=chat",
			"endpoint=chat,provider=p,status_class=2xx"},
		{"messages", provider.APIMessages, true,
			"gen_ai.operation.name=chat,gen_ai.request.model=m,gen_ai.request.stream=true,gen_ai.response.model=m,keeptrusts.endpoint=messages",
			"endpoint=messages,provider=p,status_class=2xx"},
		{"embeddings", provider.APIEmbeddings, false,
			"gen_ai.operation.name=embeddings,gen_ai.request.model=m,gen_ai.response.model=m,keeptrusts.endpoint=embeddings",
			"endpoint=embeddings,provider=p,status_class=2xx"},
		{"completions", provider.APICompletions, true,
			"gen_ai.operation.name=text_completion,gen_ai.request.model=m,gen_ai.request.stream=true,gen_ai.response.model=m,keeptrusts.endpoint=completions",
			"endpoint=completions,provider=p,status_class=2xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			h.tel.RecordRequest(context.Background(), Request{API: tt.api, Provider: "p", RequestedModel: "m", Model: "m",
				Status: 200, Stream: tt.stream, Duration: time.Second, UpstreamTime: 900 * time.Millisecond, TimeToFirstToken: 100 * time.Millisecond})
			ms := h.collect(t)
			wantPoints(t, ms, MetricServerRequestDuration, "s", map[string]float64{tt.server: 1})
			if tt.stream {
				wantPoints(t, ms, MetricServerTimeToFirstToken, "s", map[string]float64{tt.server: 1})
			}
			wantPoints(t, ms, MetricRequests, "{request}", map[string]float64{tt.count: 1})
		})
	}
}
