package responses

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file runs the official openai-go client against a bridge in front
// of the real anthropic adapter and a scripted Anthropic upstream:
// Responses request → chat → Anthropic → chat → Responses, whole and
// streamed. It is the proof that the SDK reads what the bridge emits.

// anthropicUpstream scripts an Anthropic Messages API: a tool_use answer
// to a request offering tools with no tool result yet, text otherwise;
// SSE when asked to stream. It records the bodies it got.
type anthropicUpstream struct {
	mu     sync.Mutex
	bodies []string
}

func (u *anthropicUpstream) last() gjson.Result {
	u.mu.Lock()
	defer u.mu.Unlock()
	return gjson.Parse(u.bodies[len(u.bodies)-1])
}

func (u *anthropicUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, string(body))
	u.mu.Unlock()
	if r.URL.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != "sk-ant-test" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	req := gjson.ParseBytes(body)
	toolTurn := req.Get("tools").IsArray() && !strings.Contains(string(body), `"tool_result"`)
	if !req.Get("stream").Bool() {
		w.Header().Set("Content-Type", "application/json")
		if toolTurn {
			_, _ = io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":40,"output_tokens":12}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"msg_02","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"It is 18C in Paris."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":60,"output_tokens":8,"cache_read_input_tokens":5}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	ev := func(name, data string) { _, _ = io.WriteString(w, "event: "+name+"\ndata: "+data+"\n\n") }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_03","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}`)
	ev("ping", `{"type":"ping"}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"One, "}}`)
	ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"two."}}`)
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	stop := "end_turn"
	if toolTurn {
		stop = "tool_use"
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_weather","input":{}}}`)
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`)
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Rome\"}"}}`)
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`)
	}
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":9}}`)
	ev("message_stop", `{"type":"message_stop"}`)
}

// bridgeHandler is a minimal gateway for one target: what the router does
// with a Responses request on a bridged target, without failover.
func bridgeHandler(t *testing.T, b provider.Adapter, ep *provider.Endpoint, client *http.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stream := gjson.GetBytes(body, "stream").Bool()
		preq := &provider.Request{Body: body, Model: "claude-sonnet-4-20250514", BodyModel: gjson.GetBytes(body, "model").String(), Stream: stream}
		hreq, err := b.ChatRequest(r.Context(), ep, preq)
		var re *provider.RequestError
		if errors.As(err, &re) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(provider.ErrorJSON(re.Message, provider.ErrTypeInvalidRequest, re.Param, ""))
			return
		}
		if err != nil {
			t.Errorf("ChatRequest: %v", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(hreq)
		if err != nil {
			t.Errorf("upstream: %v", err)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			ub, _ := io.ReadAll(resp.Body)
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(b.ErrorBody(resp.StatusCode, ub))
			return
		}
		if !stream {
			ub, _ := io.ReadAll(resp.Body)
			pr, err := b.ChatResponse(ub, preq)
			if err != nil {
				t.Errorf("ChatResponse: %v", err)
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(pr.Body)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		s := b.NewStream(preq)
		rd := sse.NewReader(resp.Body)
		var out []byte
		for {
			ev, err := rd.Next()
			if err != nil {
				out, err = s.Finish(out[:0])
				if err != nil {
					t.Errorf("Finish: %v", err)
				}
				_, _ = w.Write(out)
				return
			}
			out, err = s.Event(out[:0], ev)
			_, _ = w.Write(out)
			if err != nil {
				t.Errorf("Event: %v", err)
				return
			}
		}
	})
}

// newSDK starts the Anthropic upstream and the bridge and returns an
// openai-go client pointed at the bridge.
func newSDK(t *testing.T) (openai.Client, *anthropicUpstream) {
	t.Helper()
	up := &anthropicUpstream{}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	ep := &provider.Endpoint{BaseURL: upSrv.URL, APIKey: "sk-ant-test", DefaultMaxTokens: 1024}
	ep.Prepare()
	gw := httptest.NewServer(bridgeHandler(t, Bridge(anthropic.New()), ep, upSrv.Client()))
	t.Cleanup(gw.Close)
	client := openai.NewClient(
		option.WithBaseURL(gw.URL+"/v1"),
		option.WithAPIKey("unused"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(gw.Client()),
	)
	return client, up
}

func weatherTool() responses.ToolUnionParam {
	return responses.ToolParamOfFunction("get_weather", map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	}, true)
}

// TestSDKText: a text request, answered whole.
func TestSDKText(t *testing.T) {
	client, up := newSDK(t)
	resp, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model:           "gpt-4o",
		Instructions:    openai.String("Be terse."),
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		MaxOutputTokens: openai.Int(100),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.OutputText(); got != "It is 18C in Paris." {
		t.Errorf("output text %q", got)
	}
	if resp.Status != responses.ResponseStatusCompleted || resp.Model != "claude-sonnet-4-20250514" || !strings.HasPrefix(resp.ID, "resp_") {
		t.Errorf("status %q model %q id %q", resp.Status, resp.Model, resp.ID)
	}
	if resp.Usage.InputTokens != 65 || resp.Usage.OutputTokens != 8 || resp.Usage.TotalTokens != 73 || resp.Usage.InputTokensDetails.CachedTokens != 5 {
		t.Errorf("usage %+v", resp.Usage)
	}
	if resp.MaxOutputTokens != 100 || resp.Instructions.OfString != "Be terse." {
		t.Errorf("echo: max_output_tokens %d instructions %+v", resp.MaxOutputTokens, resp.Instructions)
	}
	got := up.last()
	if got.Get("system").String() == "" || !strings.Contains(got.Get("system").Raw, "Be terse.") || got.Get("max_tokens").Int() != 100 {
		t.Errorf("anthropic request %s", got.Raw)
	}
}

// TestSDKFunctionRoundTrip: a tool call, then its output sent back.
func TestSDKFunctionRoundTrip(t *testing.T) {
	client, up := newSDK(t)
	params := responses.ResponseNewParams{
		Model: "gpt-4o",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser),
		}},
		Tools: []responses.ToolUnionParam{weatherTool()},
	}
	first, err := client.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	var call responses.ResponseFunctionToolCall
	for _, it := range first.Output {
		if it.Type == "function_call" {
			call = it.AsFunctionCall()
		}
	}
	if call.CallID != "toolu_01" || call.Name != "get_weather" || call.Arguments != `{"city":"Paris"}` {
		t.Fatalf("function call %+v in %s", call, first.RawJSON())
	}
	if first.OutputText() != "Let me check." {
		t.Errorf("text %q", first.OutputText())
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("18C sunny")
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	params.Input.OfInputItemList = append(params.Input.OfInputItemList,
		responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), out)
	second, err := client.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "It is 18C in Paris." {
		t.Errorf("second answer %q", second.OutputText())
	}
	sent := up.last()
	msgs := sent.Get("messages").Array()
	if len(msgs) != 3 || msgs[1].Get("content.0.type").String() != "tool_use" || msgs[1].Get("content.0.id").String() != "toolu_01" ||
		msgs[2].Get("content.0.type").String() != "tool_result" || msgs[2].Get("content.0.tool_use_id").String() != "toolu_01" {
		t.Errorf("anthropic messages %s", sent.Get("messages").Raw)
	}
}

