package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// The client-compatibility tests drive the gateway with the official OpenAI
// SDK for Go while the OpenAI primary is down, so every answer comes from
// the Anthropic-shaped fallback through the translator. The SDK's own
// decoders, stream reader and accumulator are the judge of whether the
// translated answers are OpenAI-shaped: hand-written JSON checks would
// share the translator's blind spots.

const fallbackModel = "claude-sonnet-4-20250514"

// sdkGateway starts the simulator pair with the primary down and a gateway
// in front, and returns an SDK client pointed at the gateway.
func sdkGateway(t *testing.T) (*simPair, openai.Client) {
	t.Helper()
	p := newSimPair(t)
	p.primary.SetFault(sim.Fault{Kind: sim.FaultDown})
	_, srv := p.gateway(t, false, 100, 10, 0)
	return p, sdkClient(srv)
}

// sdkClient is the SDK as an application would configure it for a gateway:
// the gateway holds the provider keys, so the client's key is a dummy.
// Retries are off so that each call is one gateway request; the test
// server's own client is used so that srv.Close drops its idle connections
// (goleak checks for them).
func sdkClient(srv *httptest.Server) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAPIKey("unused"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
	)
}

func capitalQuestion() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the capital of France?")},
	}
}

// sdkMetadata is keeptrusts_metadata as a client would read it.
type sdkMetadata struct {
	Provider string `json:"provider"`
	Failover struct {
		Triggered        bool   `json:"triggered"`
		OriginalProvider string `json:"original_provider"`
		Reason           string `json:"reason"`
	} `json:"failover"`
}

// metadataOf reads keeptrusts_metadata from the fields the SDK did not
// know, the way an application using the SDK has to.
func metadataOf(t *testing.T, extra map[string]string) sdkMetadata {
	t.Helper()
	raw, ok := extra["keeptrusts_metadata"]
	if !ok {
		t.Fatalf("keeptrusts_metadata not among the SDK's extra fields %v", extra)
	}
	var m sdkMetadata
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("keeptrusts_metadata: %v: %s", err, raw)
	}
	return m
}

func checkFailedOver(t *testing.T, m sdkMetadata) {
	t.Helper()
	if m.Provider != "anthropic-fallback" || !m.Failover.Triggered || m.Failover.OriginalProvider != "openai-primary" || m.Failover.Reason != "connection_error" {
		t.Fatalf("keeptrusts_metadata %+v, want a connection_error failover to anthropic-fallback", m)
	}
}

func TestSDKChat(t *testing.T) {
	p, client := sdkGateway(t)
	resp, err := client.Chat.Completions.New(context.Background(), capitalQuestion())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != fallbackModel {
		t.Fatalf("model %q, want %q", resp.Model, fallbackModel)
	}
	if resp.ID == "" || resp.Created == 0 || !resp.JSON.Object.Valid() || resp.Object != "chat.completion" {
		t.Fatalf("id %q created %d object %q", resp.ID, resp.Created, resp.Object)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("%d choices", len(resp.Choices))
	}
	c := resp.Choices[0]
	if !strings.Contains(c.Message.Content, "Paris") || c.Message.Role != "assistant" || c.FinishReason != "stop" || len(c.Message.ToolCalls) != 0 {
		t.Fatalf("choice %+v", c)
	}
	u := resp.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("usage %+v", u)
	}
	extra := map[string]string{}
	for k, f := range resp.JSON.ExtraFields {
		extra[k] = f.Raw()
	}
	checkFailedOver(t, metadataOf(t, extra))
	// The sim counts a request when its handler returns, which may be
	// after the gateway has relayed the answer: poll.
	waitUntil(t, "the fallback to count the request", func() bool { return p.fallback.Stats().ChatRequests == 1 })
}

