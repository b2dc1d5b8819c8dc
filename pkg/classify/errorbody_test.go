package classify

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestResponse(t *testing.T) {
	t.Parallel()
	clientErr := Outcome{Reason: ClientError, Status: 400}
	ctxLen := Outcome{Reason: ContextLength, Status: 400, Retryable: true}
	tests := []struct {
		name string
		code int
		h    http.Header
		body string
		want Outcome
	}{
		// Context window too small, by code.
		{"openai context_length_exceeded", 400, nil,
			`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`, ctxLen},
		{"azure code only", 400, nil, `{"error":{"message":"too big","type":null,"param":null,"code":"context_length_exceeded"}}`, ctxLen},
		{"code in another case", 400, nil, `{"error":{"message":"x","code":"Context_Length_Exceeded"}}`, ctxLen},
		{"llama.cpp exceed_context_size_error type", 400, nil, `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}`, ctxLen},
		// By message.
		{"anthropic prompt is too long", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210456 tokens > 200000 maximum"},"request_id":"req_1"}`, ctxLen},
		{"anthropic max_tokens over the limit", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"input length and ` + "`max_tokens`" + ` exceed context limit: 198000 + 8192 > 200000, decrease input length or ` + "`max_tokens`" + ` and try again"}}`, ctxLen},
		{"vllm message, no code", 400, nil, `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}`, ctxLen},
		{"gemini", 400, nil, `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`, ctxLen},
		{"bedrock", 400, nil, `{"message":"Input is too long for requested model."}`, ctxLen},
		// Google answers a wrong API key with a 400 naming reason API_KEY_INVALID.
		{"google API_KEY_INVALID", 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			Outcome{Reason: AuthError, Status: 400, Retryable: true, CountsAgainst: true}},
		{"google reason only in the message", 400, nil, `{"error":{"code":400,"message":"user wrote API_KEY_INVALID","status":"INVALID_ARGUMENT","details":[{"reason":"OTHER"}]}}`, clientErr},
		{"google other invalid argument", 400, nil, `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}`, clientErr},
		{"mistral", 400, nil, `{"object":"error","message":"Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length","type":"invalid_request_error","param":null,"code":null}`, ctxLen},
		{"openai responses", 400, nil, `{"error":{"message":"Your input exceeds the context window of this model. Please adjust your input and try again.","type":"invalid_request_error","param":"input","code":null}}`, ctxLen},
		{"error as a string", 400, nil, `{"error":"Context length exceeded for model llama3"}`, ctxLen},
		{"detail string", 400, nil, `{"detail":"prompt is too long"}`, ctxLen},
		// Content policy: a client error, whatever the message says.
		{"openai content_policy_violation", 400, nil, `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}`, clientErr},
		{"azure content_filter", 400, nil, `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}`, clientErr},
		{"azure inner code only", 400, nil, `{"error":{"message":"filtered","innererror":{"code":"ResponsibleAIPolicyViolation"}}}`, clientErr},
		{"content policy wins over a context-length message", 400, nil, `{"error":{"message":"maximum context length","code":"content_filter"}}`, clientErr},
		// Other 400s.
		{"plain 400", 400, nil, `{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`, clientErr},
		{"empty body", 400, nil, ``, clientErr},
		{"not json", 400, nil, `prompt is too long`, clientErr},
		{"prompt echoed in a field we do not read", 400, nil, `{"error":{"message":"Invalid value","param":"messages[0]"},"echo":"prompt is too long"}`, clientErr},
		{"code is not a string", 400, nil, `{"error":{"code":{"x":"context_length_exceeded"},"message":"bad"}}`, clientErr},
		// The body is read on 400 only.
		{"413 with a context message stays a client error", 413, nil, `{"error":{"message":"prompt is too long"}}`, Outcome{Reason: ClientError, Status: 413}},
		{"422 with a context code stays a client error", 422, nil, `{"error":{"code":"context_length_exceeded"}}`, Outcome{Reason: ClientError, Status: 422}},
		{"500 with a context message stays upstream_error", 500, nil, `{"error":{"message":"prompt is too long"}}`, Outcome{Reason: UpstreamError, Status: 500, Retryable: true, CountsAgainst: true}},
		{"429 keeps Retry-After", 429, header("Retry-After", "2"), `{}`, Outcome{Reason: RateLimited, Status: 429, RetryAfter: 2 * time.Second, Retryable: true, CountsAgainst: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Response(tt.code, tt.h, []byte(tt.body))
			if got != tt.want {
				t.Errorf("Response(%d, %s) = %+v, want %+v", tt.code, tt.body, got, tt.want)
			}
			if got.CountsAgainst && (got.Reason == ContextLength || got.Reason == ClientError) {
				t.Errorf("%s counts against the provider", got.Reason)
			}
		})
	}
}

func TestSameTargetRetryable(t *testing.T) {
	t.Parallel()
	live := context.Background()
	tests := []struct {
		name string
		out  Outcome
		want bool
	}{
		{"connection refused", Error(live, refusedErr(t)), true},
		{"connection reset", Error(live, resetErr(t)), true},
		{"500", Status(500, nil), true},
		{"502", Status(502, nil), true},
		{"503 with Retry-After", Status(503, header("Retry-After", "1")), true},
		{"504 is an answer", Status(504, nil), true},
		{"529", Status(529, nil), true},
		{"429", Status(429, nil), true},
		{"429 with Retry-After", Status(429, header("Retry-After", "30")), true},
		{"stream failed before its first event (broken 200)", Outcome{Reason: ConnectionError, Status: 200, Retryable: true, CountsAgainst: true}, true},
		{"error event before the first event", Outcome{Reason: UpstreamError, Status: 200, Retryable: true, CountsAgainst: true}, true},
		{"silent upstream timeout", Error(live, hangingServerErr(t)), false},
		{"attempt timer", Outcome{Reason: UpstreamTimeout, Retryable: true, CountsAgainst: true}, false},
		{"408", Status(408, nil), false},
		{"400", Status(400, nil), false},
		{"401", Status(401, nil), false},
		{"403", Status(403, nil), false},
		{"404", Status(404, nil), false},
		{"422", Status(422, nil), false},
		{"context length", Response(400, nil, []byte(`{"error":{"code":"context_length_exceeded"}}`)), false},
		{"content policy", Response(400, nil, []byte(`{"error":{"code":"content_policy_violation"}}`)), false},
		{"client canceled", Outcome{Reason: Canceled}, false},
		{"after content was sent (not retryable)", Outcome{Reason: ConnectionError, CountsAgainst: true}, false},
		{"answer too large (not retryable)", Outcome{Reason: UpstreamError, Status: 200}, false},
		{"request not built", Outcome{Reason: UpstreamError, Retryable: true}, false},
		{"skipped: rate-limit cooldown", Skipped(RateLimited), false},
		{"skipped: circuit open", Skipped(CircuitOpen), false},
		{"skipped: unhealthy", Skipped(ProviderUnhealthy), false},
		{"success", Success, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.out.SameTargetRetryable(); got != tt.want {
				t.Errorf("%+v.SameTargetRetryable() = %v, want %v", tt.out, got, tt.want)
			}
		})
	}
}

func TestReasonsAreDistinct(t *testing.T) {
	t.Parallel()
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if r == None || seen[r] || strings.ToLower(string(r)) != string(r) {
			t.Errorf("reason %q: empty, repeated or not lower case", r)
		}
		seen[r] = true
	}
	if !seen[ContextLength] {
		t.Errorf("Reasons lacks %q", ContextLength)
	}
}

func FuzzResponse(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":"context_length_exceeded"}}`))
	f.Add(400, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}`))
	f.Add(400, []byte(`{"error":{"code":"content_filter","message":"maximum context length"}}`))
	f.Add(400, []byte(`{"error":"x"}`))
	f.Add(500, []byte(`prompt is too long`))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		got := Response(code, nil, body)
		base := Status(code, nil)
		if code != 400 && got != base {
			t.Fatalf("Response(%d) = %+v, differs from Status %+v off 400", code, got, base)
		}
		if got.Reason == ContextLength && (code != 400 || got.CountsAgainst || got.SameTargetRetryable()) {
			t.Fatalf("context length outcome %+v for %d", got, code)
		}
	})
}

func BenchmarkResponse400(b *testing.B) {
	body := []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210456 tokens > 200000 maximum"},"request_id":"req_1"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Response(400, nil, body)
	}
}

// TestResponseBedrock: Amazon Bedrock names its exception in
// x-amzn-ErrorType; where the status alone would mislead, the exception
// decides.
func TestResponseBedrock(t *testing.T) {
	aws := func(typ string) http.Header {
		return http.Header{"X-Amzn-Errortype": {typ + ":http://internal.amazon.com/coral/com.amazon.bedrock/"}}
	}
	for _, tt := range []struct {
		name string
		code int
		typ  string
		body string
		want Outcome
	}{
		{"throttling", 429, "ThrottlingException", `{"message":"Too many requests, please wait before trying again."}`, Outcome{Reason: RateLimited, Status: 429, Retryable: true, CountsAgainst: true}},
		{"model not ready is the provider, not a rate limit", 429, "ModelNotReadyException", `{"message":"Model is not ready"}`, Outcome{Reason: UpstreamError, Status: 429, Retryable: true, CountsAgainst: true}},
		{"model error", 424, "ModelErrorException", `{"message":"The model returned an error"}`, Outcome{Reason: UpstreamError, Status: 424, Retryable: true, CountsAgainst: true}},
		{"service quota", 400, "ServiceQuotaExceededException", `{"message":"quota"}`, Outcome{Reason: RateLimited, Status: 400, Retryable: true, CountsAgainst: true}},
		{"access denied", 403, "AccessDeniedException", `{"message":"You don't have access to the model with the specified model ID."}`, Outcome{Reason: AuthError, Status: 403, Retryable: true, CountsAgainst: true}},
		{"bad signature", 403, "InvalidSignatureException", `{"message":"The request signature we calculated does not match"}`, Outcome{Reason: AuthError, Status: 403, Retryable: true, CountsAgainst: true}},
		{"validation", 400, "ValidationException", `{"message":"messages.0: field required"}`, Outcome{Reason: ClientError, Status: 400}},
		{"context length", 400, "ValidationException", `{"message":"Input is too long for requested model."}`, Outcome{Reason: ContextLength, Status: 400, Retryable: true}},
		{"unavailable", 503, "ServiceUnavailableException", `{"message":"Service unavailable"}`, Outcome{Reason: UpstreamError, Status: 503, Retryable: true, CountsAgainst: true}},
		{"model timeout", 408, "ModelTimeoutException", `{"message":"Model timed out"}`, Outcome{Reason: UpstreamTimeout, Status: 408, Retryable: true, CountsAgainst: true}},
		{"not found", 404, "ResourceNotFoundException", `{"message":"Model not found"}`, Outcome{Reason: ClientError, Status: 404}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Response(tt.code, aws(tt.typ), []byte(tt.body)); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
