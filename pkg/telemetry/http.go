package telemetry

import (
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceID is the response header carrying the request's trace id, for
// people and tools that do not parse traceparent.
const HeaderTraceID = "X-Keeptrusts-Trace-Id"

// Middleware wraps the gateway's whole handler (pass the ServeMux itself, so
// that the matched pattern names the span) in an HTTP server span: W3C
// trace context and baggage are taken from the client, the span is named
// "{method} {route}" from the mux pattern (never the raw path), and the
// response carries traceparent and X-Keeptrusts-Trace-Id naming the
// gateway's span. Orchestrator polls (/livez, /readyz) and /metrics scrapes
// are not traced. With tracing and metrics both off it returns next as is.
//
// POST requests, the model calls that carry the gateway's load, take a
// lean path (serverSpans) that records the same span and the same
// http.server.* metrics as otelhttp at a fraction of its cost; every other
// request (models, health, events) goes through otelhttp itself.
func (t *Telemetry) Middleware(next http.Handler) http.Handler {
	if t == nil || (!t.tracing && !t.metering) {
		return next
	}
	lean := t.serverSpans(next)
	full := t.otelhttpHandler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !traced(r):
			next.ServeHTTP(w, r)
		case r.Method == http.MethodPost:
			lean.ServeHTTP(w, r)
		default:
			full.ServeHTTP(w, r)
		}
	})
}

// otelhttpHandler wraps next in otelhttp's server handler, configured as
// the lean path is, so that both record the same telemetry.
func (t *Telemetry) otelhttpHandler(next http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		// Only a span of our own: echoing a client's remote context back
		// would name a span the gateway never recorded.
		if sc := span.SpanContext(); sc.IsValid() && !sc.IsRemote() {
			setTraceHeaders(w.Header(), sc)
		}
		next.ServeHTTP(w, r)
		// The mux sets the pattern on the request it was given; otelhttp
		// renames the span from it after this returns.
		if r.Pattern != "" && span.IsRecording() {
			span.SetAttributes(attribute.String("http.route", route(r.Pattern)))
		}
	})
	return otelhttp.NewHandler(inner, "",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithPropagators(t.prop),
		// A fixed server name keeps a client's Host header out of the
		// metrics' labels.
		otelhttp.WithServerName(t.cfg.ServiceName),
		otelhttp.WithSpanNameFormatter(spanName),
		otelhttp.WithFilter(traced),
	)
}

// setTraceHeaders names sc in the response: traceparent (and tracestate)
// as propagation.TraceContext writes them, and X-Keeptrusts-Trace-Id. The
// trace id header shares the traceparent's bytes and both values share one
// backing array: two allocations where the propagator and
// TraceID().String() take five.
func setTraceHeaders(h http.Header, sc trace.SpanContext) {
	if ts := sc.TraceState().String(); ts != "" {
		h["Tracestate"] = []string{ts}
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	// Only the flags the W3C spec defines, as TraceContext.Inject does.
	flags := [1]byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	var b [55]byte // 00-{32 hex}-{16 hex}-{2 hex}
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], flags[:])
	tp := string(b[:])
	vals := make([]string, 2)
	vals[0], vals[1] = tp, tp[3:35]
	h["Traceparent"] = vals[0:1:1]
	h[HeaderTraceID] = vals[1:2:2]
}

// headerCarrier is propagation.HeaderCarrier that knows the W3C
// propagators' keys in their canonical form: HeaderCarrier canonicalizes
// "traceparent" and "baggage" on every Get and Set, which allocates a new
// key each time, for every request in and every attempt out.
type headerCarrier http.Header

// Get returns the first value of key.
func (h headerCarrier) Get(key string) string {
	if v := h[canonicalKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key.
func (h headerCarrier) Values(key string) []string { return h[canonicalKey(key)] }

// Set replaces the values of key with value.
func (h headerCarrier) Set(key, value string) { h[canonicalKey(key)] = []string{value} }

// Keys lists the header names.
func (h headerCarrier) Keys() []string { return propagation.HeaderCarrier(h).Keys() }

// canonicalKey is textproto's canonical form of a header name, without
// building it for the names the propagators use.
func canonicalKey(k string) string {
	switch k {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	}
	return textproto.CanonicalMIMEHeaderKey(k)
}

// traced tells which requests get a span: not the orchestrators' and
// scrapers' frequent polls.
func traced(r *http.Request) bool {
	switch r.URL.Path {
	case "/livez", "/readyz", "/metrics":
		return r.Method != http.MethodGet && r.Method != http.MethodHead
	}
	return true
}

// spanName is "{method} {route}" once the mux matched a pattern, else the
// method alone, as the HTTP semantic conventions ask: a raw path would
// make every URL a span name of its own.
func spanName(_ string, r *http.Request) string {
	m := method(r.Method)
	if r.Pattern == "" {
		return m
	}
	return m + " " + route(r.Pattern)
}

// route is the path part of a ServeMux pattern ("POST /v1/x" → "/v1/x",
// "host/p" → "/p").
func route(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(p, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// method bounds the method names that reach span names.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "HTTP"
}

// Transport wraps rt so that every upstream request carries the W3C trace
// context (and baggage) of its request's context, which for an attempt is
// the attempt's CLIENT span: no further span is created. With tracing off
// it returns rt as is. A nil rt means http.DefaultTransport.
func (t *Telemetry) Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t == nil || !t.tracing {
		return rt
	}
	return &propagatingTransport{rt: rt, prop: t.prop}
}

// propagatingTransport injects trace context into outgoing requests.
type propagatingTransport struct {
	rt   http.RoundTripper
	prop propagation.TextMapPropagator
}

// RoundTrip implements http.RoundTripper.
func (p *propagatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if !trace.SpanContextFromContext(ctx).IsValid() && baggage.FromContext(ctx).Len() == 0 {
		return p.rt.RoundTrip(req)
	}
	// A RoundTripper must not change the caller's request: copy it with a
	// header map of its own. The map is copied shallowly: the propagator
	// only sets keys, replacing their value slices, so the caller's slices
	// are shared but never written.
	r := new(http.Request)
	*r = *req
	r.Header = make(http.Header, len(req.Header)+3)
	for k, v := range req.Header {
		r.Header[k] = v
	}
	p.prop.Inject(ctx, headerCarrier(r.Header))
	return p.rt.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (p *propagatingTransport) CloseIdleConnections() {
	if c, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