// TestSDKStreaming reads the bridge's stream with the SDK, text only and
// with a streamed tool call.
func TestSDKStreaming(t *testing.T) {
	tests := []struct {
		name  string
		tools bool
	}{{"text", false}, {"function call", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := newSDK(t)
			params := responses.ResponseNewParams{
				Model: "gpt-4o",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Count.")},
			}
			if tt.tools {
				params.Tools = []responses.ToolUnionParam{weatherTool()}
			}
			s := client.Responses.NewStreaming(context.Background(), params)
			var text, args strings.Builder
			var types []string
			var final responses.Response
			seq := int64(0)
			for s.Next() {
				ev := s.Current()
				types = append(types, ev.Type)
				if ev.SequenceNumber != seq {
					t.Errorf("%s: sequence_number %d, want %d", ev.Type, ev.SequenceNumber, seq)
				}
				seq++
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.AsResponseOutputTextDelta().Delta)
				case "response.function_call_arguments.delta":
					args.WriteString(ev.AsResponseFunctionCallArgumentsDelta().Delta)
				case "response.completed":
					final = ev.AsResponseCompleted().Response
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != "One, two." || final.OutputText() != "One, two." {
				t.Errorf("text %q, final %q", text.String(), final.OutputText())
			}
			if types[0] != "response.created" || types[len(types)-1] != "response.completed" {
				t.Errorf("events %v", types)
			}
			if final.Usage.InputTokens != 25 || final.Usage.OutputTokens != 9 || final.Status != responses.ResponseStatusCompleted {
				t.Errorf("final usage %+v status %s", final.Usage, final.Status)
			}
			if tt.tools {
				if args.String() != `{"city":"Rome"}` {
					t.Errorf("arguments %q", args.String())
				}
				last := final.Output[len(final.Output)-1].AsFunctionCall()
				if last.CallID != "toolu_02" || last.Arguments != `{"city":"Rome"}` {
					t.Errorf("final function call %+v", last)
				}
			}
		})
	}
}

// TestSDKDecodesGoldens decodes every response golden with the SDK's
// Response type, fields checked present (not just zero values).
func TestSDKDecodesGoldens(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			var r responses.Response
			if err := json.Unmarshal(readFile(t, "testdata/responses/"+tc.name+".json"), &r); err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]interface{ Valid() bool }{
				"id": r.JSON.ID, "created_at": r.JSON.CreatedAt, "output": r.JSON.Output, "usage": r.JSON.Usage,
				"tools": r.JSON.Tools, "tool_choice": r.JSON.ToolChoice, "text": r.JSON.Text, "temperature": r.JSON.Temperature,
				"top_p": r.JSON.TopP, "parallel_tool_calls": r.JSON.ParallelToolCalls, "model": r.JSON.Model,
			} {
				if !f.Valid() {
					t.Errorf("%s does not decode", name)
				}
			}
			if string(r.Status) != tc.status {
				t.Errorf("status %q", r.Status)
			}
		})
	}
}
