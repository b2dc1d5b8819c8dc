package sim

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/keeptrusts/gateway/pkg/sse"
)

// sdk is an openai-go client of h's simulator.
func (h *harness) sdk() openai.Client {
	return openai.NewClient(
		option.WithBaseURL(h.srv.BaseURL()),
		option.WithAPIKey(testKey),
		option.WithMaxRetries(0),
		option.WithHTTPClient(h.client),
	)
}

// post posts body to path with the kind's right key and reads the answer.
func (h *harness) post(path, body string) (int, http.Header, []byte) {
	h.t.Helper()
	return h.call(http.MethodPost, path, body, authHeaders(h.sim.Kind(), testKey))
}

var weatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name: "get_weather",
	Parameters: map[string]any{
		"type":       "object",
		"properties": map[string]any{"location": map[string]any{"type": "string"}},
		"required":   []string{"location"},
	},
}}

func TestResponsesSDK(t *testing.T) {
	h := newHarness(t, Options{Kind: KindOpenAI, ExpectKey: testKey})
	client := h.sdk()
	ctx := context.Background()

	t.Run("text", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the capital of France?")},
			Instructions: openai.String("Be brief."),
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputText() != "The capital of France is Paris." || r.Status != "completed" || r.Model != "gpt-4o" || !strings.HasPrefix(r.ID, "resp_") {
			t.Errorf("got %q status %q model %q id %q", r.OutputText(), r.Status, r.Model, r.ID)
		}
		if r.Usage.InputTokens < 1 || r.Usage.OutputTokens != int64(tokens("The capital of France is Paris.")) || r.Usage.TotalTokens != r.Usage.InputTokens+r.Usage.OutputTokens {
			t.Errorf("usage %+v", r.Usage)
		}
		if r.Instructions.OfString != "Be brief." {
			t.Errorf("instructions %q", r.Instructions.OfString)
		}
		// Stored by default: GET returns it, DELETE removes it.
		got, err := client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
		if err != nil || got.ID != r.ID || got.OutputText() != r.OutputText() {
			t.Fatalf("get: %v %+v", err, got)
		}
		if err := client.Responses.Delete(ctx, r.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, r.ID) {
			t.Errorf("get after delete: %v", err)
		}
		if err := client.Responses.Delete(ctx, r.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Errorf("second delete: %v", err)
		}
	})

	t.Run("not stored", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}, Store: openai.Bool(false),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{}); err == nil {
			t.Error("a response with store false was stored")
		}
	})

	t.Run("max_output_tokens", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(strings.Repeat("long question ", 20))},
			MaxOutputTokens: openai.Int(16),
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || len([]rune(r.OutputText())) != 64 {
			t.Errorf("status %q reason %q text %q", r.Status, r.IncompleteDetails.Reason, r.OutputText())
		}
	})

	t.Run("function tool round trip, stateful", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What's the weather in Paris?")},
			Tools: []responses.ToolUnionParam{weatherTool},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Output) != 1 || r.Output[0].Type != "function_call" {
			t.Fatalf("output %+v", r.Output)
		}
		call := r.Output[0].AsFunctionCall()
		if call.Name != "get_weather" || call.Arguments != `{"location":"Paris"}` || !strings.HasPrefix(call.CallID, "call_") {
			t.Fatalf("call %+v", call)
		}
		out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temp_c":21}`)
		out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
		r2, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", PreviousResponseID: openai.String(r.ID), Tools: []responses.ToolUnionParam{weatherTool},
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := `Simulated openai answer based on the tool result: {"temp_c":21}`; r2.OutputText() != want {
			t.Errorf("follow-up %q, want %q", r2.OutputText(), want)
		}
		if r2.PreviousResponseID != r.ID || r2.Usage.InputTokens <= r.Usage.InputTokens {
			t.Errorf("previous %q, input tokens %d after %d", r2.PreviousResponseID, r2.Usage.InputTokens, r.Usage.InputTokens)
		}
		// A follow-up that leaves the call unanswered is refused.
		_, err = client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", PreviousResponseID: openai.String(r.ID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and?")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Message != "No tool output found for function call "+call.CallID+"." {
			t.Errorf("unanswered call: %v", err)
		}
	})

	t.Run("function tool round trip, stateless", func(t *testing.T) {
		out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny")
		out.OfFunctionCallOutput.CallID = openai.String("call_1")
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", Store: openai.Bool(false), Tools: []responses.ToolUnionParam{weatherTool},
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage("What's the weather in Paris?", responses.EasyInputMessageRoleUser),
				responses.ResponseInputItemParamOfFunctionCall(`{"location":"Paris"}`, "call_1", "get_weather"),
				out,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := "Simulated openai answer based on the tool result: sunny"; r.OutputText() != want {
			t.Errorf("got %q, want %q", r.OutputText(), want)
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "gpt-4o-mini", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the capital of France?")},
		})
		var types []string
		var text string
		var final responses.Response
		for stream.Next() {
			ev := stream.Current()
			if ev.SequenceNumber != int64(len(types)) {
				t.Errorf("event %d has sequence_number %d", len(types), ev.SequenceNumber)
			}
			types = append(types, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				text += ev.Delta
			case "response.completed":
				final = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		wantTypes := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
		for range words("The capital of France is Paris.") {
			wantTypes = append(wantTypes, "response.output_text.delta")
		}
		wantTypes = append(wantTypes, "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed")
		if !slices.Equal(types, wantTypes) {
			t.Errorf("events\n%v\nwant\n%v", types, wantTypes)
		}
		if text != "The capital of France is Paris." || final.OutputText() != text || final.Usage.OutputTokens == 0 {
			t.Errorf("text %q, final %q usage %+v", text, final.OutputText(), final.Usage)
		}
		got, err := client.Responses.Get(ctx, final.ID, responses.ResponseGetParams{})
		if err != nil || got.OutputText() != text {
			t.Errorf("streamed response not stored: %v", err)
		}
	})

	t.Run("stream function call", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather in Paris?")},
			Tools: []responses.ToolUnionParam{weatherTool},
		})
		var args, done string
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.function_call_arguments.delta":
				args += ev.Delta
			case "response.function_call_arguments.done":
				done = ev.Arguments
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if args != `{"location":"Paris"}` || done != args {
			t.Errorf("arguments %q, done %q", args, done)
		}
	})
}

