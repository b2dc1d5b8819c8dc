package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// frontDoorConfig serves every model API from three simulators: two
// deployments of the same OpenAI models (openai-a, openai-b) and an
// Anthropic one. Probes are off and the breakers need many failures, so a
// fault set through a simulator's admin API acts on the next request and
// a down primary is attempted (and failed over) every time.
const frontDoorConfig = `version: '1'
providers:
  targets:
    - id: openai-a
      provider: openai
      base_url: http://127.0.0.1:%[1]d/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: openai-b
      provider: openai
      base_url: http://127.0.0.1:%[2]d/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: anthropic
      provider: anthropic
      base_url: http://127.0.0.1:%[3]d
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
  failover:
    retry: {max_attempts: 1, timeout_seconds: 10}
routes:
  - model: "claude-*"
    targets:
      - target: anthropic
      - {target: openai-a, model: gpt-4o-mini}
  - model: gpt-3.5-turbo-instruct
    targets:
      - target: openai-a
      - target: openai-b
  - model: text-embedding-3-small
    targets:
      - target: openai-a
      - target: openai-b
  - model: gpt-4.1
    targets:
      - target: openai-a
      - target: openai-b
      - {target: anthropic, model: claude-sonnet-4-20250514}
  - model: "gpt-*"
    targets:
      - target: openai-a
      - {target: anthropic, model: claude-sonnet-4-20250514}
events:
  path: %[4]s
`

// simProc is a running `kt sim` with its admin API.
type simProc struct {
	port  int
	admin string // http://127.0.0.1:N
}

// startSimAdmin starts `kt sim` like startSim and returns its admin URL
// too, for faults and counters.
func startSimAdmin(t *testing.T, kind, key string) simProc {
	t.Helper()
	port, admin := freePort(t), freePort(t)
	p := start(t, nil, "sim", "--kind", kind, "--port", fmt.Sprint(port), "--admin-port", fmt.Sprint(admin), "--expect-key", key)
	waitOutput(t, p, "provider ready")
	return simProc{port: port, admin: fmt.Sprintf("http://127.0.0.1:%d", admin)}
}

// down takes s down (its API listener closed: connections refused) until
// the end of the calling (sub)test.
func (s simProc) down(t *testing.T) {
	t.Helper()
	if code := httpJSON(t, http.MethodPut, s.admin+"/fault", `{"kind":"down"}`, nil); code/100 != 2 {
		t.Fatalf("set fault down: HTTP %d", code)
	}
	t.Cleanup(func() { s.up(t) })
}

// up clears s's simulator-wide fault, which reopens its listener.
func (s simProc) up(t *testing.T) {
	t.Helper()
	if code := httpJSON(t, http.MethodDelete, s.admin+"/fault", "", nil); code/100 != 2 {
		t.Errorf("clear fault: HTTP %d", code)
	}
}

// requests is the number of model requests s has seen.
func (s simProc) requests(t *testing.T) int {
	t.Helper()
	var st struct {
		ChatRequests int `json:"chat_requests"`
	}
	if code := httpJSON(t, http.MethodGet, s.admin+"/stats", "", &st); code != 200 {
		t.Fatalf("stats: HTTP %d", code)
	}
	return st.ChatRequests
}

// headerLog keeps the headers of the last answer an SDK received: the
// gateway names the provider that answered in X-Keeptrusts-Provider, on
// streams as on whole answers.
type headerLog struct {
	mu   sync.Mutex
	last http.Header
}

func (h *headerLog) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		h.mu.Lock()
		h.last = resp.Header.Clone()
		h.mu.Unlock()
	}
	return resp, err
}

// get returns a header of the last answer.
func (h *headerLog) get(key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last.Get(key)
}

// reset forgets the last answer, so that a case never reads the previous
// case's headers.
func (h *headerLog) reset() {
	h.mu.Lock()
	h.last = nil
	h.mu.Unlock()
}

// frontDoor is the running gateway and simulators the subtests share.
type frontDoor struct {
	oaA, oaB, an simProc
	url          string
	hdr          *headerLog
	anthropic    anthropic.Client
	openai       openai.Client
}

