package azure

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestChatRequest(t *testing.T) {
	t.Parallel()
	deployments := map[string]string{"gpt-4o": "prod-4o", "gpt-4o-mini": "mini.eu_1"}
	tests := []struct {
		name       string
		version    string
		model      string
		body       string
		stream     bool
		override   string
		header     http.Header
		wantURL    string
		wantKey    string
		wantModel  string
		wantAccept string
	}{
		{name: "mapped model", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[]}`,
			wantURL: "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", wantKey: "k1", wantModel: "gpt-4o"},
		{name: "unmapped model is its own deployment", model: "gpt-4.1", body: `{"model":"gpt-4.1","messages":[]}`,
			wantURL: "https://res.openai.azure.com/openai/deployments/gpt-4.1/chat/completions?api-version=2024-10-21", wantKey: "k1", wantModel: "gpt-4.1"},
		{name: "mapped by the router: body model follows", model: "gpt-4o-mini", body: `{"model":"fast","messages":[]}`,
			wantURL: "https://res.openai.azure.com/openai/deployments/mini.eu_1/chat/completions?api-version=2024-10-21", wantKey: "k1", wantModel: "gpt-4o-mini"},
		{name: "api version set", version: "2025-04-01-preview", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[]}`,
			wantURL: "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2025-04-01-preview", wantKey: "k1", wantModel: "gpt-4o"},
		{name: "model with a slash stays one path segment", model: "a/../b", body: `{"model":"a/../b","messages":[]}`,
			wantURL: "https://res.openai.azure.com/openai/deployments/a%2F..%2Fb/chat/completions?api-version=2024-10-21", wantKey: "k1", wantModel: "a/../b"},
		{name: "stream", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[],"stream":true}`, stream: true,
			wantURL: "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", wantKey: "k1", wantModel: "gpt-4o", wantAccept: "text/event-stream"},
		{name: "forwarded client key", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[]}`, override: "client-key",
			wantURL: "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", wantKey: "client-key", wantModel: "gpt-4o"},
		{name: "client headers pass", model: "gpt-4o", body: `{"model":"gpt-4o","messages":[]}`, header: http.Header{"X-Trace": {"t1"}},
			wantURL: "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", wantKey: "k1", wantModel: "gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := NewAdapter(tt.version, deployments, nil)
			ep := &provider.Endpoint{BaseURL: "https://res.openai.azure.com", APIKey: "k1", Header: http.Header{"X-Static": {"s"}}}
			r := &provider.Request{Body: []byte(tt.body), Model: tt.model, Stream: tt.stream, APIKey: tt.override, Header: tt.header}
			req, err := a.ChatRequest(context.Background(), ep, r)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != http.MethodPost || req.URL.String() != tt.wantURL {
				t.Errorf("request = %s %s, want POST %s", req.Method, req.URL, tt.wantURL)
			}
			if got := req.Header.Get("api-key"); got != tt.wantKey {
				t.Errorf("api-key = %q, want %q", got, tt.wantKey)
			}
			if got := req.Header.Get("Authorization"); got != "" {
				t.Errorf("Authorization = %q, want none with a key", got)
			}
			if got := req.Header.Get("X-Static"); got != "s" {
				t.Errorf("static header = %q", got)
			}
			if got := req.Header.Get("Accept"); got != tt.wantAccept {
				t.Errorf("Accept = %q, want %q", got, tt.wantAccept)
			}
			for k, v := range tt.header {
				if got := req.Header.Get(k); got != v[0] {
					t.Errorf("client header %s = %q, want %q", k, got, v[0])
				}
			}
			body, _ := io.ReadAll(req.Body)
			if got := gjson.GetBytes(body, "model").String(); got != tt.wantModel {
				t.Errorf("body model = %q, want %q", got, tt.wantModel)
			}
			if r.APIKey != tt.override {
				t.Errorf("the attempt's request was changed: APIKey = %q", r.APIKey)
			}
			if ep.BaseURL != "https://res.openai.azure.com" {
				t.Errorf("the shared endpoint was changed: %q", ep.BaseURL)
			}
		})
	}
}

