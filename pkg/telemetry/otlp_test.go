package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/keeptrusts/gateway/pkg/router"
)

// otlpSink is an in-process OTLP receiver's memory.
type otlpSink struct {
	mu      sync.Mutex
	spans   []*tracepb.ResourceSpans
	metrics []*metricpb.ResourceMetrics
	logs    []*logspb.ResourceLogs
}

func (s *otlpSink) addTraces(r *coltracepb.ExportTraceServiceRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans = append(s.spans, r.GetResourceSpans()...)
}

func (s *otlpSink) addMetrics(r *colmetricpb.ExportMetricsServiceRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics = append(s.metrics, r.GetResourceMetrics()...)
}

func (s *otlpSink) addLogs(r *collogspb.ExportLogsServiceRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, r.GetResourceLogs()...)
}

type grpcTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	sink *otlpSink
}

func (g grpcTraces) Export(_ context.Context, r *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.sink.addTraces(r)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type grpcMetrics struct {
	colmetricpb.UnimplementedMetricsServiceServer
	sink *otlpSink
}

func (g grpcMetrics) Export(_ context.Context, r *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	g.sink.addMetrics(r)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

type grpcLogs struct {
	collogspb.UnimplementedLogsServiceServer
	sink *otlpSink
}

func (g grpcLogs) Export(_ context.Context, r *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	g.sink.addLogs(r)
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// startGRPCReceiver serves OTLP/gRPC on 127.0.0.1 and returns its endpoint.
func startGRPCReceiver(t *testing.T, sink *otlpSink) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcTraces{sink: sink})
	colmetricpb.RegisterMetricsServiceServer(srv, grpcMetrics{sink: sink})
	collogspb.RegisterLogsServiceServer(srv, grpcLogs{sink: sink})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return "http://" + lis.Addr().String()
}

// startHTTPReceiver serves OTLP/HTTP (protobuf) and returns its base URL.
func startHTTPReceiver(t *testing.T, sink *otlpSink) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST", http.StatusUnsupportedMediaType)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var resp proto.Message
		switch r.URL.Path {
		case "/v1/traces":
			req := &coltracepb.ExportTraceServiceRequest{}
			err = proto.Unmarshal(b, req)
			sink.addTraces(req)
			resp = &coltracepb.ExportTraceServiceResponse{}
		case "/v1/metrics":
			req := &colmetricpb.ExportMetricsServiceRequest{}
			err = proto.Unmarshal(b, req)
			sink.addMetrics(req)
			resp = &colmetricpb.ExportMetricsServiceResponse{}
		case "/v1/logs":
			req := &collogspb.ExportLogsServiceRequest{}
			err = proto.Unmarshal(b, req)
			sink.addLogs(req)
			resp = &collogspb.ExportLogsServiceResponse{}
		default:
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, _ := proto.Marshal(resp)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func kvMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetArrayValue() != nil:
			var b bytes.Buffer
			for i, e := range v.GetArrayValue().GetValues() {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(e.GetStringValue())
			}
			m[kv.GetKey()] = b.String()
		default:
			switch x := v.GetValue().(type) {
			case *commonpb.AnyValue_StringValue:
				m[kv.GetKey()] = x.StringValue
			case *commonpb.AnyValue_IntValue:
				m[kv.GetKey()] = strconv.FormatInt(x.IntValue, 10)
			case *commonpb.AnyValue_BoolValue:
				m[kv.GetKey()] = strconv.FormatBool(x.BoolValue)
			case *commonpb.AnyValue_DoubleValue:
				m[kv.GetKey()] = strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
			}
		}
	}
	return m
}

