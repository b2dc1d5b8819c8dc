package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

func TestNativeAPIs(t *testing.T) {
	t.Parallel()
	a := New("openai_compatible")
	for api := provider.APIChat + 1; api < provider.NumAPIs; api++ {
		got := a.Native(api)
		want := api == provider.APIResponses || api == provider.APIEmbeddings || api == provider.APICompletions
		if (got != nil) != want {
			t.Errorf("Native(%s) = %v, want an adapter: %v", api, got, want)
			continue
		}
		if got == nil {
			continue
		}
		if got.Kind() != "openai_compatible" {
			t.Errorf("Native(%s).Kind() = %q", api, got.Kind())
		}
		// A native adapter serves its API only: it must not claim chat's
		// prefill default or hand out further native adapters.
		if _, ok := got.(provider.Prefiller); ok {
			t.Errorf("Native(%s) is a Prefiller", api)
		}
		if _, ok := got.(provider.NativeAdapter); ok {
			t.Errorf("Native(%s) is a NativeAdapter", api)
		}
	}
	if a.Native(provider.APIResponses) != a.Native(provider.APIResponses) {
		t.Error("Native makes a new adapter per call")
	}
}

// TestNativeRequestOnTheWire sends each API's request to an httptest
// upstream and checks what it saw.
func TestNativeRequestOnTheWire(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri string
		header      http.Header
		body        string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Header.Clone(), string(b)}
	}))
	defer srv.Close()
	ep := &provider.Endpoint{BaseURL: srv.URL + "/v1", APIKey: "sk-target", Header: http.Header{"X-Static": {"s"}}}
	ep.Prepare()
	const respBody = `{"model":"gpt-4o","input":"hi","store":true}`
	tests := []struct {
		name       string
		api        provider.API
		r          provider.Request
		wantMethod string
		wantURI    string
		wantBody   string
		wantAuth   string
		wantAccept string
	}{
		{
			name: "responses same model", api: provider.APIResponses,
			r:          provider.Request{Body: []byte(respBody), Model: "gpt-4o", BodyModel: "gpt-4o", Header: http.Header{"Openai-Beta": {"responses=v1"}}},
			wantMethod: "POST", wantURI: "/v1/responses", wantBody: respBody, wantAuth: "Bearer sk-target",
		},
		{
			name: "responses mapped model, stream", api: provider.APIResponses,
			r:          provider.Request{Body: []byte(`{"model":"gpt-4o","input":"hi","stream":true}`), Model: "gpt-4.1", Stream: true},
			wantMethod: "POST", wantURI: "/v1/responses", wantBody: `{"model":"gpt-4.1","input":"hi","stream":true}`,
			wantAuth: "Bearer sk-target", wantAccept: "text/event-stream",
		},
		{
			name: "responses get, client key", api: provider.APIResponses,
			r:          provider.Request{Method: "GET", ResourceID: "resp_abc", APIKey: "sk-client", Model: "gpt-4o"},
			wantMethod: "GET", wantURI: "/v1/responses/resp_abc", wantAuth: "Bearer sk-client",
		},
		{
			name: "responses delete, odd id escaped", api: provider.APIResponses,
			r:          provider.Request{Method: "DELETE", ResourceID: "../models?x=1#y", Model: "gpt-4o"},
			wantMethod: "DELETE", wantURI: "/v1/responses/..%2Fmodels%3Fx=1%23y", wantAuth: "Bearer sk-target",
		},
		{
			name: "embeddings", api: provider.APIEmbeddings,
			r:          provider.Request{Body: []byte(`{"input":["a","b"],"model":"text-embedding-3-small","encoding_format":"base64"}`), Model: "text-embedding-3-small"},
			wantMethod: "POST", wantURI: "/v1/embeddings", wantBody: `{"input":["a","b"],"model":"text-embedding-3-small","encoding_format":"base64"}`, wantAuth: "Bearer sk-target",
		},
		{
			name: "completions mapped, stream", api: provider.APICompletions,
			r:          provider.Request{Body: []byte(`{"model":"a","prompt":"Say","stream":true}`), Model: "b", BodyModel: "a", Stream: true},
			wantMethod: "POST", wantURI: "/v1/completions", wantBody: `{"model":"b","prompt":"Say","stream":true}`,
			wantAuth: "Bearer sk-target", wantAccept: "text/event-stream",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := slices.Clone(tt.r.Body)
			req, err := New("openai").Native(tt.api).ChatRequest(t.Context(), ep, &tt.r)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			s := <-got
			if s.method != tt.wantMethod || s.uri != tt.wantURI || s.body != tt.wantBody {
				t.Errorf("upstream saw %s %s %q, want %s %s %q", s.method, s.uri, s.body, tt.wantMethod, tt.wantURI, tt.wantBody)
			}
			if a := s.header.Get("Authorization"); a != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", a, tt.wantAuth)
			}
			if a := s.header.Get("Accept"); tt.wantAccept != "" && a != tt.wantAccept {
				t.Errorf("Accept %q, want %q", a, tt.wantAccept)
			}
			if s.header.Get("X-Static") != "s" {
				t.Error("static header missing")
			}
			for k := range tt.r.Header {
				if s.header.Get(k) != tt.r.Header.Get(k) {
					t.Errorf("client header %s = %q, want %q", k, s.header.Get(k), tt.r.Header.Get(k))
				}
			}
			if tt.wantBody != "" && s.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", s.header.Get("Content-Type"))
			}
			if !bytes.Equal(body, tt.r.Body) {
				t.Error("the client's body was modified")
			}
		})
	}
}