// answeredBy fails t unless the last answer came from provider want.
func (fd *frontDoor) answeredBy(t *testing.T, want string) {
	t.Helper()
	if got := fd.hdr.get("X-Keeptrusts-Provider"); got != want {
		t.Errorf("answered by %q, want %q", got, want)
	}
}

// primaryCases runs each case with the primary healthy and down; wantUp
// and wantDown are the providers that should answer.
func primaryCases(t *testing.T, fd *frontDoor, primary simProc, wantUp, wantDown string, run func(t *testing.T, want string)) {
	t.Helper()
	for _, c := range []struct {
		name string
		down bool
		want string
	}{{"primary healthy", false, wantUp}, {"primary down", true, wantDown}} {
		t.Run(c.name, func(t *testing.T) {
			if c.down {
				primary.down(t)
			}
			fd.hdr.reset()
			run(t, c.want)
		})
	}
}

func startFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	dir := t.TempDir()
	fd := &frontDoor{
		oaA: startSimAdmin(t, "openai", openAIKey),
		oaB: startSimAdmin(t, "openai", openAIKey),
		an:  startSimAdmin(t, "anthropic", anthropicKey),
		hdr: &headerLog{},
	}
	cfg := filepath.Join(dir, "frontdoor.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, frontDoorConfig, fd.oaA.port, fd.oaB.port, fd.an.port, filepath.Join(dir, "events.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	startGateway(t, []string{"OPENAI_API_KEY=" + openAIKey, "ANTHROPIC_API_KEY=" + anthropicKey, "XDG_STATE_HOME=" + filepath.Join(dir, "state")}, cfg, "--port", fmt.Sprint(port))
	fd.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	// The gateway holds the provider keys: the clients' keys are
	// placeholders. No retries, so one call is one gateway request.
	httpc := &http.Client{Transport: fd.hdr, Timeout: 20 * time.Second}
	fd.anthropic = anthropic.NewClient(aoption.WithBaseURL(fd.url), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0), aoption.WithHTTPClient(httpc))
	fd.openai = openai.NewClient(ooption.WithBaseURL(fd.url+"/v1"), ooption.WithAPIKey("unused"), ooption.WithMaxRetries(0), ooption.WithHTTPClient(httpc))
	return fd
}

// TestFrontDoorSDKs drives every model endpoint of a `kt gateway run`
// process with the official Go SDKs (anthropic-sdk-go for the Messages
// API, openai-go for Responses, Embeddings and Completions), each case
// with its route's primary healthy and down: with it down, Messages and
// Responses requests are answered by the other provider kind through the
// bridges, embeddings and completions by another deployment of the same
// model. The SDKs' own decoding judges the answers.
func TestFrontDoorSDKs(t *testing.T) {
	fd := startFrontDoor(t)
	t.Run("messages", func(t *testing.T) { testFrontDoorMessages(t, fd) })
	t.Run("responses", func(t *testing.T) { testFrontDoorResponses(t, fd) })
	t.Run("responses pinned", func(t *testing.T) { testFrontDoorPinned(t, fd) })
	t.Run("embeddings", func(t *testing.T) { testFrontDoorEmbeddings(t, fd) })
	t.Run("completions", func(t *testing.T) { testFrontDoorCompletions(t, fd) })
}

const claudeModel = "claude-sonnet-4-20250514"

var anthropicWeatherTool = anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather for a city"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"location": map[string]any{"type": "string"}},
		Required:   []string{"location"},
	},
}

// wantModel is the model that answers on each provider of a Messages or
// Responses route.
func wantModel(provider, openaiModel string) string {
	if provider == "anthropic" {
		return claudeModel
	}
	return openaiModel
}

