package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// completionJSON is the mock's non-streaming answer: a small but complete
// Chat Completions body with usage, so a gateway has the usual fields to
// read.
const completionJSON = `{"id":"chatcmpl-bench0001","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed benchmark completion."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21},"system_fingerprint":"fp_bench"}`

const modelsJSON = `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1700000000,"owned_by":"bench"},{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"bench"}]}`

// Mock is a minimal OpenAI-shaped upstream whose per-request cost is as low
// as net/http allows: every answer is pre-rendered, and the request body is
// only scanned for "stream": true. It serves POST /v1/chat/completions and
// GET /v1/models.
type Mock struct {
	completion []byte
	models     []byte
	frames     [][]byte // role frame, content frames, finish frame, usage frame, [DONE]
}

// NewMock returns a mock whose streams carry chunks content chunks (at
// least 1) between the role frame and the finish, usage and [DONE] frames.
func NewMock(chunks int) *Mock {
	chunks = max(chunks, 1)
	const head = `data: {"id":"chatcmpl-bench0001","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[`
	m := &Mock{completion: []byte(completionJSON), models: []byte(modelsJSON)}
	m.frames = append(m.frames, []byte(head+`{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`+"\n\n"))
	for i := range chunks {
		m.frames = append(m.frames, []byte(head+`{"index":0,"delta":{"content":"tok`+strconv.Itoa(i)+` "},"logprobs":null,"finish_reason":null}]}`+"\n\n"))
	}
	m.frames = append(m.frames,
		[]byte(head+`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`+"\n\n"),
		[]byte(head+`],"usage":{"prompt_tokens":12,"completion_tokens":`+strconv.Itoa(chunks)+`,"total_tokens":`+strconv.Itoa(12+chunks)+`}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
	return m
}

// ServeHTTP answers chat completions and the model list.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/models", "/models":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(m.models)
	case "/v1/chat/completions", "/chat/completions":
		m.chat(w, r)
	default:
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
	}
}

func (m *Mock) chat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"method not allowed","type":"invalid_request_error"}}`, http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return // the client went away
	}
	h := w.Header()
	if !streamRequested(body) {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(m.completion)))
		_, _ = w.Write(m.completion)
		return
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, f := range m.frames {
		if _, err := w.Write(f); err != nil {
			return
		}
		// One flush per frame, as a provider streaming tokens does: a proxy
		// sees every chunk separately.
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// streamRequested reports whether a JSON request body sets "stream": true at
// any level, without decoding it: good enough for the harness's own bodies
// and the gateway's forwarded ones.
func streamRequested(body []byte) bool {
	key := []byte(`"stream"`)
	for {
		i := bytes.Index(body, key)
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			if bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t\r\n"), []byte("true")) {
				return true
			}
		}
		body = body[i+len(key):]
	}
}

// newReverseProxy is the floor the gateway is compared against: the
// standard library's reverse proxy with a keep-alive pool sized for the
// load and every write flushed, so SSE passes through unbuffered. It does
// what NewSingleHostReverseProxy's director does (the target's URL, an
// X-Forwarded-For), written as a Rewrite.
func newReverseProxy(upstream *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
			// X-Forwarded-For only, as a Director-based proxy adds it
			// (the load generator sends none to append to).
			if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
				pr.Out.Header["X-Forwarded-For"] = []string{ip}
			}
			endAtDeclaredLength(pr.Out)
		},
		FlushInterval: -1,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// endAtDeclaredLength makes r's body end where its Content-Length says,
// without asking the server's body again: after copying the declared
// length the transport reads once more to check for excess, and that read
// can come after the server, writing the response headers, closed the
// request body. The read then fails, the transport drops the upstream
// connection and cuts the stream being relayed ("read error during body
// copy: use of closed network connection" in the proxy, "unexpected EOF"
// at the client, a few streams per second at c=10).
func endAtDeclaredLength(r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength > 0 {
		r.Body = &declaredBody{ReadCloser: r.Body, left: r.ContentLength}
	}
}

// declaredBody is a request body that reports EOF once its declared
// length is read, without reading the underlying body again.
type declaredBody struct {
	io.ReadCloser
	left int64
}

func (b *declaredBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left <= 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// otlpSink accepts OTLP/HTTP exports and throws them away, answering 200
// with an empty protobuf message (a valid Export*ServiceResponse), so an
// exporting gateway pays its full export cost without a collector.
type otlpSink struct {
	posts atomic.Int64
	bytes atomic.Int64
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/traces", "/v1/metrics", "/v1/logs":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	s.posts.Add(1)
	s.bytes.Add(n)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// server is an HTTP server on a loopback listener that the harness owns.
type server struct {
	srv  *http.Server
	url  string
	done chan error
}

// startServer serves h on addr (host:port, port 0 for any).
func startServer(addr string, h http.Handler) (*server, error) {
	if err := checkLoopback("http://" + addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &server{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second},
		url:  "http://" + ln.Addr().String(),
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// close stops the server and waits for it.
func (s *server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		return errors.Join(err, serr)
	}
	return err
}
