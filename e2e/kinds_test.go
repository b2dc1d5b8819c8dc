package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// The enterprise kinds' test credentials. The simulators check each: the
// Azure key as api-key, the AWS key pair through SigV4 signature
// verification, the Gemini key as x-goog-api-key and the Vertex access
// token (handed out by the test's own OAuth token endpoint) as a bearer.
const (
	azureKey      = "az-kinds-test-key"
	awsAccessKey  = "AKIDKINDSTEST"
	awsSecretKey  = "kinds-test-secret-access-key"
	geminiKey     = "gemini-kinds-test-key"
	vertexToken   = "ya29.kinds-offline-token"
	bedrockSonnet = "anthropic.claude-3-5-sonnet-20241022-v2:0"
	bedrockHaiku  = "us.anthropic.claude-3-5-haiku-20241022-v1:0" // an inference profile id
)

// kindsConfig pairs the simulators as enterprises pair their providers:
// OpenAI → Azure OpenAI (gpt-4o-mini served by Azure's deployment
// "gpt-4o", so the deployments mapping shows in the answer's model),
// Anthropic → Bedrock, Gemini → Vertex AI, and across families Azure →
// Bedrock. bedrock-wrong-secret is a simulator expecting another secret
// than the gateway's: its requests are signed but refused (auth_error).
// Probes are off and the breakers need many failures, so a simulator
// taken down is attempted (and failed over) on every request.
const kindsConfig = `version: '1'
providers:
  targets:
    - id: openai
      provider: openai
      base_url: http://127.0.0.1:%[1]d/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: azure
      provider: azure_openai
      base_url: http://127.0.0.1:%[2]d
      secret_key_ref: {env: AZURE_OPENAI_API_KEY}
      deployments: {gpt-4o-mini: gpt-4o}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: anthropic
      provider: anthropic
      base_url: http://127.0.0.1:%[3]d
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: bedrock
      provider: bedrock
      base_url: http://127.0.0.1:%[4]d
      region: us-east-1
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: bedrock-wrong-secret
      provider: bedrock
      base_url: http://127.0.0.1:%[5]d
      region: us-east-1
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: gemini
      provider: gemini
      base_url: http://127.0.0.1:%[6]d/v1beta
      secret_key_ref: {env: GEMINI_API_KEY}
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
    - id: vertex
      provider: vertex
      base_url: http://127.0.0.1:%[7]d
      project: kinds-test
      location: us-central1
      health_check: {enabled: false}
      circuit_breaker: {consecutive_failures: 1000}
  failover:
    retry: {max_attempts: 1, timeout_seconds: 10}
routes:
  - model: gpt-4o-mini
    targets:
      - target: openai
      - target: azure
  - model: claude-sonnet-4-20250514
    targets:
      - target: anthropic
      - {target: bedrock, model: "` + bedrockSonnet + `"}
  - model: gemini-2.5-flash
    targets:
      - target: gemini
      - target: vertex
  - model: gpt-4o
    targets:
      - target: azure
      - {target: bedrock, model: "` + bedrockHaiku + `"}
  - model: claude-3-5-haiku-20241022
    targets:
      - {target: bedrock-wrong-secret, model: "` + bedrockHaiku + `"}
      - {target: bedrock, model: "` + bedrockHaiku + `"}
  - model: claude-3-haiku-20240307
    targets:
      - {target: bedrock-wrong-secret, model: "` + bedrockHaiku + `"}
events:
  path: %[8]s
`

// kindsStack is the running gateway and simulators the subtests share.
type kindsStack struct {
	openai, azure, anthropic, bedrock, gemini, vertex simProc
	url                                               string
	hdr                                               *headerLog
	oa                                                openai.Client
	an                                                anthropic.Client
	tokenCalls                                        *atomic.Int64
}

