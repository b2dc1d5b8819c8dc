package telemetry

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/router"
)

// loadFile loads a config file body (targets added) with defaults applied.
func loadFile(t *testing.T, telemetryYAML string) *config.File {
	t.Helper()
	yaml := "providers:\n  targets:\n    - {id: openai-primary, provider: openai, forward_client_auth: true}\n    - {id: local, provider: openai_compatible, base_url: 'http://10.0.0.5:8000/v1'}\n" + telemetryYAML
	f, ps, err := config.Load(config.LoadOptions{File: "t.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	if errs := ps.Errors(); len(errs) > 0 {
		t.Fatalf("config problems: %v", errs)
	}
	return f
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		want    func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name: "nothing configured exports nothing",
			want: func(t *testing.T, c Config) {
				if c.Disabled || len(c.Traces.Exporters)+len(c.Metrics.Exporters)+len(c.Logs.Exporters) != 0 || c.Prometheus {
					t.Errorf("config %+v", c)
				}
				if c.ServiceName != "keeptrusts-gateway" || c.MetricInterval != time.Minute {
					t.Errorf("service %q interval %v", c.ServiceName, c.MetricInterval)
				}
				if c.Targets["local"] != "http://10.0.0.5:8000/v1" || c.Targets["openai-primary"] != "https://api.openai.com/v1" {
					t.Errorf("targets %v", c.Targets)
				}
				if d := c.Sampler.Description(); !strings.HasPrefix(d, "ParentBased{root:AlwaysOnSampler") {
					t.Errorf("sampler %s", d)
				}
			},
		},
		{
			name: "file endpoint exports traces and metrics over http/protobuf",
			yaml: "telemetry: {endpoint: 'http://otel-collector:4318', sample_ratio: 0.25, metric_interval_seconds: 5}\n",
			want: func(t *testing.T, c Config) {
				wantExport(t, "traces", c.Traces, Export{Exporters: []string{"otlp"}, Protocol: "http/protobuf", Endpoint: "http://otel-collector:4318/v1/traces"})
				wantExport(t, "metrics", c.Metrics, Export{Exporters: []string{"otlp"}, Protocol: "http/protobuf", Endpoint: "http://otel-collector:4318/v1/metrics"})
				wantExport(t, "logs", c.Logs, Export{})
				if d := c.Sampler.Description(); !strings.Contains(d, "TraceIDRatioBased{0.25}") {
					t.Errorf("sampler %s", d)
				}
				if c.MetricInterval != 5*time.Second {
					t.Errorf("interval %v", c.MetricInterval)
				}
			},
		},
		{
			name: "file grpc endpoint and logs",
			yaml: "telemetry: {endpoint: 'https://collector.example:4317', protocol: grpc, export_logs: true}\n",
			want: func(t *testing.T, c Config) {
				want := Export{Exporters: []string{"otlp"}, Protocol: "grpc", Endpoint: "https://collector.example:4317"}
				wantExport(t, "traces", c.Traces, want)
				wantExport(t, "logs", c.Logs, want)
			},
		},
		{
			name: "environment wins over the file",
			yaml: "telemetry: {endpoint: 'http://file:4318', service_name: from-file, sample_ratio: 0.5}\n",
			env: []string{
				"OTEL_EXPORTER_OTLP_ENDPOINT=http://env:4317", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
				"OTEL_SERVICE_NAME=from-env", "OTEL_TRACES_SAMPLER=always_off", "OTEL_METRIC_EXPORT_INTERVAL=1500",
			},
			want: func(t *testing.T, c Config) {
				wantExport(t, "traces", c.Traces, Export{Exporters: []string{"otlp"}, Protocol: "grpc", Endpoint: "http://env:4317"})
				if c.ServiceName != "from-env" || c.Sampler.Description() != "AlwaysOffSampler" || c.MetricInterval != 1500*time.Millisecond {
					t.Errorf("service %q sampler %s interval %v", c.ServiceName, c.Sampler.Description(), c.MetricInterval)
				}
			},
		},
		{
			name: "signal endpoints, exporters and protocols",
			env: []string{
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector:4318/custom/traces", "OTEL_EXPORTER_OTLP_INSECURE=true",
				"OTEL_METRICS_EXPORTER=console,prometheus", "OTEL_LOGS_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=grpc",
			},
			want: func(t *testing.T, c Config) {
				wantExport(t, "traces", c.Traces, Export{Exporters: []string{"otlp"}, Protocol: "http/protobuf", Endpoint: "http://collector:4318/custom/traces"})
				wantExport(t, "metrics", c.Metrics, Export{Exporters: []string{"console"}})
				wantExport(t, "logs", c.Logs, Export{Exporters: []string{"otlp"}, Protocol: "grpc", Endpoint: "http://localhost:4317"})
				if !c.Prometheus {
					t.Error("OTEL_METRICS_EXPORTER=prometheus did not enable /metrics")
				}
			},
		},
		{
			name: "none turns a signal off despite an endpoint",
			yaml: "telemetry: {endpoint: 'http://c:4318'}\n",
			env:  []string{"OTEL_TRACES_EXPORTER=none"},
			want: func(t *testing.T, c Config) {
				wantExport(t, "traces", c.Traces, Export{})
				wantExport(t, "metrics", c.Metrics, Export{Exporters: []string{"otlp"}, Protocol: "http/protobuf", Endpoint: "http://c:4318/v1/metrics"})
			},
		},
		{
			name: "resource attributes",
			env:  []string{"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=prod,service.name=from-attrs,team=a%2Cb"},
			want: func(t *testing.T, c Config) {
				if c.ServiceName != "from-attrs" {
					t.Errorf("service %q", c.ServiceName)
				}
				want := []attribute.KeyValue{attribute.String("deployment.environment.name", "prod"), attribute.String("team", "a,b")}
				if !reflect.DeepEqual(c.ResourceAttributes, want) {
					t.Errorf("attributes %v", c.ResourceAttributes)
				}
			},
		},
		{
			name: "parentbased ratio sampler from the environment",
			env:  []string{"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1"},
			want: func(t *testing.T, c Config) {
				if d := c.Sampler.Description(); !strings.Contains(d, "ParentBased{root:TraceIDRatioBased{0.1}") {
					t.Errorf("sampler %s", d)
				}
			},
		},
		{
			name: "OTEL_SDK_DISABLED",
			yaml: "telemetry: {endpoint: 'http://c:4318'}\n",
			env:  []string{"OTEL_SDK_DISABLED=TRUE"},
			want: func(t *testing.T, c Config) {
				if !c.Disabled {
					t.Error("not disabled")
				}
			},
		},
		{
			name: "telemetry.enabled false",
			yaml: "telemetry: {enabled: false}\n",
			want: func(t *testing.T, c Config) {
				if !c.Disabled {
					t.Error("not disabled")
				}
			},
		},
		{name: "unknown exporter", env: []string{"OTEL_TRACES_EXPORTER=zipkin"}, wantErr: `OTEL_TRACES_EXPORTER: unknown exporter "zipkin"`},
		{name: "prometheus is for metrics", env: []string{"OTEL_LOGS_EXPORTER=prometheus"}, wantErr: "OTEL_LOGS_EXPORTER"},
		{name: "unknown protocol", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, wantErr: `unknown protocol "http/json"`},
		{name: "unknown sampler", env: []string{"OTEL_TRACES_SAMPLER=jaeger_remote"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "bad sampler arg", env: []string{"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=2"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "bad interval", env: []string{"OTEL_METRIC_EXPORT_INTERVAL=soon"}, wantErr: "OTEL_METRIC_EXPORT_INTERVAL"},
		{
			name: "span queue and batch sizes",
			env:  []string{"OTEL_BSP_MAX_QUEUE_SIZE=8192", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE= 1024 "},
			want: func(t *testing.T, c Config) {
				if c.SpanQueueSize != 8192 || c.SpanBatchSize != 1024 {
					t.Errorf("queue %d batch %d", c.SpanQueueSize, c.SpanBatchSize)
				}
			},
		},
		{name: "bad span queue size", env: []string{"OTEL_BSP_MAX_QUEUE_SIZE=0"}, wantErr: "OTEL_BSP_MAX_QUEUE_SIZE"},
		{name: "bad span batch size", env: []string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE=lots"}, wantErr: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"},
		{name: "bad exemplar filter", env: []string{"OTEL_METRICS_EXEMPLAR_FILTER=sometimes"}, wantErr: "OTEL_METRICS_EXEMPLAR_FILTER"},
		{name: "bad resource attributes", env: []string{"OTEL_RESOURCE_ATTRIBUTES=novalue"}, wantErr: "OTEL_RESOURCE_ATTRIBUTES"},
		{
			name:    "endpoint with credentials is not repeated",
			env:     []string{"OTEL_EXPORTER_OTLP_ENDPOINT=ftp://user:s3cret@c:4318"},
			wantErr: "not an http:// or https:// URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewConfig(loadFile(t, tt.yaml), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error repeats a credential: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want(t, c)
		})
	}
}

func wantExport(t *testing.T, what string, got, want Export) {
	t.Helper()
	if !reflect.DeepEqual(got, want) && !(len(got.Exporters) == 0 && len(want.Exporters) == 0 && got.Endpoint == want.Endpoint) {
		t.Errorf("%s export = %+v, want %+v", what, got, want)
	}
}

// exerciseAll drives every entry point once and returns how many spans the
// recorder saw.
func exerciseAll(t *testing.T, tel *Telemetry, rec *tracetest.SpanRecorder) int {
	t.Helper()
	up := newUpstream(t, status(500))
	fb := newUpstream(t, answer)
	rt := router.New([]*router.Target{
		newTarget(t, tel, "a", "openai", 1, up.URL, 0),
		newTarget(t, tel, "b", "openai", 2, fb.URL, 0),
	}, settings(), tel.Observer())
	srv := httptest.NewServer(gateway(tel, rt))
	defer srv.Close()
	resp, _ := post(t, srv, chatBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Traceparent") != "" || resp.Header.Get(HeaderTraceID) != "" {
		t.Errorf("trace headers without tracing: %v", resp.Header)
	}
	if got := up.seen(); len(got) != 1 || got[0] != "" {
		t.Errorf("upstream traceparent %q without tracing", got)
	}
	_ = tel.WrapProbe("a", "openai", func(context.Context) error { return nil })(context.Background())
	if err := tel.ObserveTargets(TargetStates(rt.Targets())); err != nil {
		t.Fatal(err)
	}
	tel.RecordRequest(context.Background(), Request{Status: 200, Duration: time.Second})
	_, span := tel.Tracer().Start(context.Background(), "policy")
	span.End()
	return len(rec.Ended())
}

func TestDisabled(t *testing.T) {
	f := loadFile(t, "telemetry: {endpoint: 'http://127.0.0.1:1', export_logs: true, trace_probes: true, prometheus: {enabled: true}}\n")
	c, err := NewConfig(f, []string{"OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=console"})
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	c.SpanProcessors = []sdktrace.SpanProcessor{rec}
	c.MetricReaders = []sdkmetric.Reader{reader}
	tel, err := Setup(context.Background(), c, "v")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	if n := exerciseAll(t, tel, rec); n != 0 {
		t.Errorf("%d spans recorded while disabled", n)
	}
	if tel.PrometheusHandler() != nil || tel.tracing || tel.metering || tel.lp != nil {
		t.Errorf("disabled telemetry built something: prom %v tracing %v metering %v logs %v", tel.PrometheusHandler() != nil, tel.tracing, tel.metering, tel.lp != nil)
	}
	if _, ok := tel.Observer().(nopObserver); !ok {
		t.Errorf("observer %T, want the no-op", tel.Observer())
	}
	var buf bytes.Buffer
	h := tel.LogHandler(slogText(&buf))
	if h.(*logHandler).bridge != nil {
		t.Error("log bridge while disabled")
	}
}

func TestNothingConfigured(t *testing.T) {
	c, err := NewConfig(loadFile(t, ""), []string{"PATH=/usr/bin"})
	if err != nil {
		t.Fatal(err)
	}
	tel, err := Setup(context.Background(), c, "v")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	if tel.tracing || tel.metering || tel.lp != nil || tel.prom != nil {
		t.Fatalf("providers built with nothing configured: tracing %v metering %v logs %v prom %v", tel.tracing, tel.metering, tel.lp != nil, tel.prom != nil)
	}
	if _, ok := tel.Observer().(nopObserver); !ok {
		t.Errorf("observer %T, want the no-op", tel.Observer())
	}
	mux := http.NewServeMux()
	if got := tel.Middleware(mux); got != http.Handler(mux) {
		t.Error("Middleware wrapped the handler with telemetry off")
	}
	tr := &http.Transport{}
	if got := tel.Transport(tr); got != http.RoundTripper(tr) {
		t.Error("Transport wrapped the transport with telemetry off")
	}
	exerciseAll(t, tel, tracetest.NewSpanRecorder())
}

func TestNilTelemetry(t *testing.T) {
	var tel *Telemetry
	exerciseAll(t, tel, tracetest.NewSpanRecorder())
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tel.PrometheusHandler() != nil {
		t.Error("nil telemetry has a Prometheus handler")
	}
}

func TestPrometheusOnly(t *testing.T) {
	c, err := NewConfig(loadFile(t, "telemetry: {prometheus: {enabled: true}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tel, err := Setup(context.Background(), c, "v")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	if tel.tracing || !tel.metering {
		t.Fatalf("tracing %v metering %v, want metrics only", tel.tracing, tel.metering)
	}
	exerciseAll(t, tel, tracetest.NewSpanRecorder())
	rec := httptest.NewRecorder()
	tel.PrometheusHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`gen_ai_client_operation_duration_seconds_bucket{`,
		`keeptrusts_target_id="a"`,
		`error_type="upstream_error"`,
		`keeptrusts_failovers_total{`,
		`from="a"`,
		`keeptrusts_attempts_total{`,
		`keeptrusts_provider_health{`,
		`keeptrusts_circuit_state{`,
		`keeptrusts_probe_duration_seconds_count{`,
		`keeptrusts_requests_total{`,
		`http_server_request_duration_seconds_bucket{`,
		`target_info{`,
		`service_name="keeptrusts-gateway"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func TestConsoleExporter(t *testing.T) {
	c, err := NewConfig(loadFile(t, ""), []string{"OTEL_TRACES_EXPORTER=console"})
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	c.Console = &buf
	tel, err := Setup(context.Background(), c, "v")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer().Start(context.Background(), "console-span")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Name":"console-span"`) {
		t.Errorf("console output lacks the span:\n%s", buf.String())
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestResource(t *testing.T) {
	c := Config{
		ServiceName:        "svc",
		ResourceAttributes: []attribute.KeyValue{attribute.String("deployment.environment.name", "prod"), attribute.String("host.name", "override")},
	}
	res, err := newResource(context.Background(), c, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	got := attrs(res.Attributes())
	for k, v := range map[string]any{"service.name": "svc", "service.version": "1.2.3", "deployment.environment.name": "prod", "host.name": "override", "telemetry.sdk.language": "go"} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"service.instance.id", "process.pid", "process.runtime.version"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	for _, k := range []string{"process.command_args", "process.command_line"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s present: the command line may hold secrets", k)
		}
	}
}

func TestServerAttrs(t *testing.T) {
	tests := []struct {
		url  string
		want map[string]any
	}{
		{"https://api.openai.com/v1", map[string]any{"server.address": "api.openai.com", "server.port": 443}},
		{"http://10.0.0.5:8000/v1", map[string]any{"server.address": "10.0.0.5", "server.port": 8000}},
		{"http://[::1]:9/", map[string]any{"server.address": "::1", "server.port": 9}},
		{"not a url", map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got := serverAttrs(tt.url)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			wantAttrs(t, tt.url, got, tt.want)
		})
	}
}

func FuzzParseResourceAttributes(f *testing.F) {
	for _, s := range []string{"", "a=b", "a=b,c=d", "k=%20v", "k=%zz", "=v", "novalue", " a = b , ,c=d", "service.name=x,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		attrs, err := parseResourceAttributes(s)
		if err != nil {
			return
		}
		for _, kv := range attrs {
			if kv.Key == "" || strings.TrimSpace(string(kv.Key)) != string(kv.Key) {
				t.Fatalf("bad key %q from %q", kv.Key, s)
			}
		}
		if n := strings.Count(s, "="); len(attrs) > n {
			t.Fatalf("%d attributes from %d '=' in %q", len(attrs), n, s)
		}
	})
}