func TestNativeAndProbe(t *testing.T) {
	t.Parallel()
	a := NewAdapter("", map[string]string{"te3": "embed-prod"}, nil)
	ep := &provider.Endpoint{BaseURL: "https://res.openai.azure.com", APIKey: "k1"}
	tests := []struct {
		name    string
		api     provider.API
		model   string
		body    string
		wantURL string
	}{
		{"embeddings", provider.APIEmbeddings, "te3", `{"model":"te3","input":"x"}`,
			"https://res.openai.azure.com/openai/deployments/embed-prod/embeddings?api-version=2024-10-21"},
		{"completions", provider.APICompletions, "gpt-35-turbo-instruct", `{"model":"gpt-35-turbo-instruct","prompt":"x"}`,
			"https://res.openai.azure.com/openai/deployments/gpt-35-turbo-instruct/completions?api-version=2024-10-21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := a.Native(tt.api)
			if n == nil {
				t.Fatalf("Native(%s) = nil", tt.api)
			}
			if n.Kind() != KindName {
				t.Errorf("Kind = %q", n.Kind())
			}
			req, err := n.ChatRequest(context.Background(), ep, &provider.Request{Body: []byte(tt.body), Model: tt.model})
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.wantURL || req.Header.Get("api-key") != "k1" {
				t.Errorf("request = %s api-key %q, want %s with the key", req.URL, req.Header.Get("api-key"), tt.wantURL)
			}
		})
	}
	t.Run("responses is bridged", func(t *testing.T) {
		t.Parallel()
		if n := a.Native(provider.APIResponses); n != nil {
			t.Errorf("Native(responses) = %T, want nil (served by the bridge)", n)
		}
	})
	t.Run("probe", func(t *testing.T) {
		t.Parallel()
		req, err := a.ProbeRequest(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != http.MethodGet || req.URL.String() != "https://res.openai.azure.com/openai/models?api-version=2024-10-21" {
			t.Errorf("probe = %s %s", req.Method, req.URL)
		}
		if req.Header.Get("api-key") != "k1" || req.Header.Get("Authorization") != "" {
			t.Errorf("probe headers = %v", req.Header)
		}
	})
}

// TestAnswers covers what Azure adds to OpenAI's answers: a completion
// filtered by the content filter is an answer (finish_reason
// content_filter), and a stream opens with a chunk of prompt filter
// results that has no choices and no model.
func TestAnswers(t *testing.T) {
	t.Parallel()
	a := NewAdapter("", nil, nil)
	t.Run("filtered completion", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",` +
			`"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],` +
			`"choices":[{"index":0,"finish_reason":"content_filter","message":{"role":"assistant","content":null},` +
			`"content_filter_results":{"violence":{"filtered":true,"severity":"high"}}}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`)
		res, err := a.ChatResponse(body, &provider.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Body, body) || res.Model != "gpt-4o-2024-08-06" || len(res.FinishReasons) != 1 || res.FinishReasons[0] != "content_filter" || res.Usage.OutputTokens != 3 {
			t.Errorf("response = %+v", res)
		}
	})
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		chunks := []string{
			`{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}`,
			`{"choices":[{"content_filter_results":{},"delta":{"role":"assistant","content":""},"finish_reason":null,"index":0}],"created":1,"id":"c1","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}`,
			`{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":"Hi"},"finish_reason":null,"index":0}],"created":1,"id":"c1","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}`,
			`{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"content_filter","index":0}],"created":1,"id":"c1","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}`,
			`[DONE]`,
		}
		s := a.NewStream(&provider.Request{Stream: true})
		var out []byte
		for i, c := range chunks {
			raw := "data: " + c + "\n\n"
			var err error
			out, err = s.Event(out, sse.Event{Data: []byte(c), Raw: []byte(raw)})
			if err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			if i < 2 && s.Content() {
				t.Errorf("chunk %d (lifecycle) counted as content", i)
			}
		}
		out, err := s.Finish(out)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Content() || !s.Done() || s.Model() != "gpt-4o-2024-08-06" {
			t.Errorf("content %v done %v model %q", s.Content(), s.Done(), s.Model())
		}
		if fr := s.FinishReasons(); len(fr) != 1 || fr[0] != "content_filter" {
			t.Errorf("finish reasons = %v", fr)
		}
		if !bytes.Contains(out, []byte(`"prompt_filter_results"`)) {
			t.Error("the filter results chunk was not relayed")
		}
	})
}

