package reliability

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowlorisCut trickles request headers slower than
// read_header_timeout_seconds (0.5 s): the gateway must close the
// connection long before the headers are complete.
func TestSlowlorisCut(t *testing.T) {
	st := startStack(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(st.GatewayURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
		t.Fatal(err)
	}
	// 100 header bytes at one every 100 ms would take 10 s, 20× the limit.
	cut := false
	for i := range 100 {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(conn, "X"); err != nil {
			cut = true
			break
		}
		if i%5 == 4 {
			// The server closing shows as a readable EOF (or a 408) before
			// writes start failing.
			_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
			b := make([]byte, 512)
			n, err := conn.Read(b)
			if n > 0 || errors.Is(err, io.EOF) || (err != nil && !isTimeout(err)) {
				cut = true
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !cut {
		t.Fatal("a connection trickling its headers for 10 s was never cut")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestHostileBodies sends bodies built to hurt a decoder: every one gets a
// client error or an answer, always as valid JSON, and the gateway stays up.
func TestHostileBodies(t *testing.T) {
	st := startStack(t)
	c := &http.Client{Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	deep := strings.Repeat("[", 100_000)
	deepObj := strings.Repeat(`{"a":`, 50_000)
	tests := []struct {
		name   string
		body   string
		status []int // acceptable statuses
		code   string
	}{
		{"oversized body", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", 2<<20) + `"}]}`, []int{413}, "request_too_large"},
		{"100k nested arrays", deep, []int{400}, ""},
		{"100k nested arrays in messages", `{"model":"gpt-4o-mini","messages":` + deep + `}`, []int{400}, ""},
		{"50k nested objects in content", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":` + deepObj + `1` + strings.Repeat("}", 50_000) + `}]}`, []int{400}, ""},
		{"invalid UTF-8 in content", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9 \xff\xfe \xed\xa0\x80\"}]}", []int{200, 400}, ""},
		{"invalid UTF-8 in model", "{\"model\":\"gpt\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", []int{400}, ""},
		{"NUL in content", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", []int{200, 400}, ""},
		{"CRLF in model", chatBody("gpt-4o-mini\r\nX-Injected: 1", "hi", false), []int{400}, ""},
		{"LF in model", chatBody("gpt-4o-mini\nHost: evil", "hi", false), []int{400}, ""},
		{"empty", ``, []int{400}, ""},
		{"not JSON", `model=gpt-4o-mini`, []int{400}, ""},
		{"huge number", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":1e999999}`, []int{200, 400}, ""},
		{"duplicate keys", `{"model":"x","model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, []int{200, 400}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, b := post(t, c, st.GatewayURL, tc.body, nil)
			ok := false
			for _, s := range tc.status {
				ok = ok || s == status
			}
			if !ok {
				t.Fatalf("status %d, want one of %v: %.300s", status, tc.status, b)
			}
			if !json.Valid(b) {
				t.Fatalf("answer is not valid JSON: %.300q", b)
			}
			if tc.code != "" && !strings.Contains(string(b), `"code":"`+tc.code+`"`) {
				t.Fatalf("want code %s: %.300s", tc.code, b)
			}
		})
	}
	// Still serving.
	if status, b := post(t, c, st.GatewayURL, chatBody("gpt-4o-mini", "What is the capital of France?", false), nil); status != 200 || !strings.Contains(string(b), "Paris") {
		t.Fatalf("gateway broken after hostile input: %d %.300s", status, b)
	}
}

// TestUpstreamURLFixed tries to steer the upstream request with model names
// and headers: the simulators must only ever see their chat and probe paths.
func TestUpstreamURLFixed(t *testing.T) {
	st := startStack(t)
	c := &http.Client{Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	models := []string{"../../admin", "../v1/models", "http://evil.example/", "//evil.example/x", "gpt-4o-mini?x=1", "gpt-4o-mini#frag",
		"gpt-4o-mini/../../stats", "%2e%2e%2fadmin", "@evil.example", "gpt-4o-mini\\..\\admin", " gpt-4o-mini", "gpt-4o-mini\t"}
	headers := []http.Header{
		nil,
		{"Host": {"evil.example"}},
		{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}},
		{"X-Original-Url": {"/admin"}, "X-Rewrite-Url": {"/admin"}},
		{"Forwarded": {"host=evil.example;proto=http"}},
		{"X-Keeptrusts-Target": {"http://evil.example"}, "X-Keeptrusts-Base-Url": {"http://evil.example"}},
	}
	// A fallback must see the same: the primary fails every chat request.
	for _, fail := range []bool{false, true} {
		if fail {
			setFault(t, st.AdminURLs[0], simFault500())
		}
		for _, m := range models {
			for _, h := range headers {
				status, b := post(t, c, st.GatewayURL, chatBody(m, "hi", false), h)
				if !json.Valid(b) {
					t.Fatalf("model %q: invalid JSON answer: %.300q", m, b)
				}
				if status >= 500 {
					t.Fatalf("model %q headers %v: status %d: %.300s", m, h, status, b)
				}
			}
		}
	}
	for i, a := range st.AdminURLs {
		s := simStats(t, a)
		if s.OtherRequests != 0 {
			t.Errorf("simulator %s saw %d requests outside its chat and models paths", st.Targets[i], s.OtherRequests)
		}
		if s.ChatRequests == 0 {
			t.Errorf("simulator %s saw no chat request: the test reached nothing", st.Targets[i])
		}
	}
}
