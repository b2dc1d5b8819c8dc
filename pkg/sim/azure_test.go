package sim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"
)

// TestAzure covers the Azure OpenAI simulator's URLs, api-version and key
// checks and error shapes.
func TestAzure(t *testing.T) {
	h := newHarness(t, Options{Kind: KindAzureOpenAI, ExpectKey: testKey})
	if got, want := h.srv.BaseURL(), h.srv.URL(); got != want {
		t.Errorf("BaseURL = %s, want the host root %s", got, want)
	}
	key := http.Header{"Api-Key": {testKey}}
	bearer := http.Header{"Authorization": {"Bearer " + testKey}}
	const v = "?api-version=2024-10-21"
	const chat = `{"model":"ignored","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		method     string
		path, body string
		hdr        http.Header
		wantStatus int
		wantCode   string // error.code, "" for a success
		wantModel  string
	}{
		{"chat with api-key", "POST", "/openai/deployments/gpt-4o/chat/completions" + v, chat, key, 200, "", "gpt-4o"},
		{"chat with an Entra token", "POST", "/openai/deployments/gpt-4o-mini/chat/completions" + v, chat, bearer, 200, "", "gpt-4o-mini"},
		{"body without a model", "POST", "/openai/deployments/gpt-4o/chat/completions" + v, `{"messages":[{"role":"user","content":"hi"}]}`, key, 200, "", "gpt-4o"},
		{"preview version", "POST", "/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview", chat, key, 200, "", "gpt-4o"},
		{"embeddings", "POST", "/openai/deployments/gpt-4o/embeddings" + v, `{"input":"x"}`, key, 200, "", "gpt-4o"},
		{"completions", "POST", "/openai/deployments/gpt-4o/completions" + v, `{"prompt":"x"}`, key, 200, "", "gpt-4o"},
		{"models", "GET", "/openai/models" + v, "", key, 200, "", ""},
		{"no key", "POST", "/openai/deployments/gpt-4o/chat/completions" + v, chat, nil, 401, "401", ""},
		{"wrong key", "POST", "/openai/deployments/gpt-4o/chat/completions" + v, chat, http.Header{"Api-Key": {"nope"}}, 401, "401", ""},
		{"wrong token", "POST", "/openai/deployments/gpt-4o/chat/completions" + v, chat, http.Header{"Authorization": {"Bearer nope"}}, 401, "401", ""},
		{"models without a key", "GET", "/openai/models" + v, "", nil, 401, "401", ""},
		{"no api-version", "POST", "/openai/deployments/gpt-4o/chat/completions", chat, key, 404, "404", ""},
		{"models without api-version", "GET", "/openai/models", "", key, 404, "404", ""},
		{"malformed api-version", "POST", "/openai/deployments/gpt-4o/chat/completions?api-version=latest", chat, key, 400, "BadRequest", ""},
		{"unknown deployment", "POST", "/openai/deployments/gpt-5/chat/completions" + v, chat, key, 404, "DeploymentNotFound", ""},
		{"openai path", "POST", "/v1/chat/completions", chat, key, 404, "404", ""},
		{"unknown operation", "POST", "/openai/deployments/gpt-4o/images" + v, chat, key, 404, "404", ""},
		{"invalid body keeps OpenAI's validation", "POST", "/openai/deployments/gpt-4o/chat/completions" + v, `{"messages":[]}`, key, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := h.in(t).call(tt.method, tt.path, tt.body, tt.hdr)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if hdr.Get("apim-request-id") == "" {
				t.Error("no apim-request-id")
			}
			if status >= 400 {
				if !gjson.GetBytes(body, "error.message").Exists() {
					t.Errorf("error body %s has no message", body)
				}
				if tt.wantCode != "" && gjson.GetBytes(body, "error.code").String() != tt.wantCode {
					t.Errorf("error body %s, want code %s", body, tt.wantCode)
				}
				if bytes.Contains(body, []byte(testKey)) {
					t.Error("the key is echoed")
				}
				return
			}
			if tt.wantModel != "" && gjson.GetBytes(body, "model").String() != tt.wantModel {
				t.Errorf("answer model %s, want the deployment %s", gjson.GetBytes(body, "model"), tt.wantModel)
			}
		})
	}
}

// TestAzureFaults: the faults answer in Azure's shapes.
func TestAzureFaults(t *testing.T) {
	h := newHarness(t, Options{Kind: KindAzureOpenAI})
	const path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	const chat = `{"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		check      func(t *testing.T, hdr http.Header, body []byte)
	}{
		{"content_policy is Azure's content_filter", Fault{Kind: FaultContentPolicy}, 400, func(t *testing.T, _ http.Header, body []byte) {
			if gjson.GetBytes(body, "error.code").String() != "content_filter" ||
				gjson.GetBytes(body, "error.innererror.code").String() != "ResponsibleAIPolicyViolation" ||
				!gjson.GetBytes(body, "error.innererror.content_filter_result.hate.filtered").Bool() {
				t.Errorf("body %s", body)
			}
		}},
		{"rate_limit sends retry-after-ms", Fault{Kind: FaultRateLimit, RetryAfterSeconds: 2}, 429, func(t *testing.T, hdr http.Header, body []byte) {
			if hdr.Get("Retry-After") != "2" || hdr.Get("retry-after-ms") != "2000" || gjson.GetBytes(body, "error.code").String() != "429" {
				t.Errorf("headers %v body %s", hdr, body)
			}
		}},
		{"error 500", Fault{Kind: FaultError, Status: 500}, 500, func(t *testing.T, _ http.Header, body []byte) {
			if gjson.GetBytes(body, "error.code").String() != "InternalServerError" {
				t.Errorf("body %s", body)
			}
		}},
		{"error 503", Fault{Kind: FaultError, Status: 503}, 503, func(t *testing.T, _ http.Header, body []byte) {
			if gjson.GetBytes(body, "error.code").String() != "ServiceUnavailable" {
				t.Errorf("body %s", body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.sim.SetFault(tt.fault)
			defer h.sim.SetFault(Fault{})
			status, hdr, body := h.in(t).call("POST", path, chat, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			tt.check(t, hdr, body)
		})
	}
	t.Run("stream ends with DONE after a finish_reason", func(t *testing.T) {
		status, _, body := h.in(t).call("POST", path, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, nil)
		if status != 200 || !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) || !bytes.Contains(body, []byte(`"finish_reason":"stop"`)) {
			t.Errorf("status %d body %s", status, body)
		}
	})
	t.Run("cut ends the stream before its finish", func(t *testing.T) {
		h.sim.SetFault(Fault{Kind: FaultCut, AfterChunks: 2})
		defer h.sim.SetFault(Fault{})
		resp, err := h.do(context.Background(), "POST", path, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if bytes.Contains(body, []byte(`"finish_reason":"stop"`)) || bytes.Contains(body, []byte("[DONE]")) {
			t.Errorf("cut stream has a finish: %s", body)
		}
	})
}

func TestParseKindAzure(t *testing.T) {
	for _, in := range []string{"azure_openai", " Azure_OpenAI "} {
		if k, err := ParseKind(in); err != nil || k != KindAzureOpenAI {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
}