// googleTokenServer is a local OAuth token endpoint (httptest, on
// 127.0.0.1) for a service account: it checks the JWT-bearer grant and
// hands out vertexToken, counting the grants.
func googleTokenServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"` + vertexToken + `","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// serviceAccountKey writes a Google service-account key file (with a key
// made for the test) whose token_uri is tokenURL.
func serviceAccountKey(t *testing.T, dir, tokenURL string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "kinds-test",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "gateway@kinds-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "service-account.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startKinds(t *testing.T) *kindsStack {
	t.Helper()
	dir := t.TempDir()
	tok, calls := googleTokenServer(t)
	ks := &kindsStack{
		openai:     startSimAdmin(t, "openai", openAIKey),
		azure:      startSimAdmin(t, "azure_openai", azureKey),
		anthropic:  startSimAdmin(t, "anthropic", anthropicKey),
		bedrock:    startSimAdmin(t, "bedrock", awsAccessKey+":"+awsSecretKey),
		gemini:     startSimAdmin(t, "gemini", geminiKey),
		vertex:     startSimAdmin(t, "gemini", vertexToken),
		hdr:        &headerLog{},
		tokenCalls: calls,
	}
	// Same access key id, another secret: the gateway's signatures do not
	// verify there.
	wrong := startSimAdmin(t, "bedrock", awsAccessKey+":not-the-gateways-secret")
	cfg := filepath.Join(dir, "kinds.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, kindsConfig, ks.openai.port, ks.azure.port, ks.anthropic.port,
		ks.bedrock.port, wrong.port, ks.gemini.port, ks.vertex.port, filepath.Join(dir, "events.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	// Every credential reaches the gateway as a real deployment's would:
	// through its process environment. AWS_PROFILE and friends are pinned
	// so that a developer's own AWS or Google setup cannot leak in.
	startGateway(t, []string{
		"OPENAI_API_KEY=" + openAIKey,
		"ANTHROPIC_API_KEY=" + anthropicKey,
		"AZURE_OPENAI_API_KEY=" + azureKey,
		"GEMINI_API_KEY=" + geminiKey,
		"AWS_ACCESS_KEY_ID=" + awsAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + awsSecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"GOOGLE_APPLICATION_CREDENTIALS=" + serviceAccountKey(t, dir, tok.URL),
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"),
	}, cfg, "--port", fmt.Sprint(port))
	ks.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	// The gateway holds the provider credentials: the clients' keys are
	// placeholders. No retries, so one call is one gateway request.
	httpc := &http.Client{Transport: ks.hdr, Timeout: 20 * time.Second}
	ks.oa = openai.NewClient(ooption.WithBaseURL(ks.url+"/v1"), ooption.WithAPIKey("unused"), ooption.WithMaxRetries(0), ooption.WithHTTPClient(httpc))
	ks.an = anthropic.NewClient(aoption.WithBaseURL(ks.url), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0), aoption.WithHTTPClient(httpc))
	return ks
}

// answeredBy fails t unless the last answer came from target want.
func (ks *kindsStack) answeredBy(t *testing.T, want string) {
	t.Helper()
	if got := ks.hdr.get("X-Keeptrusts-Provider"); got != want {
		t.Errorf("answered by %q, want %q", got, want)
	}
}

// kindPair is one failover pair: a route whose first target is primary's
// and whose second is fallback's, and the model each one answers with.
type kindPair struct {
	name              string
	model             string // the model the client asks for
	primary           func(ks *kindsStack) simProc
	fallback          func(ks *kindsStack) simProc
	primaryID, fallID string
	primaryModel      string // the model the primary's answers report
	fallModel         string // the model the fallback's answers report
}

var kindPairs = []kindPair{
	{
		name: "openai to azure_openai", model: "gpt-4o-mini",
		primary: func(ks *kindsStack) simProc { return ks.openai }, fallback: func(ks *kindsStack) simProc { return ks.azure },
		primaryID: "openai", fallID: "azure",
		// Azure's deployment chooses the model: gpt-4o-mini is mapped to
		// the deployment gpt-4o, which reports itself.
		primaryModel: "gpt-4o-mini", fallModel: "gpt-4o",
	},
	{
		name: "anthropic to bedrock", model: claudeModel,
		primary: func(ks *kindsStack) simProc { return ks.anthropic }, fallback: func(ks *kindsStack) simProc { return ks.bedrock },
		primaryID: "anthropic", fallID: "bedrock",
		primaryModel: claudeModel, fallModel: bedrockSonnet,
	},
	{
		name: "gemini to vertex", model: "gemini-2.5-flash",
		primary: func(ks *kindsStack) simProc { return ks.gemini }, fallback: func(ks *kindsStack) simProc { return ks.vertex },
		primaryID: "gemini", fallID: "vertex",
		primaryModel: "gemini-2.5-flash", fallModel: "gemini-2.5-flash",
	},
	{
		name: "azure_openai to bedrock", model: "gpt-4o",
		primary: func(ks *kindsStack) simProc { return ks.azure }, fallback: func(ks *kindsStack) simProc { return ks.bedrock },
		primaryID: "azure", fallID: "bedrock",
		primaryModel: "gpt-4o", fallModel: bedrockHaiku,
	},
}

// pairCase is one run of a pair: primary healthy or down, the target and
// model that should answer, and the simulator that should see the request.
type pairCase struct {
	id, model string
	sim       simProc
}

// pairCases runs run with p's primary healthy and down (fault "down"
// through its admin API, cleared when the subtest ends). Each case checks
// that the simulator meant to answer saw the requests.
func pairCases(t *testing.T, ks *kindsStack, p kindPair, run func(t *testing.T, want pairCase)) {
	t.Helper()
	for _, c := range []struct {
		name string
		down bool
		want pairCase
	}{
		{"primary healthy", false, pairCase{p.primaryID, p.primaryModel, p.primary(ks)}},
		{"primary down", true, pairCase{p.fallID, p.fallModel, p.fallback(ks)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.down {
				p.primary(ks).down(t)
			}
			ks.hdr.reset()
			before := c.want.sim.attempts(t, c.want.model)
			run(t, c.want)
			if after := c.want.sim.attempts(t, c.want.model); after == before {
				t.Errorf("%s's simulator saw no request for %s", c.want.id, c.want.model)
			}
		})
	}
}

// attempts is the number of chat requests for model that s has seen,
// counted as they arrive (the simulator's request totals are counted when
// a request ends, which may be after the client has read the last byte).
func (s simProc) attempts(t *testing.T, model string) int64 {
	t.Helper()
	var st sim.ModelStats
	if code := httpJSON(t, http.MethodGet, s.admin+"/stats/models/"+url.PathEscape(model), "", &st); code != 200 {
		t.Fatalf("stats of %s: HTTP %d", model, code)
	}
	return st.Attempts
}

// TestKindsFailover runs `kt sim` of every provider kind and a `kt
// gateway run` whose routes pair them as enterprises do (OpenAI → Azure
// OpenAI, Anthropic → Bedrock, Gemini → Vertex AI, Azure → Bedrock), and
// drives each pair with openai-go's Chat Completions requests, primary
// healthy and down: a plain answer, a tool call round trip, a stream and
// a streamed tool call. Then Anthropic Messages (anthropic-sdk-go) with
// Anthropic down answered by Bedrock through the bridge, recorded in the
// events store, and Bedrock's SigV4 refused by a simulator that expects
// another secret: auth_error, failed over, or a 503 when the route has no
// other target.
func TestKindsFailover(t *testing.T) {
	ks := startKinds(t)
	for _, p := range kindPairs {
		t.Run(p.name, func(t *testing.T) {
			t.Run("text", func(t *testing.T) { testKindsText(t, ks, p) })
			t.Run("tool round trip", func(t *testing.T) { testKindsTools(t, ks, p) })
			t.Run("stream", func(t *testing.T) { testKindsStream(t, ks, p) })
			t.Run("stream tool call", func(t *testing.T) { testKindsStreamTool(t, ks, p) })
		})
	}
	t.Run("vertex credentials", func(t *testing.T) {
		// The vertex simulator answered above only with the bearer token
		// the test's token endpoint handed out; the library caches it.
		if n := ks.tokenCalls.Load(); n != 1 {
			t.Errorf("the token endpoint granted %d tokens, want 1 (fetched once, then cached)", n)
		}
	})
	t.Run("messages anthropic to bedrock", func(t *testing.T) { testKindsMessages(t, ks) })
	t.Run("bedrock wrong secret", func(t *testing.T) { testKindsWrongSecret(t, ks) })
}

var weatherFunction = shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Current weather for a city"),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"location": map[string]any{"type": "string"}},
		"required":   []string{"location"},
	},
}