// TestSDKStream reads a translated Anthropic stream with the SDK's stream
// reader and ChatCompletionAccumulator, with and without include_usage.
func TestSDKStream(t *testing.T) {
	_, client := sdkGateway(t)
	for _, includeUsage := range []bool{true, false} {
		t.Run(map[bool]string{true: "include_usage", false: "no usage"}[includeUsage], func(t *testing.T) {
			params := capitalQuestion()
			if includeUsage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			var httpResp *http.Response
			stream := client.Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&httpResp))
			defer stream.Close()
			var acc openai.ChatCompletionAccumulator
			var contentChunks, usageChunks int
			finished := ""
			for stream.Next() {
				chunk := stream.Current()
				if !acc.AddChunk(chunk) {
					t.Fatalf("the accumulator refused chunk %s", chunk.RawJSON())
				}
				if chunk.Object != "chat.completion.chunk" || chunk.Model != fallbackModel {
					t.Fatalf("chunk object %q model %q", chunk.Object, chunk.Model)
				}
				if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
					contentChunks++
				}
				if chunk.JSON.Usage.Valid() && chunk.Usage.TotalTokens > 0 {
					usageChunks++
					if len(chunk.Choices) != 0 {
						t.Fatalf("the usage chunk carries choices: %s", chunk.RawJSON())
					}
				}
				if content, ok := acc.JustFinishedContent(); ok {
					finished = content
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("%d choices accumulated", len(acc.Choices))
			}
			c := acc.Choices[0]
			if !strings.Contains(c.Message.Content, "Paris") || c.FinishReason != "stop" || acc.Model != fallbackModel {
				t.Fatalf("accumulated %q finish %q model %q", c.Message.Content, c.FinishReason, acc.Model)
			}
			if finished != c.Message.Content {
				t.Fatalf("JustFinishedContent %q, accumulated %q", finished, c.Message.Content)
			}
			// The sim streams word by word; one content chunk would mean
			// the gateway buffered the answer.
			if contentChunks < 2 {
				t.Fatalf("content arrived in %d chunk(s)", contentChunks)
			}
			wantUsage := 0
			if includeUsage {
				wantUsage = 1
				if u := acc.Usage; u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
					t.Fatalf("usage %+v", u)
				}
			}
			if usageChunks != wantUsage {
				t.Fatalf("%d usage chunks, want %d", usageChunks, wantUsage)
			}
			if httpResp == nil || httpResp.Header.Get("X-Keeptrusts-Provider") != "anthropic-fallback" || httpResp.Header.Get("X-Keeptrusts-Model") != fallbackModel ||
				httpResp.Header.Get("X-Keeptrusts-Failover-Reason") != "connection_error" {
				t.Fatalf("stream metadata headers: %v", httpResp)
			}
		})
	}
}

// weatherParams asks about the weather with a get_weather function tool
// offered, which makes the simulated model call it.
func weatherParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather like in Paris today?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openai.String("Current weather for a city"),
			Parameters: shared.FunctionParameters{
				"type":       "object",
				"properties": map[string]any{"location": map[string]any{"type": "string"}},
				"required":   []string{"location"},
			},
		})},
	}
}

// TestSDKToolCallRoundTrip gets a tool call (streamed or not), sends the
// tool's result back as a tool message, and gets the final text answer.
func TestSDKToolCallRoundTrip(t *testing.T) {
	_, client := sdkGateway(t)
	for _, stream := range both {
		t.Run(map[bool]string{false: "non-stream", true: "stream"}[stream], func(t *testing.T) {
			ctx := context.Background()
			params := weatherParams()
			var msg openai.ChatCompletionMessage
			var finish string
			if stream {
				s := client.Chat.Completions.NewStreaming(ctx, params)
				defer s.Close()
				var acc openai.ChatCompletionAccumulator
				argDeltas := 0
				var done []openai.FinishedChatCompletionToolCall
				for s.Next() {
					chunk := s.Current()
					if !acc.AddChunk(chunk) {
						t.Fatalf("the accumulator refused chunk %s", chunk.RawJSON())
					}
					for _, ch := range chunk.Choices {
						for _, tc := range ch.Delta.ToolCalls {
							if tc.Function.Arguments != "" {
								argDeltas++
							}
						}
					}
					if tc, ok := acc.JustFinishedToolCall(); ok {
						done = append(done, tc)
					}
				}
				if err := s.Err(); err != nil {
					t.Fatalf("stream: %v", err)
				}
				if len(done) != 1 || done[0].Name != "get_weather" || done[0].ID == "" {
					t.Fatalf("finished tool calls %+v", done)
				}
				// The sim sends the arguments in several input_json_delta
				// events; they must reach the client as they arrive.
				if argDeltas < 2 {
					t.Fatalf("tool arguments arrived in %d delta(s)", argDeltas)
				}
				if len(acc.Choices) != 1 {
					t.Fatalf("%d choices accumulated", len(acc.Choices))
				}
				msg, finish = acc.Choices[0].Message, acc.Choices[0].FinishReason
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Choices) != 1 {
					t.Fatalf("%d choices", len(resp.Choices))
				}
				msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
			}
			if finish != "tool_calls" || len(msg.ToolCalls) != 1 {
				t.Fatalf("finish %q, %d tool calls: %+v", finish, len(msg.ToolCalls), msg)
			}
			call := msg.ToolCalls[0]
			var args struct {
				Location string `json:"location"`
			}
			if call.Type != "function" || call.ID == "" || call.Function.Name != "get_weather" || json.Unmarshal([]byte(call.Function.Arguments), &args) != nil || args.Location != "Paris" {
				t.Fatalf("tool call %+v", call)
			}

			// The round trip: the SDK's own conversion of the answer back
			// into a request message, then the tool's result.
			params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(`{"temperature_c":18,"conditions":"sunny"}`, call.ID))
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("after the tool result: %v", err)
			}
			if len(resp.Choices) != 1 {
				t.Fatalf("%d choices", len(resp.Choices))
			}
			final := resp.Choices[0]
			// The sim quotes the tool result: proof that it reached
			// Anthropic as a tool_result block.
			if final.FinishReason != "stop" || len(final.Message.ToolCalls) != 0 || !strings.Contains(final.Message.Content, "sunny") {
				t.Fatalf("final answer %+v", final)
			}
		})
	}
}

