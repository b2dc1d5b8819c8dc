package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGeminiEndpoints(t *testing.T) {
	s := New(Options{Kind: KindGemini, ExpectKey: "k"})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	const chat = `{"contents":[{"role":"user","parts":[{"text":"What is the capital of France?"}]}]}`
	const vertex = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash"
	tests := []struct {
		name, method, path, key, bearer, body string
		fault                                 Fault
		status                                int
		contains                              string
	}{
		{"gemini generateContent", "POST", "/v1beta/models/gemini-2.5-flash:generateContent", "k", "", chat, Fault{}, 200, `"text":"The capital of France is Paris."`},
		{"key as query parameter", "POST", "/v1beta/models/gemini-2.5-flash:generateContent?key=k", "", "", chat, Fault{}, 200, `"finishReason":"STOP"`},
		{"vertex with bearer", "POST", vertex + ":generateContent", "", "k", chat, Fault{}, 200, `"modelVersion":"gemini-2.5-flash"`},
		{"stream", "POST", vertex + ":streamGenerateContent?alt=sse", "", "k", chat, Fault{}, 200, "data: {"},
		{"stream without alt=sse", "POST", vertex + ":streamGenerateContent", "", "k", chat, Fault{}, 400, "alt=sse"},
		{"no key", "POST", "/v1beta/models/m:generateContent", "", "", chat, Fault{}, 403, `"status":"PERMISSION_DENIED"`},
		{"wrong key", "POST", "/v1beta/models/m:generateContent", "bad", "", chat, Fault{}, 400, `"reason":"API_KEY_INVALID"`},
		{"wrong token", "POST", vertex + ":generateContent", "", "bad", chat, Fault{}, 401, `"status":"UNAUTHENTICATED"`},
		{"unknown field", "POST", "/v1beta/models/m:generateContent", "k", "", `{"contents":[],"messages":[]}`, Fault{}, 400, `Unknown name \"messages\"`},
		{"json schema key refused", "POST", "/v1beta/models/m:generateContent", "k", "",
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING"}},"additionalProperties":false}}]}]}`,
			Fault{}, 400, `Unknown name \"additionalProperties\"`},
		{"lower-case type refused", "POST", "/v1beta/models/m:generateContent", "k", "",
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"STRING"}}}}]}]}`,
			Fault{}, 400, "INVALID_ARGUMENT"},
		{"function response without a call", "POST", "/v1beta/models/m:generateContent", "k", "",
			`{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"r":1}}}]}]}`, Fault{}, 400, "no earlier function call"},
		{"safety block", "POST", "/v1beta/models/m:generateContent", "k", "", chat, Fault{Kind: FaultContentPolicy}, 200, `"blockReason":"SAFETY"`},
		{"rate limit", "POST", "/v1beta/models/m:generateContent", "k", "", chat, Fault{Kind: FaultRateLimit}, 429, `"status":"RESOURCE_EXHAUSTED"`},
		{"context length", "POST", "/v1beta/models/m:generateContent", "k", "", chat, Fault{Kind: FaultContextLength}, 400, "exceeds the maximum number of tokens allowed (1048576)"},
		{"models list", "GET", "/v1beta/models?pageSize=1", "k", "", "", Fault{}, 200, `"name":"models/gemini-2.5-flash"`},
		{"model get unknown", "GET", "/v1beta/models/nope", "k", "", "", Fault{}, 404, `"status":"NOT_FOUND"`},
		{"count tokens", "POST", vertex + ":countTokens", "", "k", chat, Fault{}, 200, `"totalTokens":`},
		{"batch embeddings", "POST", "/v1beta/models/text-embedding-004:batchEmbedContents", "k", "",
			`{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]},"outputDimensionality":4}]}`, Fault{}, 200, `"embeddings":[{"values":[`},
		{"vertex predict", "POST", "/v1/projects/p/locations/l/publishers/google/models/text-embedding-004:predict", "", "k",
			`{"instances":[{"content":"a"}],"parameters":{"outputDimensionality":4}}`, Fault{}, 200, `"token_count":1`},
		{"unknown path", "GET", "/v1/chat/completions", "k", "", "", Fault{}, 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFault(tt.fault)
			defer s.SetFault(Fault{})
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.key != "" {
				req.Header.Set("x-goog-api-key", tt.key)
			}
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.contains) {
				t.Errorf("%d %s; want %d containing %s", resp.StatusCode, b, tt.status, tt.contains)
			}
		})
	}
}
