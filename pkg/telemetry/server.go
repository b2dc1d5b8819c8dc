package telemetry

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// The lean server path. otelhttp's handler builds every attribute list and
// metric attribute set anew per request, wraps the writer in httpsnoop's
// interface combinations, counts the body through a wrapper and puts a
// Labeler in the context: about half of the request path's telemetry cost.
// serverSpans records the same span (scope, name, kind, attributes,
// status) and the same http.server.* instruments (same scope, so the same
// streams as otelhttp's for other routes), with the per-request attribute
// lists in pooled buffers and the metric sets cached per label combination.
// TestLeanServerMatchesOtelhttp holds the two to the same output.
//
// Differences, on purpose: the writer handed on implements Flush, ReadFrom
// and Unwrap (so that http.ResponseController reaches Hijack, deadlines and
// the rest) rather than every optional interface of the original; there is
// no otelhttp.Labeler in the context; read and write events
// (otelhttp.WithMessageEvents) are not offered.

// serverBuckets are otelhttp's http.server.request.duration boundaries.
var serverBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// serverSpans is the lean server-span handler Middleware uses for POSTs.
type serverSpans struct {
	next    http.Handler
	tracing bool
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	// server is server.address from the configured server name; port is
	// its port, or -1 to take the port from the request's Host as otelhttp
	// does.
	server attribute.KeyValue
	port   int
	kind   trace.SpanStartOption

	metering bool
	duration metric.Float64Histogram
	reqSize  metric.Int64Histogram
	respSize metric.Int64Histogram

	names setCache[routeKey, routeNames]
	sets  setCache[httpKey, []metric.RecordOption]
	// buildSet is buildMetricSet bound once, not per request.
	buildSet func(httpKey) []metric.RecordOption
	pool     sync.Pool // *serverState
}

// routeKey is a request's method and matched mux pattern.
type routeKey struct{ method, pattern string }

// routeNames is a route's span name and http.route attribute.
type routeNames struct {
	name  string
	route attribute.KeyValue
}

// httpKey is the label combination of the http.server.* metrics.
type httpKey struct {
	method, proto, route string
	https                bool
	port, status         int
}

// serverState is one request's scratch space, pooled: the writer wrapper
// and the attribute buffer the span's attributes are built in (the SDK
// copies them): up to 12 from the request, 4 from the response.
type serverState struct {
	w     respWriter
	body  countingBody
	attrs [20]attribute.KeyValue
}

