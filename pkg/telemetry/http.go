package telemetry

import (
	"net/http"
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
// that the matched pattern names the span) in an otelhttp server span: W3C
// trace context and baggage are taken from the client, the span is named
// "{method} {route}" from the mux pattern (never the raw path), and the
// response carries traceparent and X-Keeptrusts-Trace-Id naming the
// gateway's span. Orchestrator polls (/livez, /readyz) and /metrics scrapes
// are not traced. With tracing and metrics both off it returns next as is.
func (t *Telemetry) Middleware(next http.Handler) http.Handler {
	if t == nil || (!t.tracing && !t.metering) {
		return next
	}
	traceContext := propagation.TraceContext{}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		// Only a span of our own: echoing a client's remote context back
		// would name a span the gateway never recorded.
		if sc := span.SpanContext(); sc.IsValid() && !sc.IsRemote() {
			h := w.Header()
			traceContext.Inject(r.Context(), propagation.HeaderCarrier(h))
			h.Set(HeaderTraceID, sc.TraceID().String())
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
	// A RoundTripper must not change the caller's request: copy it with
	// its own header map.
	r := new(http.Request)
	*r = *req
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = make(http.Header, 2)
	}
	p.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return p.rt.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (p *propagatingTransport) CloseIdleConnections() {
	if c, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
