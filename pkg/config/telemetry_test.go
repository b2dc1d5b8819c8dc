package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestTelemetryDefaults(t *testing.T) {
	f, ps := loadYAML(t, twoTargets, nil)
	requireNoProblems(t, ps)
	tm := f.Telemetry
	if !tm.IsEnabled() || tm.ServiceName != DefaultServiceName || tm.Endpoint != "" || tm.Protocol != DefaultOTLPProtocol ||
		tm.SampleRatio != DefaultSampleRatio || tm.MetricIntervalSeconds != DefaultMetricIntervalSeconds ||
		tm.ExportLogs || tm.TraceProbes || tm.Prometheus.Enabled {
		t.Errorf("telemetry defaults = %+v", tm)
	}
}

func TestTelemetrySettings(t *testing.T) {
	yaml := twoTargets + `telemetry:
  service_name: edge-gw
  endpoint: http://otel-collector:4317/
  protocol: GRPC
  sample_ratio: 0
  metric_interval_seconds: 10
  export_logs: true
  trace_probes: true
  prometheus: {enabled: true}
`
	f, ps := loadYAML(t, yaml, nil)
	requireNoProblems(t, ps)
	tm := f.Telemetry
	if tm.ServiceName != "edge-gw" || tm.Endpoint != "http://otel-collector:4317" || tm.Protocol != "grpc" ||
		tm.SampleRatio != 0 || tm.MetricIntervalSeconds != 10 || !tm.ExportLogs || !tm.TraceProbes || !tm.Prometheus.Enabled {
		t.Errorf("telemetry = %+v", tm)
	}
	var out bytes.Buffer
	if !Lint(&out, "x.yaml", f, ps) {
		t.Fatalf("lint not ok:\n%s", out.String())
	}
	want := "  telemetry: endpoint=http://otel-collector:4317 protocol=grpc service=edge-gw sample_ratio=0 export_logs=on prometheus=on trace_probes=on\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("lint summary lacks %q:\n%s", want, out.String())
	}
}

func TestTelemetryDisabledSummary(t *testing.T) {
	f, ps := loadYAML(t, twoTargets+"telemetry: {enabled: false}\n", nil)
	requireNoProblems(t, ps)
	var out bytes.Buffer
	Lint(&out, "x.yaml", f, ps)
	if !strings.Contains(out.String(), "  telemetry: disabled\n") {
		t.Errorf("lint output:\n%s", out.String())
	}
}

func TestTelemetryEnvOverride(t *testing.T) {
	f, ps := loadYAML(t, twoTargets, []string{"KT_TELEMETRY__ENDPOINT=https://collector.example:4318"})
	requireNoProblems(t, ps)
	if f.Telemetry.Endpoint != "https://collector.example:4318" {
		t.Errorf("endpoint = %q", f.Telemetry.Endpoint)
	}
}

func TestTelemetryValidation(t *testing.T) {
	tests := []struct {
		name, yaml, sev, path, message string
	}{
		{"unknown protocol", "telemetry: {protocol: http/json}\n", "error", "telemetry.protocol", `unknown protocol "http/json" (want http/protobuf or grpc)`},
		{"bare http protocol", "telemetry: {protocol: http}\n", "error", "telemetry.protocol", `unknown protocol "http"`},
		{"endpoint without scheme", "telemetry: {endpoint: 'otel-collector:4317'}\n", "error", "telemetry.endpoint", "must start with http:// or https://"},
		{"endpoint with credentials", "telemetry: {endpoint: 'http://user:s3cret@collector:4318'}\n", "error", "telemetry.endpoint", "must not contain credentials"},
		{"endpoint with query", "telemetry: {endpoint: 'http://collector:4318?x=1'}\n", "error", "telemetry.endpoint", "query string"},
		{"ratio above 1", "telemetry: {sample_ratio: 1.5}\n", "error", "telemetry.sample_ratio", "between 0 and 1 (got 1.5)"},
		{"negative ratio", "telemetry: {sample_ratio: -0.1}\n", "error", "telemetry.sample_ratio", "between 0 and 1"},
		{"zero interval", "telemetry: {metric_interval_seconds: 0}\n", "error", "telemetry.metric_interval_seconds", "greater than 0"},
		{"logs without endpoint", "telemetry: {export_logs: true}\n", "warning", "telemetry.export_logs", "endpoint is empty"},
		{"misspelt key", "telemetry: {endpiont: 'http://c:4318'}\n", "error", "telemetry.endpiont", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadYAML(t, twoTargets+tt.yaml, nil)
			sev := Error
			if tt.sev == "warning" {
				sev = Warning
			}
			p, ok := findProblem(ps, sev, tt.path, tt.message)
			if !ok {
				t.Fatalf("missing %s at %s containing %q; got:\n%s", tt.sev, tt.path, tt.message, joinProblems(ps))
			}
			if strings.Contains(p.Message, "s3cret") {
				t.Errorf("message repeats a credential: %s", p)
			}
		})
	}
}