func TestResponsesValidation(t *testing.T) {
	h := newHarness(t, Options{Kind: KindOpenAI, ExpectKey: testKey})
	tests := []struct {
		name, body, param, message string
	}{
		{"missing model", `{"input":"hi"}`, "model", "Missing required parameter: 'model'."},
		{"missing input", `{"model":"gpt-4o"}`, "input", "Missing required parameter: 'input'."},
		{"unknown parameter", `{"model":"gpt-4o","input":"hi","messages":[]}`, "messages", "Unknown parameter: 'messages'."},
		{"unknown previous response", `{"model":"gpt-4o","input":"hi","previous_response_id":"resp_nope"}`, "previous_response_id", "Previous response with id 'resp_nope' not found."},
		{"output without call", `{"model":"gpt-4o","input":[{"type":"function_call_output","call_id":"call_x","output":"1"}]}`, "input", "No tool call found for function call output with call_id call_x."},
		{"bad role", `{"model":"gpt-4o","input":[{"role":"robot","content":"hi"}]}`, "input[0].role", ""},
		{"bad part", `{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, "input[0].content[0].type", ""},
		{"tool without name", `{"model":"gpt-4o","input":"hi","tools":[{"type":"function"}]}`, "tools[0].name", ""},
		{"max_output_tokens too low", `{"model":"gpt-4o","input":"hi","max_output_tokens":4}`, "max_output_tokens", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := h.in(t).post("/v1/responses", tt.body)
			if status != 400 {
				t.Fatalf("status %d: %s", status, body)
			}
			e := decodeError(t, KindOpenAI, body)
			if e.Error.Param == nil || *e.Error.Param != tt.param || (tt.message != "" && e.Error.Message != tt.message) {
				t.Errorf("error %s", body)
			}
		})
	}
	t.Run("no key", func(t *testing.T) {
		status, _, _ := h.in(t).call(http.MethodPost, "/v1/responses", `{"model":"gpt-4o","input":"hi"}`, nil)
		if status != 401 {
			t.Errorf("status %d", status)
		}
		status, _, _ = h.in(t).call(http.MethodGet, "/v1/responses/resp_1", "", nil)
		if status != 401 {
			t.Errorf("GET without a key: status %d", status)
		}
	})
}

func TestResponseStoreBounded(t *testing.T) {
	t.Parallel()
	var st responseStore
	for i := range maxStoredResponses + 10 {
		st.put(fmt.Sprint(i), storedResponse{})
	}
	if _, ok := st.get("9"); ok {
		t.Error("the oldest responses were kept")
	}
	if _, ok := st.get("10"); !ok {
		t.Error("a recent response was dropped")
	}
	if len(st.byID) != maxStoredResponses || len(st.order) != maxStoredResponses {
		t.Errorf("%d stored, %d in order", len(st.byID), len(st.order))
	}
	if !st.delete("500") || st.delete("500") || len(st.order) != maxStoredResponses-1 {
		t.Error("delete")
	}
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func TestEmbeddingsSDK(t *testing.T) {
	h := newHarness(t, Options{Kind: KindOpenAI, ExpectKey: testKey})
	client := h.sdk()
	ctx := context.Background()
	tests := []struct {
		name     string
		model    string
		input    openai.EmbeddingNewParamsInputUnion
		dims     int64
		wantN    int
		wantDims int
	}{
		{"string small", "text-embedding-3-small", openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}, 0, 1, 1536},
		{"batch large", "text-embedding-3-large", openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "hello"}}, 0, 3, 3072},
		{"dimensions", "text-embedding-3-large", openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello"}}, 256, 1, 256},
		{"tokens", "nomic-embed-text", openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2, 3}, {4}}}, 0, 2, 1536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openai.EmbeddingNewParams{Model: tt.model, Input: tt.input}
			if tt.dims > 0 {
				p.Dimensions = openai.Int(tt.dims)
			}
			r, err := client.Embeddings.New(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Data) != tt.wantN || r.Model != tt.model || r.Object != "list" || r.Usage.PromptTokens < int64(tt.wantN) || r.Usage.TotalTokens != r.Usage.PromptTokens {
				t.Fatalf("%d vectors, model %q, usage %+v", len(r.Data), r.Model, r.Usage)
			}
			for i, d := range r.Data {
				if d.Index != int64(i) || len(d.Embedding) != tt.wantDims || math.Abs(norm(d.Embedding)-1) > 1e-3 {
					t.Errorf("vector %d: index %d, %d dims, norm %f", i, d.Index, len(d.Embedding), norm(d.Embedding))
				}
			}
		})
	}
	t.Run("deterministic", func(t *testing.T) {
		get := func(model, in string) []float64 {
			r, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: model, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(in)}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Data[0].Embedding
		}
		a, b := get("text-embedding-3-small", "x"), get("text-embedding-3-small", "x")
		if !slices.Equal(a, b) {
			t.Error("the same input got two vectors")
		}
		if slices.Equal(a, get("text-embedding-3-small", "y")) || slices.Equal(a, get("other-model", "x")) {
			t.Error("another input or model got the same vector")
		}
		// The batch answers each input as alone.
		r, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"y", "x"}}})
		if err != nil || !slices.Equal(r.Data[1].Embedding, a) {
			t.Errorf("batch vector differs: %v", err)
		}
	})
	t.Run("base64", func(t *testing.T) {
		status, _, body := h.in(t).post("/v1/embeddings", `{"model":"text-embedding-3-small","input":["x"],"encoding_format":"base64","dimensions":8}`)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var r struct {
			Data []struct {
				Embedding string `json:"embedding"`
			} `json:"data"`
		}
		decodeStrictT(t, body, &struct {
			Object string          `json:"object"`
			Data   any             `json:"data"`
			Model  string          `json:"model"`
			Usage  json.RawMessage `json:"usage"`
		}{})
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(r.Data[0].Embedding)
		if err != nil || len(raw) != 32 {
			t.Fatalf("base64 %q: %v", r.Data[0].Embedding, err)
		}
		want := Embedding("text-embedding-3-small", "x", 8)
		for i := range 8 {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != want[i] {
				t.Errorf("component %d = %v, want %v", i, got, want[i])
			}
		}
	})
	bad := []struct{ name, body, param string }{
		{"missing input", `{"model":"text-embedding-3-small"}`, "input"},
		{"empty input", `{"model":"text-embedding-3-small","input":""}`, ""},
		{"empty string in batch", `{"model":"text-embedding-3-small","input":["a",""]}`, ""},
		{"bad format", `{"model":"text-embedding-3-small","input":"a","encoding_format":"hex"}`, "encoding_format"},
		{"too many dimensions", `{"model":"text-embedding-3-small","input":"a","dimensions":5000}`, "dimensions"},
		{"missing model", `{"input":"a"}`, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := h.in(t).post("/v1/embeddings", tt.body)
			if status != 400 {
				t.Fatalf("status %d: %s", status, body)
			}
			e := decodeError(t, KindOpenAI, body)
			if got := ""; e.Error.Param != nil {
				got = *e.Error.Param
				if got != tt.param {
					t.Errorf("param %q, want %q", got, tt.param)
				}
			} else if tt.param != "" {
				t.Errorf("no param, want %q", tt.param)
			}
		})
	}
}

func TestCompletionsSDK(t *testing.T) {
	h := newHarness(t, Options{Kind: KindOpenAI, ExpectKey: testKey})
	client := h.sdk()
	ctx := context.Background()
	const answer = "The capital of France is Paris."
	t.Run("text", func(t *testing.T) {
		r, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model: "gpt-3.5-turbo-instruct", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("the capital of France")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Choices) != 1 || r.Choices[0].Text != answer || r.Choices[0].FinishReason != "stop" || r.Object != "text_completion" {
			t.Fatalf("%+v", r)
		}
		if r.Usage.PromptTokens != int64(tokens("the capital of France")) || r.Usage.CompletionTokens != int64(tokens(answer)) {
			t.Errorf("usage %+v", r.Usage)
		}
	})
	t.Run("default max_tokens 16, several prompts, n", func(t *testing.T) {
		r, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:  "gpt-3.5-turbo-instruct",
			Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"the capital of France", strings.Repeat("word ", 30)}},
			N:      openai.Int(2),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Choices) != 4 {
			t.Fatalf("%d choices", len(r.Choices))
		}
		for i, c := range r.Choices {
			if c.Index != int64(i) {
				t.Errorf("choice %d has index %d", i, c.Index)
			}
		}
		if r.Choices[1].Text != answer || r.Choices[2].FinishReason != "length" || len([]rune(r.Choices[3].Text)) != 64 {
			t.Errorf("choices %+v", r.Choices)
		}
	})
	t.Run("stream", func(t *testing.T) {
		stream := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model: "gpt-3.5-turbo-instruct", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("the capital of France")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var text, finish string
		var usage openai.CompletionUsage
		for stream.Next() {
			c := stream.Current()
			for _, ch := range c.Choices {
				text += ch.Text
				if ch.FinishReason != "" {
					finish = string(ch.FinishReason)
				}
			}
			if c.Usage.TotalTokens > 0 {
				usage = c.Usage
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text != answer || finish != "stop" || usage.CompletionTokens != int64(tokens(answer)) {
			t.Errorf("text %q finish %q usage %+v", text, finish, usage)
		}
	})
	t.Run("missing prompt", func(t *testing.T) {
		status, _, body := h.in(t).post("/v1/completions", `{"model":"gpt-3.5-turbo-instruct"}`)
		if status != 400 {
			t.Fatalf("status %d", status)
		}
		if e := decodeError(t, KindOpenAI, body); e.Error.Param == nil || *e.Error.Param != "prompt" {
			t.Errorf("error %s", body)
		}
	})
}

func TestCountTokens(t *testing.T) {
	h := newHarness(t, Options{Kind: KindAnthropic, ExpectKey: testKey})
	const msgs = `"system":"Be brief.","messages":[{"role":"user","content":"What is the capital of France?"}]`
	status, _, body := h.post("/v1/messages/count_tokens", `{"model":"claude-sonnet-4-20250514",`+msgs+`}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var count struct {
		InputTokens int `json:"input_tokens"`
	}
	decodeStrictT(t, body, &count)
	// The count is what a message with the same content reports.
	status, _, body = h.post("/v1/messages", `{"model":"claude-sonnet-4-20250514","max_tokens":100,`+msgs+`}`)
	if status != 200 {
		t.Fatalf("messages: %d %s", status, body)
	}
	var msg struct {
		Usage struct {
			InputTokens int `json:"input_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(body, &msg)
	if count.InputTokens < 1 || count.InputTokens != msg.Usage.InputTokens {
		t.Errorf("count_tokens %d, message usage %d", count.InputTokens, msg.Usage.InputTokens)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"max_tokens is not a count field", `{"model":"m","max_tokens":1,` + msgs + `}`, "max_tokens: Extra inputs are not permitted"},
		{"missing model", `{` + msgs[strings.Index(msgs, `"messages"`):] + `}`, "model: Field required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := h.in(t).post("/v1/messages/count_tokens", tt.body)
			if e := decodeError(t, KindAnthropic, body); status != 400 || e.Error.Message != tt.want {
				t.Errorf("status %d: %s", status, body)
			}
		})
	}
	if status, _, _ := h.call(http.MethodPost, "/v1/messages/count_tokens", `{"model":"m",`+msgs+`}`, http.Header{"Anthropic-Version": {"2023-06-01"}}); status != 401 {
		t.Errorf("no key: status %d", status)
	}
	// OpenAI's endpoints are not Anthropic's.
	if status, _, _ := h.post("/v1/embeddings", `{"model":"m","input":"x"}`); status != 404 {
		t.Errorf("embeddings on anthropic: %d", status)
	}
}

// endpointCase is one new endpoint's valid request, for the fault tests.
type endpointCase struct {
	name, path, body string
	kind             Kind
	stream           bool
}

var newEndpoints = []endpointCase{
	{"responses", "/v1/responses", `{"model":"gpt-4o","input":"What is the capital of France?"}`, KindOpenAI, false},
	{"responses stream", "/v1/responses", `{"model":"gpt-4o","input":"What is the capital of France?","stream":true}`, KindOpenAI, true},
	{"embeddings", "/v1/embeddings", `{"model":"gpt-4o","input":["a","b"]}`, KindOpenAI, false},
	{"completions", "/v1/completions", `{"model":"gpt-4o","prompt":"the capital of France"}`, KindOpenAI, false},
	{"completions stream", "/v1/completions", `{"model":"gpt-4o","prompt":"the capital of France","stream":true}`, KindOpenAI, true},
	{"count_tokens", "/v1/messages/count_tokens", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, KindAnthropic, false},
}

// TestNewEndpointFaults applies the faults that act on any request to each
// new endpoint: per model, with the provider's error bodies and headers.
func TestNewEndpointFaults(t *testing.T) {
	for _, ep := range newEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			h := newHarness(t, Options{Kind: ep.kind, ExpectKey: testKey})
			// A fault scoped to another model leaves this one alone.
			h.sim.SetFault(Fault{Kind: FaultError, Status: 500, Model: "other"})
			if status, _, body := h.post(ep.path, ep.body); status != 200 {
				t.Fatalf("healthy: %d %s", status, body)
			}
			for _, f := range []Fault{
				{Kind: FaultError, Status: 503, Model: "gpt-4o", Count: 1},
				{Kind: FaultRateLimit, RetryAfterSeconds: 2, Model: "gpt-4o", Count: 1},
				{Kind: FaultWrongKey, Count: 1},
				{Kind: FaultContextLength, Count: 1},
			} {
				h.sim.SetFault(f)
				status, hdr, body := h.post(ep.path, ep.body)
				want := map[FaultKind]int{FaultError: 503, FaultRateLimit: 429, FaultWrongKey: 401, FaultContextLength: 400}[f.Kind]
				if status != want {
					t.Errorf("%s: status %d, want %d: %s", f.Kind, status, want, body)
					continue
				}
				decodeError(t, ep.kind, body)
				if f.Kind == FaultRateLimit && hdr.Get("Retry-After") != "2" {
					t.Errorf("rate_limit: Retry-After %q", hdr.Get("Retry-After"))
				}
				// Count 1: the next request is answered.
				if status, _, body := h.post(ep.path, ep.body); status != 200 {
					t.Errorf("after %s: %d %s", f.Kind, status, body)
				}
			}
			st := h.sim.Stats().Models["gpt-4o"]
			if st.FaultsApplied[FaultError] != 1 || st.FaultsApplied[FaultRateLimit] != 1 || st.Attempts != 9 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// readStream posts a streaming request and reads its events until the
// body ends or fails.
func (h *harness) readStream(ctx context.Context, path, body string) ([]sse.Event, error) {
	h.t.Helper()
	resp, err := h.do(ctx, http.MethodPost, path, body, authHeaders(KindOpenAI, testKey))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		h.t.Fatalf("status %d", resp.StatusCode)
	}
	return readEvents(resp.Body)
}

// TestNewEndpointStreamFaults breaks the Responses and legacy Completions
// streams as chat's: cut and reset before the finishing frame, stall,
// stream_error, malformed and no_done.
func TestNewEndpointStreamFaults(t *testing.T) {
	const (
		respBody = `{"model":"gpt-4o","input":"What is the capital of France?","stream":true}`
		cmplBody = `{"model":"gpt-4o","prompt":"the capital of France","stream":true}`
	)
	isEnd := func(ev sse.Event) bool {
		return string(ev.Name) == "response.completed" || sse.IsDone(ev.Data)
	}
	tests := []struct {
		name  string
		fault Fault
		path  string
		body  string
		check func(t *testing.T, evs []sse.Event, err error)
	}{
		{"responses cut", Fault{Kind: FaultCut, AfterChunks: 5}, "/v1/responses", respBody, func(t *testing.T, evs []sse.Event, err error) {
			if err == nil || errors.Is(err, io.EOF) || len(evs) != 5 {
				t.Errorf("%d events, end %v: want 5 and an unexpected EOF", len(evs), err)
			}
		}},
		{"responses cut capped before completed", Fault{Kind: FaultCut, AfterChunks: 100}, "/v1/responses", respBody, func(t *testing.T, evs []sse.Event, err error) {
			if err == nil || len(evs) == 0 || isEnd(evs[len(evs)-1]) || string(evs[len(evs)-1].Name) != "response.output_item.done" {
				t.Errorf("%d events, end %v", len(evs), err)
			}
		}},
		{"responses reset", Fault{Kind: FaultResetMidStream, AfterChunks: 3}, "/v1/responses", respBody, func(t *testing.T, evs []sse.Event, err error) {
			if err == nil || errors.Is(err, io.EOF) || len(evs) != 3 {
				t.Errorf("%d events, end %v", len(evs), err)
			}
		}},
		{"responses stream_error", Fault{Kind: FaultStreamError, AfterChunks: 2, Status: 503}, "/v1/responses", respBody, func(t *testing.T, evs []sse.Event, err error) {
			if !errors.Is(err, io.EOF) || len(evs) != 3 || string(evs[2].Name) != "error" {
				t.Fatalf("%d events, end %v", len(evs), err)
			}
			var e struct {
				Type           string `json:"type"`
				SequenceNumber int    `json:"sequence_number"`
				Code           string `json:"code"`
				Message        string `json:"message"`
				Param          any    `json:"param"`
			}
			decodeStrictT(t, evs[2].Data, &e)
			if e.Type != "error" || e.SequenceNumber != 2 || e.Code != "server_error" || e.Message == "" {
				t.Errorf("error event %s", evs[2].Data)
			}
		}},
		{"responses malformed", Fault{Kind: FaultMalformed, AfterChunks: 4}, "/v1/responses", respBody, func(t *testing.T, evs []sse.Event, err error) {
			if !errors.Is(err, io.EOF) || len(evs) < 6 || json.Valid(evs[4].Data) || !json.Valid(evs[3].Data) || !isEnd(evs[len(evs)-1]) {
				t.Errorf("%d events, end %v", len(evs), err)
			}
		}},
		{"responses no_done", Fault{Kind: FaultNoDone}, "/v1/responses", respBody, func(t *testing.T, evs []sse.Event, err error) {
			if !errors.Is(err, io.EOF) || len(evs) == 0 || isEnd(evs[len(evs)-1]) || string(evs[len(evs)-1].Name) != "response.output_item.done" {
				t.Errorf("%d events, end %v", len(evs), err)
			}
		}},
		{"completions cut", Fault{Kind: FaultCut, AfterChunks: 100}, "/v1/completions", cmplBody, func(t *testing.T, evs []sse.Event, err error) {
			if err == nil || errors.Is(err, io.EOF) || len(evs) != len(words("The capital of France is Paris.")) {
				t.Errorf("%d events, end %v", len(evs), err)
			}
			for _, ev := range evs {
				if strings.Contains(string(ev.Data), `"finish_reason":"`) {
					t.Errorf("a finish_reason before the cut: %s", ev.Data)
				}
			}
		}},
		{"completions no_done", Fault{Kind: FaultNoDone}, "/v1/completions", cmplBody, func(t *testing.T, evs []sse.Event, err error) {
			if !errors.Is(err, io.EOF) || len(evs) == 0 || isEnd(evs[len(evs)-1]) || !strings.Contains(string(evs[len(evs)-1].Data), `"finish_reason":"stop"`) {
				t.Errorf("%d events, end %v", len(evs), err)
			}
		}},
		{"completions stream_error", Fault{Kind: FaultStreamError, AfterChunks: 1}, "/v1/completions", cmplBody, func(t *testing.T, evs []sse.Event, err error) {
			if !errors.Is(err, io.EOF) || len(evs) != 2 || !strings.Contains(string(evs[1].Data), `"server_error"`) {
				t.Errorf("%d events, end %v", len(evs), err)
			}
		}},
	}
	h := newHarness(t, Options{Kind: KindOpenAI, ExpectKey: testKey})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.sim.SetFault(tt.fault)
			defer h.sim.SetFault(Fault{})
			evs, err := h.in(t).readStream(context.Background(), tt.path, tt.body)
			tt.check(t, evs, err)
		})
	}
	t.Run("responses stall", func(t *testing.T) {
		h.sim.SetFault(Fault{Kind: FaultStall, AfterChunks: 2})
		defer h.sim.SetFault(Fault{})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		evs, err := h.in(t).readStream(ctx, "/v1/responses", respBody)
		if len(evs) != 2 || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%d events, end %v: want 2, then silence until the client gives up", len(evs), err)
		}
	})
	t.Run("responses slow_first_content", func(t *testing.T) {
		h.sim.SetFault(Fault{Kind: FaultSlowFirstContent, Delay: time.Hour})
		defer h.sim.SetFault(Fault{})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		evs, err := h.in(t).readStream(ctx, "/v1/responses", respBody)
		// The lifecycle events come at once, the first text delta is held.
		if len(evs) != 4 || string(evs[3].Name) != "response.content_part.added" || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%d events, end %v", len(evs), err)
		}
	})
}
