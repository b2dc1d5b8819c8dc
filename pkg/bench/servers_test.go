package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

func TestStreamRequested(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"stream":true}`, true},
		{`{"model":"m", "stream" : true}`, true},
		{"{\"stream\":\n\ttrue}", true},
		{`{"stream":false}`, false},
		{`{"model":"m"}`, false},
		{`{"stream_options":{"include_usage":true}}`, false},
		{`{"stream_options":{"include_usage":true},"stream":true}`, true},
		{`{"content":"\"stream\"","stream":false}`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			if got := streamRequested([]byte(tt.body)); got != tt.want {
				t.Errorf("streamRequested(%s) = %v, want %v", tt.body, got, tt.want)
			}
		})
	}
}

func post(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return rec
}

func TestMockCompletion(t *testing.T) {
	rec := post(t, NewMock(3), chatPath, chatBody)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var c struct {
		Object string `json:"object"`
		Usage  struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if c.Object != "chat.completion" || c.Usage.TotalTokens == 0 {
		t.Errorf("completion = %+v, want a chat.completion with usage", c)
	}
	if got := rec.Header().Get("Content-Length"); got == "" {
		t.Error("no Content-Length: a proxy would have to chunk the answer")
	}
}

func TestMockStream(t *testing.T) {
	for _, chunks := range []int{1, 5} {
		rec := post(t, NewMock(chunks), chatPath, streamBody)
		if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		var data []string
		sc := bufio.NewScanner(rec.Body)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data = append(data, rest)
			}
		}
		// role + content chunks + finish + usage + [DONE]
		if want := chunks + 4; len(data) != want {
			t.Fatalf("chunks=%d: %d data lines, want %d", chunks, len(data), want)
		}
		if data[len(data)-1] != "[DONE]" {
			t.Errorf("last data line %q, want [DONE]", data[len(data)-1])
		}
		for _, d := range data[:len(data)-1] {
			if !json.Valid([]byte(d)) {
				t.Errorf("frame is not JSON: %s", d)
			}
		}
		if !strings.Contains(data[len(data)-2], `"usage"`) {
			t.Error("no usage frame before [DONE]")
		}
		if !rec.Flushed {
			t.Error("frames were not flushed")
		}
	}
}

func TestMockRoutes(t *testing.T) {
	m := NewMock(1)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/v1/models", http.StatusOK},
		{http.MethodGet, chatPath, http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/embeddings", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

func TestOTLPSink(t *testing.T) {
	s := &otlpSink{}
	for _, p := range []string{"/v1/traces", "/v1/metrics", "/v1/logs"} {
		rec := post(t, s, p, "\x0a\x00")
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("%s: status %d, %d body bytes, type %q; want 200, an empty protobuf", p, rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
		}
	}
	if rec := post(t, s, "/v1/other", ""); rec.Code != http.StatusNotFound {
		t.Errorf("unknown path: status %d", rec.Code)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/traces", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rec.Code)
	}
	if s.posts.Load() != 3 || s.bytes.Load() != 6 {
		t.Errorf("sink counted %d posts, %d bytes; want 3, 6", s.posts.Load(), s.bytes.Load())
	}
}

// TestReverseProxyStreams runs the mock behind the bare proxy, through a
// real listener each, as the harness does.
func TestReverseProxyStreams(t *testing.T) {
	up, err := startServer("127.0.0.1:0", NewMock(3))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := up.close(); err != nil {
			t.Error(err)
		}
	}()
	u, err := url.Parse(up.url)
	if err != nil {
		t.Fatal(err)
	}
	rp := newReverseProxy(u)
	defer rp.Transport.(*http.Transport).CloseIdleConnections()
	px, err := startServer("127.0.0.1:0", rp)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := px.close(); err != nil {
			t.Error(err)
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for _, body := range []string{chatBody, streamBody} {
		resp, err := (&http.Client{Transport: tr}).Post(px.url+chatPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		want := []byte(`"chat.completion"`)
		if body == streamBody {
			want = []byte("data: [DONE]")
		}
		if !bytes.Contains(b, want) {
			t.Errorf("answer without %s: %s", want, b)
		}
	}
}

// closedAfter is a server request body: its content, then the error a
// read gets once the server has closed the body.
type closedAfter struct{ r *strings.Reader }

func (c *closedAfter) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, errors.New("http: invalid Read on closed Body")
	}
	return c.r.Read(p)
}

func (c *closedAfter) Close() error { return nil }

// TestReverseProxyBodyEndsAtDeclaredLength: the reverse proxy's outgoing
// body reports EOF after Content-Length bytes instead of reading the
// server's body again, which fails once the server has closed it (and made
// the transport drop the upstream connection mid-stream).
func TestReverseProxyBodyEndsAtDeclaredLength(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	rp := newReverseProxy(u)
	src := &closedAfter{r: strings.NewReader(chatBody)}
	in := httptest.NewRequest(http.MethodPost, chatPath, nil)
	in.Body, in.ContentLength = src, int64(len(chatBody))
	r := in.Clone(in.Context()) // as ReverseProxy makes the outgoing request
	rp.Rewrite(&httputil.ProxyRequest{In: in, Out: r})
	if r.URL.Host != u.Host {
		t.Errorf("outgoing URL %s, want host %s", r.URL, u.Host)
	}
	// As the transport sends it: the declared length, then a check for more.
	var got bytes.Buffer
	if _, err := io.Copy(&got, io.LimitReader(r.Body, r.ContentLength)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read past the declared length = %d, %v; want 0, EOF", n, err)
	}
	if got.String() != chatBody {
		t.Errorf("body %q", got.String())
	}
	if src.r.Len() != 0 {
		t.Errorf("%d bytes left unread", src.r.Len())
	}
}