// TestSDKErrors checks the SDK surfaces the gateway's errors as *openai.Error
// with the status, type, param and code an application would branch on.
func TestSDKErrors(t *testing.T) {
	p, client := sdkGateway(t)
	twoChoices := func() openai.ChatCompletionNewParams {
		params := capitalQuestion()
		params.N = openai.Int(2)
		return params
	}
	tests := []struct {
		name        string
		params      func() openai.ChatCompletionNewParams
		fallbackOut bool
		stream      bool
		status      int
		typ         string
		param, code string
	}{
		// Whole answers fan out (TestSDKFanOut); a stream of n > 1 cannot,
		// so the fallback is skipped (unsupported_request) and nobody is
		// left: the 503 names the field (param) it was skipped for.
		{name: "n=2 cannot be streamed from the fallback", params: twoChoices, stream: true, status: 503, code: "all_providers_failed", param: "n"},
		{name: "all providers down", params: capitalQuestion, fallbackOut: true, status: 503, code: "all_providers_failed"},
		{name: "all providers down/stream", params: capitalQuestion, fallbackOut: true, stream: true, status: 503, code: "all_providers_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fallbackOut {
				p.fallback.SetFault(sim.Fault{Kind: sim.FaultDown})
				defer p.fallback.SetFault(sim.Fault{Kind: sim.FaultNone})
			}
			var err error
			if tc.stream {
				s := client.Chat.Completions.NewStreaming(context.Background(), tc.params())
				for s.Next() {
					t.Fatalf("chunk on an error: %s", s.Current().RawJSON())
				}
				err = s.Err()
				_ = s.Close()
			} else {
				var resp *openai.ChatCompletion
				resp, err = client.Chat.Completions.New(context.Background(), tc.params())
				if err == nil {
					t.Fatalf("no error; answer %s", resp.RawJSON())
				}
			}
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %T %v is not an *openai.Error", err, err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Param != tc.param || apiErr.Message == "" {
				t.Fatalf("status %d code %q param %q message %q; want %d %q %q", apiErr.StatusCode, apiErr.Code, apiErr.Param, apiErr.Message, tc.status, tc.code, tc.param)
			}
			if tc.typ != "" && apiErr.Type != tc.typ {
				t.Fatalf("type %q, want %q", apiErr.Type, tc.typ)
			}
		})
	}
}

// TestSDKFanOut checks n = 2 on failover to the one-choice Anthropic
// fallback: two calls, two choices, usage summed, as the SDK reads them.
func TestSDKFanOut(t *testing.T) {
	p, client := sdkGateway(t)
	params := capitalQuestion()
	params.N = openai.Int(2)
	resp, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{}
	for k, f := range resp.JSON.ExtraFields {
		extra[k] = f.Raw()
	}
	checkFailedOver(t, metadataOf(t, extra))
	if len(resp.Choices) != 2 || resp.Choices[0].Index != 0 || resp.Choices[1].Index != 1 || resp.Choices[1].Message.Content == "" {
		t.Fatalf("choices %s", resp.RawJSON())
	}
	// The sim counts a call when its handler returns.
	waitUntil(t, "2 fallback calls", func() bool { return p.fallback.Stats().ChatRequests == 2 })
	one, err := client.Chat.Completions.New(context.Background(), capitalQuestion())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.PromptTokens != 2*one.Usage.PromptTokens || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("usage %+v, want twice one call's prompt tokens (%d)", resp.Usage, one.Usage.PromptTokens)
	}
}

// TestSDKStreamBrokenMidway checks that a stream the fallback breaks off
// after the answer started ends in an SDK error, not in what would look to
// the application like a complete (truncated) answer.
func TestSDKStreamBrokenMidway(t *testing.T) {
	p, client := sdkGateway(t)
	tests := []struct {
		name  string
		fault sim.Fault
		code  string
	}{
		{"anthropic error event", sim.Fault{Kind: sim.FaultStreamError, AfterChunks: 4}, `"code":"overloaded"`},
		{"connection reset", sim.Fault{Kind: sim.FaultResetMidStream, AfterChunks: 4}, `"code":"stream_interrupted"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.fallback.SetFault(tc.fault)
			defer p.fallback.SetFault(sim.Fault{Kind: sim.FaultNone})
			s := client.Chat.Completions.NewStreaming(context.Background(), capitalQuestion())
			defer s.Close()
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			var se *ssestream.StreamError
			if err := s.Err(); !errors.As(err, &se) || !strings.Contains(se.Message, tc.code) {
				t.Fatalf("stream error %T %v, want a StreamError with %s", err, err, tc.code)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" || acc.Choices[0].FinishReason != "" {
				t.Fatalf("before the break: %+v", acc.Choices)
			}
		})
	}
}