func testFrontDoorMessages(t *testing.T, fd *frontDoor) {
	ctx := context.Background()
	client := fd.anthropic
	weather := anthropic.NewUserMessage(anthropic.NewTextBlock("What's the weather like in Paris today?"))
	tools := []anthropic.ToolUnionParam{{OfTool: &anthropicWeatherTool}}

	t.Run("text", func(t *testing.T) {
		primaryCases(t, fd, fd.an, "anthropic", "openai-a", func(t *testing.T, want string) {
			msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256,
				System:   []anthropic.TextBlockParam{{Text: "Be brief."}},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the capital of France?"))},
			})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if msg.Role != "assistant" || len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "The capital of France is Paris." {
				t.Fatalf("answer %s", msg.RawJSON())
			}
			if msg.Model != wantModel(want, "gpt-4o-mini") || msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
				t.Errorf("model %q stop %q usage %+v", msg.Model, msg.StopReason, msg.Usage)
			}
		})
	})

	t.Run("tool use round trip", func(t *testing.T) {
		primaryCases(t, fd, fd.an, "anthropic", "openai-a", func(t *testing.T, want string) {
			msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256, Tools: tools, Messages: []anthropic.MessageParam{weather},
			})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if msg.StopReason != anthropic.StopReasonToolUse {
				t.Fatalf("stop reason %q: %s", msg.StopReason, msg.RawJSON())
			}
			var use *anthropic.ContentBlockUnion
			for i := range msg.Content {
				if msg.Content[i].Type == "tool_use" {
					use = &msg.Content[i]
				}
			}
			if use == nil || use.Name != "get_weather" || use.ID == "" {
				t.Fatalf("no get_weather tool_use: %s", msg.RawJSON())
			}
			var input map[string]any
			if err := json.Unmarshal(use.Input, &input); err != nil || input["location"] != "Paris" {
				t.Fatalf("tool input %s: %v", use.Input, err)
			}

			fd.hdr.reset()
			final, err := client.Messages.New(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256, Tools: tools,
				Messages: []anthropic.MessageParam{weather, msg.ToParam(), anthropic.NewUserMessage(
					anthropic.NewToolResultBlock(use.ID, `{"temperature_c":18,"conditions":"sunny"}`, false))},
			})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if final.StopReason != anthropic.StopReasonEndTurn || len(final.Content) != 1 || !strings.Contains(final.Content[0].Text, "sunny") {
				t.Fatalf("final answer %s", final.RawJSON())
			}
		})
	})

	t.Run("stream", func(t *testing.T) {
		primaryCases(t, fd, fd.an, "anthropic", "openai-a", func(t *testing.T, want string) {
			stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the capital of France?"))},
			})
			var acc anthropic.Message
			deltas := 0
			for stream.Next() {
				ev := stream.Current()
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
				if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
					deltas++
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if len(acc.Content) != 1 || acc.Content[0].Text != "The capital of France is Paris." || deltas < 2 {
				t.Fatalf("accumulated %+v from %d text deltas", acc.Content, deltas)
			}
			if acc.Model != wantModel(want, "gpt-4o-mini") || acc.StopReason != anthropic.StopReasonEndTurn || acc.Usage.OutputTokens == 0 {
				t.Errorf("model %q stop %q usage %+v", acc.Model, acc.StopReason, acc.Usage)
			}
		})
	})

	t.Run("stream tool input deltas", func(t *testing.T) {
		primaryCases(t, fd, fd.an, "anthropic", "openai-a", func(t *testing.T, want string) {
			stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256, Tools: tools, Messages: []anthropic.MessageParam{weather},
			})
			var acc anthropic.Message
			jsonDeltas := 0
			for stream.Next() {
				ev := stream.Current()
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
				if ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" {
					jsonDeltas++
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if acc.StopReason != anthropic.StopReasonToolUse || jsonDeltas == 0 {
				t.Fatalf("stop %q after %d input_json_delta events", acc.StopReason, jsonDeltas)
			}
			var use anthropic.ContentBlockUnion
			for _, b := range acc.Content {
				if b.Type == "tool_use" {
					use = b
				}
			}
			var input map[string]any
			if err := json.Unmarshal(use.Input, &input); err != nil || use.Name != "get_weather" || input["location"] != "Paris" {
				t.Fatalf("accumulated tool_use %q input %s: %v", use.Name, use.Input, err)
			}
		})
	})

	t.Run("count_tokens", func(t *testing.T) {
		params := anthropic.MessageCountTokensParams{
			Model:    claudeModel,
			System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("Be brief.")},
			Messages: []anthropic.MessageParam{weather},
			Tools:    []anthropic.MessageCountTokensToolUnionParam{{OfTool: &anthropicWeatherTool}},
		}
		// What the Anthropic simulator counts, asked directly.
		direct := anthropic.NewClient(aoption.WithBaseURL(fmt.Sprintf("http://127.0.0.1:%d", fd.an.port)), aoption.WithAPIKey(anthropicKey), aoption.WithMaxRetries(0))
		exact, err := direct.Messages.CountTokens(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		primaryCases(t, fd, fd.an, "anthropic", "", func(t *testing.T, want string) {
			got, err := client.Messages.CountTokens(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			estimated := fd.hdr.get("X-Keeptrusts-Token-Count")
			if want == "anthropic" {
				fd.answeredBy(t, want)
				if got.InputTokens != exact.InputTokens || estimated != "" {
					t.Fatalf("input_tokens %d (token count %q), the target counts %d", got.InputTokens, estimated, exact.InputTokens)
				}
				return
			}
			// No Anthropic target answered: the gateway's estimate.
			if estimated != "estimated" || got.InputTokens <= 0 {
				t.Fatalf("input_tokens %d with X-Keeptrusts-Token-Count %q", got.InputTokens, estimated)
			}
		})
	})
}

var responsesWeatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name:        "get_weather",
	Description: openai.String("Current weather for a city"),
	Parameters: map[string]any{
		"type":       "object",
		"properties": map[string]any{"location": map[string]any{"type": "string"}},
		"required":   []string{"location"},
	},
	Strict: openai.Bool(false),
}}

func testFrontDoorResponses(t *testing.T, fd *frontDoor) {
	ctx := context.Background()
	client := fd.openai
	capital := responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the capital of France?")}

	t.Run("text", func(t *testing.T) {
		primaryCases(t, fd, fd.oaA, "openai-a", "anthropic", func(t *testing.T, want string) {
			r, err := client.Responses.New(ctx, responses.ResponseNewParams{
				Model: "gpt-4o-mini", Input: capital, Instructions: openai.String("Be brief."), Store: openai.Bool(false),
			})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if r.Status != responses.ResponseStatusCompleted || r.OutputText() != "The capital of France is Paris." {
				t.Fatalf("response %s", r.RawJSON())
			}
			if r.Model != wantModel(want, "gpt-4o-mini") || r.Usage.InputTokens == 0 || r.Usage.OutputTokens == 0 {
				t.Errorf("model %q usage %+v", r.Model, r.Usage)
			}
		})
	})

	t.Run("function tool round trip", func(t *testing.T) {
		primaryCases(t, fd, fd.oaA, "openai-a", "anthropic", func(t *testing.T, want string) {
			question := responses.ResponseInputItemParamOfMessage("What's the weather like in Paris today?", responses.EasyInputMessageRoleUser)
			tools := []responses.ToolUnionParam{responsesWeatherTool}
			r, err := client.Responses.New(ctx, responses.ResponseNewParams{
				Model: "gpt-4o-mini", Tools: tools, Store: openai.Bool(false),
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{question}},
			})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			var call responses.ResponseFunctionToolCall
			for _, it := range r.Output {
				if it.Type == "function_call" {
					call = it.AsFunctionCall()
				}
			}
			var args map[string]any
			if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil || call.Name != "get_weather" || call.CallID == "" || args["location"] != "Paris" {
				t.Fatalf("function call %+v (%v) in %s", call, err, r.RawJSON())
			}

			// Stateless follow-up: the whole conversation, the call and its output.
			fd.hdr.reset()
			out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temperature_c":18,"conditions":"sunny"}`)
			out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
			final, err := client.Responses.New(ctx, responses.ResponseNewParams{
				Model: "gpt-4o-mini", Tools: tools, Store: openai.Bool(false),
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
					question, responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), out,
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if !strings.Contains(final.OutputText(), "sunny") {
				t.Fatalf("final answer %s", final.RawJSON())
			}
		})
	})

	t.Run("stream", func(t *testing.T) {
		primaryCases(t, fd, fd.oaA, "openai-a", "anthropic", func(t *testing.T, want string) {
			stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-4o-mini", Input: capital, Store: openai.Bool(false)})
			var text string
			var deltas, created int
			var final *responses.Response
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.created":
					created++
				case "response.output_text.delta":
					text += ev.Delta
					deltas++
				case "response.completed":
					r := ev.Response
					final = &r
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if created != 1 || deltas < 2 || text != "The capital of France is Paris." {
				t.Fatalf("%d response.created, text %q from %d deltas", created, text, deltas)
			}
			if final == nil || final.OutputText() != text || final.Status != responses.ResponseStatusCompleted || final.Usage.OutputTokens == 0 || final.Model != wantModel(want, "gpt-4o-mini") {
				t.Fatalf("response.completed: %+v", final)
			}
		})
	})
}