// serverSpans builds the lean handler around next.
func (t *Telemetry) serverSpans(next http.Handler) *serverSpans {
	s := &serverSpans{
		next:     next,
		tracing:  t.tracing,
		tracer:   t.tp.Tracer(otelhttp.ScopeName, trace.WithInstrumentationVersion(otelhttp.Version)),
		prop:     t.prop,
		kind:     trace.WithSpanKind(trace.SpanKindServer),
		metering: t.metering,
	}
	host, port := splitHostPort(t.cfg.ServiceName)
	s.server, s.port = semconv.ServerAddress(host), port
	s.pool.New = func() any { return new(serverState) }
	s.buildSet = s.buildMetricSet
	if t.metering {
		// The instruments otelhttp creates, on its meter: the SDK hands
		// back the same instruments, so that both paths feed one stream.
		m := t.mp.Meter(otelhttp.ScopeName, metric.WithInstrumentationVersion(otelhttp.Version))
		d, err := httpconv.NewServerRequestDuration(m, metric.WithExplicitBucketBoundaries(serverBuckets...))
		if err != nil {
			otel.Handle(err)
		}
		rq, err := httpconv.NewServerRequestBodySize(m)
		if err != nil {
			otel.Handle(err)
		}
		rs, err := httpconv.NewServerResponseBodySize(m)
		if err != nil {
			otel.Handle(err)
		}
		s.duration, s.reqSize, s.respSize = d.Inst(), rq.Inst(), rs.Inst()
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *serverSpans) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := s.pool.Get().(*serverState)
	defer s.pool.Put(st)
	st.w = respWriter{ResponseWriter: w}
	rw := &st.w

	st.body = countingBody{}
	if r.Body != nil && r.Body != http.NoBody {
		// http.request.body.size is what the handler read, as otelhttp
		// counts it. The server looks at the original body after this
		// returns: put it back.
		st.body.ReadCloser = r.Body
		r.Body = &st.body
		defer func() { r.Body = st.body.ReadCloser }()
	}

	var span trace.Span
	req := r
	if s.tracing {
		// The attributes otelhttp starts its span with are set when it
		// ends, with the rest (see Config.Sampler).
		ctx := s.prop.Extract(r.Context(), headerCarrier(r.Header))
		ctx, span = s.tracer.Start(ctx, method(r.Method), s.kind, trace.WithTimestamp(start))
		if sc := span.SpanContext(); sc.IsValid() {
			setTraceHeaders(w.Header(), sc)
		}
		req = r.WithContext(ctx)
	}

	finished := false
	defer func() {
		if !finished && span != nil {
			// The handler panicked (http.ErrAbortHandler, say): the span
			// still ends, as otelhttp's does.
			if span.IsRecording() {
				span.SetAttributes(s.requestAttrs(st.attrs[:0], r)...)
			}
			span.End()
		}
	}()
	s.next.ServeHTTP(rw, req)
	finished = true

	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	reqSize := st.body.n
	var names routeNames
	if req.Pattern != "" {
		names = s.names.get(routeKey{method: r.Method, pattern: req.Pattern}, buildRouteNames)
	}
	if span != nil {
		if span.IsRecording() {
			if names.name != "" {
				span.SetName(names.name)
			}
			attrs := s.requestAttrs(st.attrs[:0], r)
			if reqSize > 0 {
				attrs = append(attrs, semconv.HTTPRequestBodySize(int(reqSize)))
			}
			if rw.written > 0 {
				attrs = append(attrs, semconv.HTTPResponseBodySize(int(rw.written)))
			}
			attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
			if names.name != "" {
				attrs = append(attrs, names.route)
			}
			span.SetAttributes(attrs...)
			if status < 100 || status >= 600 {
				span.SetStatus(codes.Error, fmt.Sprintf("Invalid HTTP status code %d", status))
			} else if status >= 500 {
				span.SetStatus(codes.Error, "")
			}
		}
		span.End()
	}
	if s.metering {
		opt := s.sets.get(s.metricKey(r, req.Pattern, status), s.buildSet)
		ctx := req.Context()
		s.reqSize.Record(ctx, reqSize, opt...)
		s.respSize.Record(ctx, rw.written, opt...)
		s.duration.Record(ctx, float64(time.Since(start))/float64(time.Second), opt...)
	}
}