const capitalAnswer = "The capital of France is Paris."

func testKindsText(t *testing.T, ks *kindsStack, p kindPair) {
	pairCases(t, ks, p, func(t *testing.T, want pairCase) {
		c, err := ks.oa.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: p.model,
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("Be brief."),
				openai.UserMessage("What is the capital of France?"),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ks.answeredBy(t, want.id)
		if len(c.Choices) != 1 || c.Choices[0].Message.Content != capitalAnswer || c.Choices[0].FinishReason != "stop" {
			t.Fatalf("answer %s", c.RawJSON())
		}
		if c.Model != want.model || c.Usage.PromptTokens == 0 || c.Usage.CompletionTokens == 0 {
			t.Errorf("model %q (want %q), usage %d+%d tokens", c.Model, want.model, c.Usage.PromptTokens, c.Usage.CompletionTokens)
		}
		if want.id == p.fallID {
			checkEvent(t, ks, "chat", p.fallID, p.primaryID)
		}
	})
}

func testKindsTools(t *testing.T, ks *kindsStack, p kindPair) {
	ctx := context.Background()
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(weatherFunction)}
	question := openai.UserMessage("What's the weather like in Paris today?")
	pairCases(t, ks, p, func(t *testing.T, want pairCase) {
		c, err := ks.oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: p.model, Tools: tools, Messages: []openai.ChatCompletionMessageParamUnion{question},
		})
		if err != nil {
			t.Fatal(err)
		}
		ks.answeredBy(t, want.id)
		if len(c.Choices) != 1 || c.Choices[0].FinishReason != "tool_calls" || len(c.Choices[0].Message.ToolCalls) != 1 {
			t.Fatalf("answer %s", c.RawJSON())
		}
		call := c.Choices[0].Message.ToolCalls[0]
		var args map[string]any
		if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil || call.ID == "" || call.Function.Name != "get_weather" || args["location"] != "Paris" {
			t.Fatalf("tool call %s (%v)", call.RawJSON(), err)
		}

		// The tool's result goes back with the whole conversation, to the
		// same route: the target that answers translates the call and its
		// result into its own wire format.
		ks.hdr.reset()
		final, err := ks.oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: p.model, Tools: tools,
			Messages: []openai.ChatCompletionMessageParamUnion{
				question, c.Choices[0].Message.ToParam(),
				openai.ToolMessage(`{"temperature_c":18,"conditions":"sunny"}`, call.ID),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ks.answeredBy(t, want.id)
		if len(final.Choices) != 1 || final.Choices[0].FinishReason != "stop" || !strings.Contains(final.Choices[0].Message.Content, "sunny") {
			t.Fatalf("final answer %s", final.RawJSON())
		}
	})
}