func TestResponsesRequestRefused(t *testing.T) {
	t.Parallel()
	ad := New("openai").Native(provider.APIResponses)
	ep := &provider.Endpoint{BaseURL: "http://h/v1"}
	for _, r := range []*provider.Request{
		{Method: "GET"},
		{Method: "PUT", ResourceID: "resp_1"},
	} {
		_, err := ad.ChatRequest(t.Context(), ep, r)
		var re *provider.RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s %q: error %v, want a RequestError", r.Method, r.ResourceID, err)
		}
	}
}

func TestNativeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		api     provider.API
		body    string
		want    provider.Response
		wantErr bool
	}{
		{
			name: "responses completed", api: provider.APIResponses,
			body: `{"id":"resp_1","object":"response","status":"completed","model":"gpt-4o-2024-08-06","output":[],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,"total_tokens":12}}`,
			want: provider.Response{Model: "gpt-4o-2024-08-06", Usage: provider.Usage{InputTokens: 9, OutputTokens: 3, CacheReadTokens: 4}, FinishReasons: []string{"completed"}},
		},
		{
			name: "responses incomplete", api: provider.APIResponses,
			body: `{"id":"resp_1","status":"incomplete","model":"m","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":1,"output_tokens":2}}`,
			want: provider.Response{Model: "m", Usage: provider.Usage{InputTokens: 1, OutputTokens: 2}, FinishReasons: []string{"incomplete"}},
		},
		{
			name: "responses deleted", api: provider.APIResponses,
			body: `{"id":"resp_1","object":"response.deleted","deleted":true}`,
		},
		{name: "responses not json", api: provider.APIResponses, body: `{"id":`, wantErr: true},
		{name: "responses not an object", api: provider.APIResponses, body: `[1]`, wantErr: true},
		{
			name: "embeddings", api: provider.APIEmbeddings,
			body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}`,
			want: provider.Response{Model: "text-embedding-3-small", Usage: provider.Usage{InputTokens: 5}},
		},
		{name: "embeddings not a list", api: provider.APIEmbeddings, body: `{"object":"list"}`, wantErr: true},
		{
			name: "completions", api: provider.APICompletions,
			body: `{"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"text":"a","index":0,"finish_reason":"length"},{"text":"b","index":1,"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}`,
			want: provider.Response{Model: "gpt-3.5-turbo-instruct", Usage: provider.Usage{InputTokens: 4, OutputTokens: 2}, FinishReasons: []string{"length", "stop"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New("openai").Native(tt.api).ChatResponse([]byte(tt.body), &provider.Request{})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted %s", tt.body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Body) != tt.body {
				t.Errorf("body changed: %s", got.Body)
			}
			if got.Model != tt.want.Model || got.Usage != tt.want.Usage || !slices.Equal(got.FinishReasons, tt.want.FinishReasons) {
				t.Errorf("got %q %+v %q, want %q %+v %q", got.Model, got.Usage, got.FinishReasons, tt.want.Model, tt.want.Usage, tt.want.FinishReasons)
			}
		})
	}
}

// nativeRun is what feeding a stream produced, with the index of the
// event after which Content first reported true (-1: never).
type nativeRun struct {
	streamResult
	contentAt int
	// events counts the events handed to Event.
	events int
}

func runNative(t testing.TB, api provider.API, in string) nativeRun {
	t.Helper()
	s := New("openai").Native(api).NewStream(&provider.Request{Model: "asked", Stream: true})
	rd := sse.NewReader(strings.NewReader(in))
	res := nativeRun{contentAt: -1}
	res.s = s
	for i := 0; ; i++ {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			res.out, res.finishErr = s.Finish(res.out)
			return res
		}
		if err != nil {
			res.readErr = err
			return res
		}
		res.events++
		res.out, err = s.Event(res.out, ev)
		if s.Content() && res.contentAt < 0 {
			res.contentAt = i
		}
		if err != nil {
			res.eventErr = err
			return res
		}
	}
}

// summary is the golden's record of what a stream reported.
type summary struct {
	ContentAtEvent int            `json:"content_at_event"`
	Done           bool           `json:"done"`
	Model          string         `json:"model"`
	Usage          provider.Usage `json:"usage"`
	FinishReasons  []string       `json:"finish_reasons"`
	EventError     string         `json:"event_error,omitempty"`
	Malformed      bool           `json:"malformed,omitempty"`
	FinishError    string         `json:"finish_error,omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestNativeStreamGolden relays each testdata/native/*.sse through the
// stream of its API (named by the file's prefix) and compares the frames
// sent to the client and what the stream reported with the .golden file.
func TestNativeStreamGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/native/*.sse")
	if err != nil || len(files) == 0 {
		t.Fatalf("no stream inputs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sse")
		t.Run(name, func(t *testing.T) {
			api := provider.APICompletions
			if strings.HasPrefix(name, "responses_") {
				api = provider.APIResponses
			}
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := runNative(t, api, string(in))
			if res.readErr != nil {
				t.Fatalf("read: %v", res.readErr)
			}
			sum := summary{
				ContentAtEvent: res.contentAt, Done: res.s.Done(), Model: res.s.Model(), Usage: res.s.Usage(),
				FinishReasons: res.s.FinishReasons(), EventError: errString(res.eventErr),
				Malformed: errors.Is(res.eventErr, provider.ErrMalformedEvent), FinishError: errString(res.finishErr),
			}
			js, _ := json.MarshalIndent(sum, "", "  ")
			got := fmt.Sprintf("%s--- result ---\n%s\n", res.out, js)
			golden := strings.TrimSuffix(f, ".sse") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("stream %s differs from %s:\n%s", name, golden, got)
			}
			checkRelay(t, api, string(in), res)
		})
	}
}

// checkRelay holds the rules every relay keeps, whatever its input; the
// golden tests and the fuzz targets share it.
func checkRelay(t *testing.T, api provider.API, in string, res nativeRun) {
	t.Helper()
	clean := res.eventErr == nil && res.readErr == nil && res.finishErr == nil
	if clean && !res.s.Done() {
		t.Fatal("a stream finished cleanly without being done")
	}
	if res.s.Done() && res.finishErr != nil {
		t.Fatal("a done stream failed at its end")
	}
	if api == provider.APICompletions {
		// Chat's relay: the input's beginning, or that completed by the
		// [DONE] sent for a body that ended after a finish_reason.
		out := string(res.out)
		if !strings.HasPrefix(in, out) {
			trimmed, ok := strings.CutSuffix(out, "data: [DONE]\n\n")
			if !ok || !clean || len(res.s.FinishReasons()) == 0 || !strings.HasPrefix(in, trimmed) {
				t.Fatalf("output is neither a prefix of the input nor one completed by [DONE]:\n%q\n%q", out, in)
			}
		}
		return
	}
	// The Responses relay re-frames: its events are the input's, in order,
	// each named (by its own name or its data's type), as many as were
	// handed over, without the one that was malformed.
	want := sse.NewReader(strings.NewReader(in))
	got := sse.NewReader(bytes.NewReader(res.out))
	n := res.events
	if errors.Is(res.eventErr, provider.ErrMalformedEvent) {
		n--
	}
	for i := range n {
		w, err := want.Next()
		if err != nil {
			t.Fatalf("input event %d: %v", i, err)
		}
		wName, wData := string(w.Name), string(w.Data)
		g, err := got.Next()
		if err != nil {
			t.Fatalf("output ended at event %d: %v\n%q", i, err, res.out)
		}
		if wData == "" {
			if string(g.Raw) != string(w.Raw) {
				t.Fatalf("event %d: %q relayed as %q", i, w.Raw, g.Raw)
			}
			continue
		}
		if string(g.Data) != wData {
			t.Fatalf("event %d: data %q relayed as %q", i, wData, g.Data)
		}
		if wName != "" && string(g.Name) != strings.Map(dropLineBreaks, wName) {
			t.Fatalf("event %d: name %q relayed as %q", i, wName, g.Name)
		}
		if bytes.ContainsAny(g.Name, "\r\n") {
			t.Fatalf("event %d: name %q has a line break", i, g.Name)
		}
	}
	if _, err := got.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("output has more than the %d events relayed: %v\n%q", n, err, res.out)
	}
	if res.s.Content() && !strings.Contains(in, "delta") && !strings.Contains(in, "function_call") {
		t.Fatal("content reported for a stream with no delta and no function call")
	}
}

// TestNativeStreamAppendsToDst: Event appends after what dst holds.
func TestNativeStreamAppendsToDst(t *testing.T) {
	t.Parallel()
	s := New("openai").Native(provider.APIResponses).NewStream(&provider.Request{})
	data := `{"type":"response.output_text.delta","delta":"x"}`
	out, err := s.Event([]byte("kept|"), sse.Event{Data: []byte(data), Raw: []byte("data: " + data + "\n\n")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "kept|event: response.output_text.delta\ndata: " + data + "\n\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if !s.Content() {
		t.Error("a text delta is not content")
	}
}