// TestErrorBody maps Azure's error bodies (testdata/errors/*.json, the
// status in the file name's first part) to the golden OpenAI-shaped body
// the client gets, and checks that the classification of each is the
// expected one: a content filter refusal is a client error, never failed
// over.
func TestErrorBody(t *testing.T) {
	t.Parallel()
	want := map[string]classify.Reason{
		"400_content_filter":         classify.ClientError,
		"400_content_filter_inner":   classify.ClientError,
		"400_context_length":         classify.ContextLength,
		"401_access_denied":          classify.AuthError,
		"404_deployment_not_found":   classify.ClientError,
		"404_resource_not_found":     classify.ClientError,
		"429_rate_limit":             classify.RateLimited,
		"429_apim_status_code":       classify.RateLimited,
		"500_internal":               classify.UpstreamError,
		"503_not_json":               classify.UpstreamError,
		"400_openai_shape_with_type": classify.ClientError,
	}
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("%d error fixtures, want %d", len(files), len(want))
	}
	a := NewAdapter("", nil, nil)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in = bytes.TrimSpace(in)
			var status int
			for _, c := range name[:3] {
				status = status*10 + int(c-'0')
			}
			got := a.ErrorBody(status, in)
			if !gjson.ValidBytes(got) || gjson.GetBytes(got, "error.message").Type != gjson.String || gjson.GetBytes(got, "error.type").Type != gjson.String {
				t.Errorf("ErrorBody = %s, want an OpenAI error with a message and a type", got)
			}
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantBody, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, '\n'), wantBody) {
				t.Errorf("ErrorBody =\n%s\nwant\n%s", got, wantBody)
			}
			r, ok := want[name]
			if !ok {
				t.Fatalf("no expected reason for %s", name)
			}
			if o := classify.Response(status, nil, in); o.Reason != r {
				t.Errorf("classified %+v, want %s", o, r)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec provider.TargetSpec
		want []string // fields with problems, in order
	}{
		{"minimal", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", APIKey: "k"}, nil},
		{"entra needs no key", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", Auth: "entra"}, nil},
		{"full", provider.TargetSpec{BaseURL: "https://res.openai.azure.com/", APIKey: "k", Auth: "api_key", APIVersion: "2025-04-01-preview",
			Deployments: map[string]string{"gpt-4o": "prod-4o.v2_eu"}}, nil},
		{"api_key without a key", provider.TargetSpec{BaseURL: "https://res.openai.azure.com"}, []string{"secret_key_ref"}},
		{"a key configured, not read (lint)", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", HasKey: true}, nil},
		{"unknown auth", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", Auth: "oauth"}, []string{"auth"}},
		{"bad api version", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", APIKey: "k", APIVersion: "v1"}, []string{"api_version"}},
		{"bad deployment", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", APIKey: "k", Deployments: map[string]string{"gpt-4o": "has space"}}, []string{"deployments.gpt-4o"}},
		{"empty deployment", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", APIKey: "k", Deployments: map[string]string{"gpt-4o": ""}}, []string{"deployments.gpt-4o"}},
		{"empty model", provider.TargetSpec{BaseURL: "https://res.openai.azure.com", APIKey: "k", Deployments: map[string]string{"": "d"}}, []string{"deployments"}},
		{"deployment URL as base_url", provider.TargetSpec{BaseURL: "https://res.openai.azure.com/openai/deployments/d", APIKey: "k"}, []string{"base_url"}},
		{"query in base_url", provider.TargetSpec{BaseURL: "https://res.openai.azure.com?api-version=2024-10-21", APIKey: "k"}, []string{"base_url"}},
		{"not a URL", provider.TargetSpec{BaseURL: "res.openai.azure.com", APIKey: "k"}, []string{"base_url"}},
		{"every problem at once", provider.TargetSpec{BaseURL: "ftp://x", Auth: "x", APIVersion: "latest"}, []string{"auth", "api_version", "base_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Validate(&tt.spec)
			var fields []string
			for _, p := range got {
				fields = append(fields, p.Field)
				if p.Message == "" || strings.Contains(p.Message, "\"k\"") {
					t.Errorf("problem %+v: empty or shows the key", p)
				}
			}
			if strings.Join(fields, ",") != strings.Join(tt.want, ",") {
				t.Errorf("problems = %+v, want fields %v", got, tt.want)
			}
		})
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	if Kind.Name != "azure_openai" || Kind.GenAIName != "azure.ai.openai" || Kind.DefaultBaseURL != "" || !Kind.BaseURLRequired ||
		Kind.KeyRequired || Kind.Sim != "azure_openai" || Kind.New == nil || Kind.Validate == nil {
		t.Errorf("Kind = %+v", Kind)
	}
	ad, err := Kind.New(&provider.TargetSpec{ID: "az", BaseURL: "https://res.openai.azure.com", APIKey: "k", APIVersion: "2025-01-01-preview",
		Deployments: map[string]string{"gpt-4o": "d1"}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := ad.ChatRequest(context.Background(), &provider.Endpoint{BaseURL: "https://res.openai.azure.com", APIKey: "k"},
		&provider.Request{Body: []byte(`{"model":"gpt-4o","messages":[]}`), Model: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.String(); got != "https://res.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2025-01-01-preview" {
		t.Errorf("URL = %s", got)
	}
	if p, ok := ad.(provider.Prefiller); !ok || p.AcceptsPrefill("gpt-4o") {
		t.Error("azure_openai should not accept prefill (OpenAI's models)")
	}
}