func testKindsStream(t *testing.T, ks *kindsStack, p kindPair) {
	pairCases(t, ks, p, func(t *testing.T, want pairCase) {
		stream := ks.oa.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model:         p.model,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the capital of France?")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		deltas := 0
		for stream.Next() {
			chunk := stream.Current()
			if !acc.AddChunk(chunk) {
				t.Fatalf("chunk out of order: %s", chunk.RawJSON())
			}
			if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
				deltas++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		ks.answeredBy(t, want.id)
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != capitalAnswer || acc.Choices[0].FinishReason != "stop" || deltas < 2 {
			t.Fatalf("accumulated %+v from %d content deltas", acc.Choices, deltas)
		}
		if acc.Model != want.model || acc.Usage.CompletionTokens == 0 {
			t.Errorf("model %q (want %q), %d completion tokens", acc.Model, want.model, acc.Usage.CompletionTokens)
		}
	})
}

func testKindsStreamTool(t *testing.T, ks *kindsStack, p kindPair) {
	pairCases(t, ks, p, func(t *testing.T, want pairCase) {
		stream := ks.oa.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model:    p.model,
			Tools:    []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(weatherFunction)},
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather like in Paris today?")},
		})
		var acc openai.ChatCompletionAccumulator
		var finished []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("chunk out of order: %s", stream.Current().RawJSON())
			}
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		ks.answeredBy(t, want.id)
		if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 {
			t.Fatalf("accumulated %+v", acc.Choices)
		}
		call := acc.Choices[0].Message.ToolCalls[0]
		var args map[string]any
		if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil || call.ID == "" || call.Function.Name != "get_weather" || args["location"] != "Paris" {
			t.Fatalf("tool call %+v (%v)", call, err)
		}
		if len(finished) != 1 || finished[0].Name != "get_weather" {
			t.Errorf("the accumulator finished tool calls %+v", finished)
		}
	})
}