// requestAttrs appends the span's start attributes, those otelhttp's
// RequestTraceAttrs gives, in its order.
func (s *serverSpans) requestAttrs(attrs []attribute.KeyValue, r *http.Request) []attribute.KeyValue {
	https := r.TLS != nil
	attrs = append(attrs, s.server, methodAttr(r.Method), schemeAttr(https))
	if p := s.hostPort(r, https); p > 0 {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	if r.Method != "" && method(r.Method) != r.Method {
		// Not a standard method as sent: otelhttp keeps the original.
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	client := r.Header.Get("X-Forwarded-For")
	if i := strings.IndexByte(client, ','); i >= 0 {
		client = client[:i]
	}
	if client == "" {
		client = peer
	}
	if client != "" {
		attrs = append(attrs, semconv.ClientAddress(client))
	}
	if r.URL != nil && r.URL.Path != "" {
		attrs = append(attrs, semconv.URLPath(r.URL.Path))
	}
	name, version := netProtocol(r.Proto)
	if name != "" && name != "http" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}

// hostPort is server.port: the configured server name's port, else the
// Host header's, left out when it is the scheme's default (-1).
func (s *serverSpans) hostPort(r *http.Request, https bool) int {
	p := s.port
	if p < 0 {
		_, p = splitHostPort(r.Host)
	}
	if p <= 0 || (https && p == 443) || (!https && p == 80) {
		return -1
	}
	return p
}

// metricKey is the label combination of a finished request.
func (s *serverSpans) metricKey(r *http.Request, pattern string, status int) httpKey {
	https := r.TLS != nil
	m, ok := standardMethod(r.Method)
	if !ok {
		m = "_OTHER"
	}
	k := httpKey{method: m, proto: r.Proto, https: https, port: s.hostPort(r, https), status: status}
	if pattern != "" {
		k.route = httpRoute(pattern)
	}
	return k
}

// buildMetricSet builds the set otelhttp's MetricAttributes gives.
func (s *serverSpans) buildMetricSet(k httpKey) []metric.RecordOption {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(k.method), schemeAttr(k.https), s.server)
	if k.port > 0 {
		attrs = append(attrs, semconv.ServerPort(k.port))
	}
	name, version := netProtocol(k.proto)
	if name != "" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	if k.status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.route != "" {
		attrs = append(attrs, semconv.HTTPRoute(k.route))
	}
	return recordSet(attrs...)
}

func buildRouteNames(k routeKey) routeNames {
	r := route(k.pattern)
	return routeNames{name: method(k.method) + " " + r, route: semconv.HTTPRoute(r)}
}

// standardMethod returns m when it is one of the methods the HTTP semantic
// conventions name, upper-cased as otelhttp accepts it.
func standardMethod(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m, true
	}
	u := strings.ToUpper(m)
	switch u {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return u, true
	}
	return "", false
}

// methodAttr is http.request.method as otelhttp sets it on spans: the
// method when standard (in any case), else _OTHER.
func methodAttr(m string) attribute.KeyValue {
	switch m {
	case http.MethodPost:
		return semconv.HTTPRequestMethodPost
	case http.MethodGet:
		return semconv.HTTPRequestMethodGet
	}
	if s, ok := standardMethod(m); ok {
		return semconv.HTTPRequestMethodKey.String(s)
	}
	return semconv.HTTPRequestMethodOther
}

func schemeAttr(https bool) attribute.KeyValue {
	if https {
		return semconv.URLScheme("https")
	}
	return semconv.URLScheme("http")
}

// httpRoute is otelhttp's route from a pattern: from its first slash.
func httpRoute(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// netProtocol splits "HTTP/1.1" into "http" and "1.1".
func netProtocol(proto string) (name, version string) {
	name, version, _ = strings.Cut(proto, "/")
	switch name {
	case "HTTP":
		name = "http"
	case "QUIC":
		name = "quic"
	case "SPDY":
		name = "spdy"
	default:
		name = strings.ToLower(name)
	}
	return name, version
}

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port" as
// otelhttp does: an empty host when unparsable, port -1 when absent.
func splitHostPort(hostport string) (host string, port int) {
	port = -1
	if strings.HasPrefix(hostport, "[") {
		end := strings.LastIndexByte(hostport, ']')
		if end < 0 {
			return "", -1
		}
		if strings.LastIndexByte(hostport[end:], ':') < 0 {
			return hostport[1:end], -1
		}
	} else if !strings.Contains(hostport, ":") {
		return hostport, -1
	}
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return host, -1
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return host, -1
	}
	return host, int(p)
}

// respWriter records the status and the bytes written. It implements
// Flush, which streams need, and Unwrap, through which
// http.ResponseController reaches everything else of the original writer.
type respWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

// WriteHeader implements http.ResponseWriter; informational statuses are
// not the answer's.
func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy into the writer on the original's fast path.
func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.written += n
	return n, err
}

// Flush implements http.Flusher.
func (w *respWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the original writer, for http.ResponseController.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the bytes read from a body of unknown length.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