// testFrontDoorPinned checks that a stored response is continued, read
// and deleted only on the target that holds it: route gpt-4.1 is openai-a,
// openai-b, anthropic; a response stored while openai-a was down is held
// by openai-b, and its follow-ups go there with openai-a healthy again;
// with openai-b down they fail with a 503 instead of going anywhere else.
func testFrontDoorPinned(t *testing.T, fd *frontDoor) {
	ctx := context.Background()
	client := fd.openai

	var first *responses.Response
	t.Run("stored while openai-a is down", func(t *testing.T) {
		fd.oaA.down(t)
		fd.hdr.reset()
		var err error
		first, err = client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4.1", Store: openai.Bool(true),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the capital of France?")},
		})
		if err != nil {
			t.Fatal(err)
		}
		fd.answeredBy(t, "openai-b")
	})
	if first == nil {
		t.FailNow()
	}

	followUp := func(stream bool) (string, error) {
		p := responses.ResponseNewParams{
			Model: "gpt-4.1", PreviousResponseID: openai.String(first.ID), Store: openai.Bool(false),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("And of Italy?")},
		}
		if !stream {
			r, err := client.Responses.New(ctx, p)
			if err != nil {
				return "", err
			}
			return r.OutputText(), nil
		}
		s := client.Responses.NewStreaming(ctx, p)
		var text string
		for s.Next() {
			if ev := s.Current(); ev.Type == "response.completed" {
				text = ev.Response.OutputText()
			}
		}
		return text, s.Err()
	}

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("follow-up goes to the holder stream=%v", stream), func(t *testing.T) {
			fd.hdr.reset()
			text, err := followUp(stream)
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, "openai-b")
			if !strings.Contains(text, "Italy") {
				t.Fatalf("follow-up answer %q", text)
			}
		})
	}

	t.Run("GET from the holder", func(t *testing.T) {
		fd.hdr.reset()
		got, err := client.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		fd.answeredBy(t, "openai-b")
		if got.ID != first.ID || got.OutputText() != first.OutputText() {
			t.Fatalf("GET %s: %s", first.ID, got.RawJSON())
		}
	})

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("503 when the holder is down stream=%v", stream), func(t *testing.T) {
			fd.oaB.down(t)
			beforeA, beforeAn := fd.oaA.requests(t), fd.an.requests(t)
			_, err := followUp(stream)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("follow-up with its holder down: %v", err)
			}
			if msg := apiErr.Message; !strings.Contains(msg, "openai-b") || !strings.Contains(msg, "cannot fail over") {
				t.Errorf("503 message %q does not say why there is no failover", msg)
			}
			if a, an := fd.oaA.requests(t), fd.an.requests(t); a != beforeA || an != beforeAn {
				t.Errorf("the follow-up went elsewhere: openai-a %d→%d, anthropic %d→%d requests", beforeA, a, beforeAn, an)
			}
		})
	}

	t.Run("DELETE at the holder", func(t *testing.T) {
		fd.hdr.reset()
		if err := client.Responses.Delete(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		fd.answeredBy(t, "openai-b")
		_, err := client.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
			t.Fatalf("GET after DELETE: %v", err)
		}
	})
}