// testKindsMessages sends Anthropic Messages requests (anthropic-sdk-go)
// to the Anthropic → Bedrock route: passed through to Anthropic while it
// is up, answered by Bedrock's Converse through the bridge while it is
// down. The event of the failed-over request names the endpoint, the
// target that answered and the one that failed.
func testKindsMessages(t *testing.T, ks *kindsStack) {
	ctx := context.Background()
	p := kindPairs[1]
	tools := []anthropic.ToolUnionParam{{OfTool: &anthropicWeatherTool}}
	weather := anthropic.NewUserMessage(anthropic.NewTextBlock("What's the weather like in Paris today?"))

	t.Run("text", func(t *testing.T) {
		pairCases(t, ks, p, func(t *testing.T, want pairCase) {
			msg, err := ks.an.Messages.New(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256,
				System:   []anthropic.TextBlockParam{{Text: "Be brief."}},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the capital of France?"))},
			})
			if err != nil {
				t.Fatal(err)
			}
			ks.answeredBy(t, want.id)
			if len(msg.Content) != 1 || msg.Content[0].Text != capitalAnswer || msg.StopReason != anthropic.StopReasonEndTurn {
				t.Fatalf("answer %s", msg.RawJSON())
			}
			if msg.Model != want.model || msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
				t.Errorf("model %q (want %q), usage %d+%d tokens", msg.Model, want.model, msg.Usage.InputTokens, msg.Usage.OutputTokens)
			}
			if want.id == "bedrock" {
				checkEvent(t, ks, "messages", "bedrock", "anthropic")
			}
		})
	})

	t.Run("tool use round trip", func(t *testing.T) {
		pairCases(t, ks, p, func(t *testing.T, want pairCase) {
			msg, err := ks.an.Messages.New(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256, Tools: tools, Messages: []anthropic.MessageParam{weather},
			})
			if err != nil {
				t.Fatal(err)
			}
			ks.answeredBy(t, want.id)
			var use *anthropic.ContentBlockUnion
			for i := range msg.Content {
				if msg.Content[i].Type == "tool_use" {
					use = &msg.Content[i]
				}
			}
			if msg.StopReason != anthropic.StopReasonToolUse || use == nil || use.Name != "get_weather" || use.ID == "" {
				t.Fatalf("no get_weather tool_use: %s", msg.RawJSON())
			}
			var input map[string]any
			if err := json.Unmarshal(use.Input, &input); err != nil || input["location"] != "Paris" {
				t.Fatalf("tool input %s: %v", use.Input, err)
			}
			ks.hdr.reset()
			final, err := ks.an.Messages.New(ctx, anthropic.MessageNewParams{
				Model: claudeModel, MaxTokens: 256, Tools: tools,
				Messages: []anthropic.MessageParam{weather, msg.ToParam(), anthropic.NewUserMessage(
					anthropic.NewToolResultBlock(use.ID, `{"temperature_c":18,"conditions":"sunny"}`, false))},
			})
			if err != nil {
				t.Fatal(err)
			}
			ks.answeredBy(t, want.id)
			if final.StopReason != anthropic.StopReasonEndTurn || len(final.Content) != 1 || !strings.Contains(final.Content[0].Text, "sunny") {
				t.Fatalf("final answer %s", final.RawJSON())
			}
		})
	})

	t.Run("stream", func(t *testing.T) {
		pairCases(t, ks, p, func(t *testing.T, want pairCase) {
			stream := ks.an.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
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
			ks.answeredBy(t, want.id)
			var use anthropic.ContentBlockUnion
			for _, b := range acc.Content {
				if b.Type == "tool_use" {
					use = b
				}
			}
			var input map[string]any
			if err := json.Unmarshal(use.Input, &input); err != nil || acc.StopReason != anthropic.StopReasonToolUse || jsonDeltas == 0 || use.Name != "get_weather" || input["location"] != "Paris" {
				t.Fatalf("stop %q, %d input_json_delta events, tool_use %q input %s (%v)", acc.StopReason, jsonDeltas, use.Name, use.Input, err)
			}
			if acc.Model != want.model || acc.Usage.OutputTokens == 0 {
				t.Errorf("model %q (want %q), %d output tokens", acc.Model, want.model, acc.Usage.OutputTokens)
			}
			if want.id == "bedrock" {
				checkEvent(t, ks, "messages", "bedrock", "anthropic")
			}
		})
	})
}

