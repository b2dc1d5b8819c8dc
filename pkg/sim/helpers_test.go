package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testKey = "sk-test-secret-key-123"

// harness is one running simulator and a client with its own transport, so
// that idle connections are closed when the test ends.
type harness struct {
	t      *testing.T
	sim    *Sim
	srv    *Server
	client *http.Client
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	s := New(opts)
	srv, err := Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", s)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	tr := &http.Transport{}
	h := &harness{t: t, sim: s, srv: srv, client: &http.Client{Transport: tr}}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return h
}

// in returns h reporting to t, for subtests sharing one simulator.
func (h *harness) in(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// chatPath is the chat endpoint of the kind.
func chatPath(k Kind) string {
	if k == KindAnthropic {
		return "/v1/messages"
	}
	return "/v1/chat/completions"
}

// authHeaders are the headers a correct client of the kind sends.
func authHeaders(k Kind, key string) http.Header {
	h := http.Header{}
	if k == KindAnthropic {
		if key != "" {
			h.Set("x-api-key", key)
		}
		h.Set("anthropic-version", "2023-06-01")
	} else if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return h
}

// do sends one request to the API and returns the response (the caller
// closes the body).
func (h *harness) do(ctx context.Context, method, path, body string, hdr http.Header) (*http.Response, error) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL()+path, rd)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.client.Do(req)
}

// chat posts body to the chat endpoint with the right key and reads the
// whole answer.
func (h *harness) chat(body string) (int, http.Header, []byte) {
	h.t.Helper()
	return h.call(http.MethodPost, chatPath(h.sim.Kind()), body, authHeaders(h.sim.Kind(), testKey))
}

func (h *harness) call(method, path, body string, hdr http.Header) (int, http.Header, []byte) {
	h.t.Helper()
	resp, err := h.do(context.Background(), method, path, body, hdr)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// admin calls the admin API and decodes the JSON answer into out (if non-nil).
func (h *harness) admin(method, path, body string, out any) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.AdminURL()+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("admin read: %v", err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("admin %s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// waitFor polls cond until it holds or a short deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// decodeStrictT decodes b into v, failing on fields v does not mirror: the
// test structs follow the official SDK types, so an extra field is a shape bug.
func decodeStrictT(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// requireKeys fails unless the JSON object b has every key, so that fields
// the official shape always carries (even as null) are not omitted.
func requireKeys(t *testing.T, b []byte, keys ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("missing key %q in %s", k, b)
		}
	}
}

// errorShape decodes a provider error body of either kind.
type errorShape struct {
	// OpenAI
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
	// Anthropic
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
}

func decodeError(t *testing.T, k Kind, b []byte) errorShape {
	t.Helper()
	var e errorShape
	decodeStrictT(t, b, &e)
	if k == KindAnthropic {
		if e.Type != "error" {
			t.Errorf("anthropic error body type = %q, want error: %s", e.Type, b)
		}
		var inner struct {
			Error map[string]json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(b, &inner)
		if len(inner.Error) != 2 {
			t.Errorf("anthropic error object has %d fields, want type and message: %s", len(inner.Error), b)
		}
	} else {
		var outer struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(b, &outer)
		requireKeys(t, outer.Error, "message", "type", "param", "code")
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("error body lacks message or type: %s", b)
	}
	return e
}