func testFrontDoorEmbeddings(t *testing.T, fd *frontDoor) {
	ctx := context.Background()
	const model = "text-embedding-3-small"
	inputs := []string{"The capital of France is Paris.", "hello", "vectors from one model"}
	for _, c := range []struct {
		name   string
		format openai.EmbeddingNewParamsEncodingFormat
		dims   int
	}{
		{"float", openai.EmbeddingNewParamsEncodingFormatFloat, 0},
		{"base64", openai.EmbeddingNewParamsEncodingFormatBase64, 0},
		{"base64 dimensions", openai.EmbeddingNewParamsEncodingFormatBase64, 256},
	} {
		t.Run(c.name, func(t *testing.T) {
			primaryCases(t, fd, fd.oaA, "openai-a", "openai-b", func(t *testing.T, want string) {
				p := openai.EmbeddingNewParams{Model: model, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}, EncodingFormat: c.format}
				if c.dims > 0 {
					p.Dimensions = openai.Int(int64(c.dims))
				}
				r, err := fd.openai.Embeddings.New(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				fd.answeredBy(t, want)
				if len(r.Data) != len(inputs) || r.Model != model || r.Usage.PromptTokens == 0 {
					t.Fatalf("%d vectors of model %q, usage %+v", len(r.Data), r.Model, r.Usage)
				}
				// Both deployments serve the same model: the same vectors,
				// whichever answered (the SDK decoded base64 into floats).
				for i, d := range r.Data {
					wantVec := sim.Embedding(model, inputs[i], c.dims)
					if d.Index != int64(i) || len(d.Embedding) != len(wantVec) {
						t.Fatalf("vector %d: index %d, %d dimensions, want %d", i, d.Index, len(d.Embedding), len(wantVec))
					}
					for j, v := range wantVec {
						if float32(d.Embedding[j]) != v {
							t.Fatalf("vector %d component %d = %v, want %v", i, j, d.Embedding[j], v)
						}
					}
				}
			})
		})
	}
}

func testFrontDoorCompletions(t *testing.T, fd *frontDoor) {
	ctx := context.Background()
	const model = "gpt-3.5-turbo-instruct"
	prompt := openai.CompletionNewParamsPromptUnion{OfString: openai.String("What is the capital of France?")}

	t.Run("text", func(t *testing.T) {
		primaryCases(t, fd, fd.oaA, "openai-a", "openai-b", func(t *testing.T, want string) {
			r, err := fd.openai.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: prompt, MaxTokens: openai.Int(64)})
			if err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if len(r.Choices) != 1 || r.Choices[0].Text != "The capital of France is Paris." || r.Choices[0].FinishReason != openai.CompletionChoiceFinishReasonStop {
				t.Fatalf("completion %s", r.RawJSON())
			}
			if r.Model != model || r.Usage.PromptTokens == 0 || r.Usage.CompletionTokens == 0 {
				t.Errorf("model %q usage %+v", r.Model, r.Usage)
			}
		})
	})

	t.Run("stream", func(t *testing.T) {
		primaryCases(t, fd, fd.oaA, "openai-a", "openai-b", func(t *testing.T, want string) {
			stream := fd.openai.Completions.NewStreaming(ctx, openai.CompletionNewParams{
				Model: model, Prompt: prompt, MaxTokens: openai.Int(64),
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			var text, finish string
			var chunks int
			var usage openai.CompletionUsage
			for stream.Next() {
				c := stream.Current()
				for _, ch := range c.Choices {
					if ch.Text != "" {
						text += ch.Text
						chunks++
					}
					if ch.FinishReason != "" {
						finish = string(ch.FinishReason)
					}
				}
				if c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
					usage = c.Usage
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			fd.answeredBy(t, want)
			if text != "The capital of France is Paris." || chunks < 2 || finish != "stop" || usage.CompletionTokens == 0 {
				t.Fatalf("streamed %q in %d chunks, finish %q, usage %+v", text, chunks, finish, usage)
			}
		})
	})
}