// kindsEvent is the part of a stored event these tests read.
type kindsEvent struct {
	RequestID string `json:"request_id"`
	Endpoint  string `json:"endpoint"`
	Provider  string `json:"provider"`
	Status    int    `json:"status"`
	Failover  struct {
		Triggered        bool   `json:"triggered"`
		OriginalProvider string `json:"original_provider"`
		Reason           string `json:"reason"`
	} `json:"failover"`
	Attempts []struct {
		Target  string `json:"target"`
		Outcome string `json:"outcome"`
	} `json:"attempts"`
}

// eventOf waits for the stored event of the last answer (by its
// X-Request-Id) and returns it, read with `kt events tail --format json`
// from the running gateway. Events are written off the request path.
func eventOf(t *testing.T, ks *kindsStack) kindsEvent {
	t.Helper()
	id := ks.hdr.get("X-Request-Id")
	if id == "" {
		t.Fatal("the answer has no X-Request-Id")
	}
	var found *kindsEvent
	waitFor(t, "the event of request "+id, 5*time.Second, func() bool {
		out, err := exec.Command(ktBin, "events", "tail", "--last", "20", "--format", "json", "--gateway", ks.url).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("kt events tail: %v\n%s", err, ee.Stderr)
			}
			t.Fatalf("kt events tail: %v", err)
		}
		var evs []kindsEvent
		if err := json.Unmarshal(out, &evs); err != nil {
			t.Fatalf("events tail --format json: %v\n%s", err, out)
		}
		for i := range evs {
			if evs[i].RequestID == id {
				found = &evs[i]
			}
		}
		return found != nil
	})
	return *found
}

// checkEvent checks that the last answer's event records the endpoint,
// the target that answered and a failover from original.
func checkEvent(t *testing.T, ks *kindsStack, endpoint, provider, original string) {
	t.Helper()
	ev := eventOf(t, ks)
	if ev.Endpoint != endpoint || ev.Provider != provider || ev.Status != 200 || !ev.Failover.Triggered || ev.Failover.OriginalProvider != original ||
		len(ev.Attempts) != 2 || ev.Attempts[0].Target != original || ev.Attempts[1].Target != provider {
		t.Errorf("event %+v, want endpoint %s answered by %s after %s failed", ev, endpoint, provider, original)
	}
}

// testKindsWrongSecret sends requests to bedrock-wrong-secret, whose
// simulator expects another secret than the one in the gateway's
// environment: the AWS SDK's signature does not verify, Bedrock's 403
// InvalidSignatureException is an auth_error, and the route fails over to
// the bedrock target whose simulator accepts it, or answers 503 when it
// has no other target.
func testKindsWrongSecret(t *testing.T, ks *kindsStack) {
	ctx := context.Background()
	ask := func(model string) (*openai.ChatCompletion, error) {
		ks.hdr.reset()
		return ks.oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the capital of France?")},
		})
	}
	t.Run("failed over", func(t *testing.T) {
		c, err := ask("claude-3-5-haiku-20241022")
		if err != nil {
			t.Fatal(err)
		}
		ks.answeredBy(t, "bedrock")
		if c.Choices[0].Message.Content != capitalAnswer {
			t.Fatalf("answer %s", c.RawJSON())
		}
		ev := eventOf(t, ks)
		if ev.Endpoint != "chat" || ev.Provider != "bedrock" || ev.Failover.OriginalProvider != "bedrock-wrong-secret" || ev.Failover.Reason != "auth_error" {
			t.Errorf("event %+v, want chat answered by bedrock after bedrock-wrong-secret's auth_error", ev)
		}
	})
	t.Run("no other target", func(t *testing.T) {
		_, err := ask("claude-3-haiku-20240307")
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("error %v, want a 503", err)
		}
		if msg := apiErr.RawJSON(); !strings.Contains(msg, "bedrock-wrong-secret") || !strings.Contains(msg, "auth_error") || strings.Contains(msg, awsSecretKey) {
			t.Errorf("503 body %s: want the target and auth_error named, and no secret", msg)
		}
	})
}