func TestOTLPExport(t *testing.T) {
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		t.Run(proto, func(t *testing.T) {
			sink := &otlpSink{}
			var endpoint string
			if proto == ProtocolGRPC {
				endpoint = startGRPCReceiver(t, sink)
			} else {
				endpoint = startHTTPReceiver(t, sink)
			}
			// The endpoint comes from the file, the protocol from the environment.
			f := loadFile(t, "telemetry: {endpoint: '"+endpoint+"', export_logs: true}\n")
			cfg, err := NewConfig(f, []string{"OTEL_EXPORTER_OTLP_PROTOCOL=" + proto, "OTEL_SERVICE_NAME=gw-under-test"})
			if err != nil {
				t.Fatal(err)
			}
			tel, err := Setup(context.Background(), cfg, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}

			primary := newUpstream(t, status(429))
			fallback := newUpstream(t, answer)
			rt := router.New([]*router.Target{
				newTarget(t, tel, "openai-primary", "openai", 1, primary.URL, 0),
				newTarget(t, tel, "anthropic-fallback", "openai", 2, fallback.URL, 0),
			}, settings(), tel.Observer())
			logger := slog.New(tel.LogHandler(slogText(io.Discard)))
			mux := http.NewServeMux()
			inner := gateway(nil, rt)
			mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				logger.InfoContext(r.Context(), "chat request", "component", "gateway")
				inner.ServeHTTP(w, r)
			})
			srv := httptest.NewServer(tel.Middleware(mux))
			resp, _ := post(t, srv, chatBody)
			srv.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if err := tel.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown (flush): %v", err)
			}

			sink.mu.Lock()
			defer sink.mu.Unlock()
			spans := map[string]*tracepb.Span{}
			var service string
			for _, rs := range sink.spans {
				service = kvMap(rs.GetResource().GetAttributes())["service.name"]
				for _, ss := range rs.GetScopeSpans() {
					for _, s := range ss.GetSpans() {
						spans[s.GetName()] = s
					}
				}
			}
			if service != "gw-under-test" {
				t.Errorf("service.name %q", service)
			}
			server, ok := spans["POST /v1/chat/completions"]
			if !ok {
				t.Fatalf("no server span; got %d resource spans: %v", len(sink.spans), keys(spans))
			}
			first, second, fo := spans["chat gpt-4o-mini"], spans["chat claude-sonnet-4-20250514"], spans[SpanFailover]
			if first == nil || second == nil || fo == nil {
				t.Fatalf("spans %v", keys(spans))
			}
			for _, s := range []*tracepb.Span{first, second, fo} {
				if !bytes.Equal(s.GetParentSpanId(), server.GetSpanId()) {
					t.Errorf("%s is not a child of the server span", s.GetName())
				}
			}
			if first.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || first.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("attempt 1 kind %v status %v", first.GetKind(), first.GetStatus())
			}
			a := kvMap(first.GetAttributes())
			for k, v := range map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini", "error.type": "rate_limited", "keeptrusts.failure.reason": "rate_limited", "keeptrusts.target.id": "openai-primary"} {
				if a[k] != v {
					t.Errorf("attempt 1 %s = %q, want %q", k, a[k], v)
				}
			}
			b := kvMap(second.GetAttributes())
			for k, v := range map[string]string{"gen_ai.response.model": "claude-sonnet-4-20250514", "gen_ai.response.finish_reasons": "stop", "keeptrusts.target.id": "anthropic-fallback"} {
				if b[k] != v {
					t.Errorf("attempt 2 %s = %q, want %q", k, b[k], v)
				}
			}
			if kvMap(fo.GetAttributes())["keeptrusts.failover.reason"] != "rate_limited" {
				t.Errorf("failover attributes %v", kvMap(fo.GetAttributes()))
			}

			metrics := map[string]bool{}
			for _, rm := range sink.metrics {
				for _, sm := range rm.GetScopeMetrics() {
					for _, m := range sm.GetMetrics() {
						metrics[m.GetName()] = true
					}
				}
			}
			for _, name := range []string{MetricClientOperationDuration, MetricClientTokenUsage, MetricAttempts, MetricFailovers} {
				if !metrics[name] {
					t.Errorf("metric %s not exported; got %v", name, metrics)
				}
			}

			var logged *logspb.LogRecord
			for _, rl := range sink.logs {
				for _, sl := range rl.GetScopeLogs() {
					for _, lr := range sl.GetLogRecords() {
						if lr.GetBody().GetStringValue() == "chat request" {
							logged = lr
						}
					}
				}
			}
			if logged == nil {
				t.Fatal("log record not exported")
			}
			if hex.EncodeToString(logged.GetTraceId()) != hex.EncodeToString(server.GetTraceId()) {
				t.Errorf("log trace id %x, want %x", logged.GetTraceId(), server.GetTraceId())
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
