package deploytest

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// componentModules maps the collector component types otel-collector.yaml
// may use to the Go module that provides each (the builder manifest's
// gomod entries). v0.165 names: otlp_grpc (was otlp), health_check.
var componentModules = map[string]string{
	"receivers/otlp":                  "go.opentelemetry.io/collector/receiver/otlpreceiver",
	"processors/memory_limiter":       "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
	"processors/batch":                "go.opentelemetry.io/collector/processor/batchprocessor",
	"exporters/otlp_grpc":             "go.opentelemetry.io/collector/exporter/otlpexporter",
	"exporters/debug":                 "go.opentelemetry.io/collector/exporter/debugexporter",
	"exporters/prometheus":            "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter",
	"extensions/health_check":         "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
	"connectors/span_metrics":         "github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector",
	"receivers/prometheus":            "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver",
	"exporters/otlp_http":             "go.opentelemetry.io/collector/exporter/otlphttpexporter",
	"extensions/healthcheckv2":        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckv2extension",
	"exporters/prometheusremotewrite": "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter",
}

type collectorConfig struct {
	Receivers  map[string]any `json:"receivers"`
	Processors map[string]any `json:"processors"`
	Exporters  map[string]any `json:"exporters"`
	Extensions map[string]any `json:"extensions"`
	Connectors map[string]any `json:"connectors"`
	Service    struct {
		Extensions []string                       `json:"extensions"`
		Telemetry  map[string]any                 `json:"telemetry"`
		Pipelines  map[string]map[string][]string `json:"pipelines"`
	} `json:"service"`
}

// TestCollectorConfig checks otel-collector.yaml against itself and the
// builder manifest: every component a pipeline names is configured, every
// configured one is used, the pipelines are the ones the stack needs, every
// address is an ${env:VAR:-default} with a default, and the builder manifest
// lists exactly the modules of the component types used. (`make e2e` also
// runs the built collector's `validate`.)
func TestCollectorConfig(t *testing.T) {
	raw := readFile(t, "otel-collector.yaml")
	var cfg collectorConfig
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("otel-collector.yaml: %v", err)
	}
	declared := map[string]map[string]any{"receivers": cfg.Receivers, "processors": cfg.Processors,
		"exporters": cfg.Exporters, "extensions": cfg.Extensions, "connectors": cfg.Connectors}
	used := map[string]bool{}
	for _, e := range cfg.Service.Extensions {
		used["extensions/"+e] = true
	}
	for name, p := range cfg.Service.Pipelines {
		for kind, ids := range p {
			if len(ids) == 0 {
				t.Errorf("pipeline %s: empty %s", name, kind)
			}
			for _, id := range ids {
				used[kind+"/"+id] = true
			}
		}
	}
	types := map[string]bool{}
	for kind, comps := range declared {
		for id := range comps {
			if !used[kind+"/"+id] {
				t.Errorf("%s %s is configured but not used", kind, id)
			}
			types[kind+"/"+strings.Split(id, "/")[0]] = true
		}
	}
	for u := range used {
		kind, id, _ := strings.Cut(u, "/")
		if _, ok := declared[kind][id]; !ok {
			t.Errorf("%s is used but not configured", u)
		}
	}
	for _, want := range []string{"traces", "metrics", "logs"} {
		p, ok := cfg.Service.Pipelines[want]
		if !ok {
			t.Errorf("no %s pipeline", want)
			continue
		}
		if len(p["processors"]) == 0 || p["processors"][0] != "memory_limiter" || !slices.Contains(p["processors"], "batch") {
			t.Errorf("%s pipeline processors %v: want memory_limiter first, then batch", want, p["processors"])
		}
	}
	if got := cfg.Service.Pipelines["traces"]["exporters"]; !slices.Equal(got, []string{"otlp_grpc/jaeger"}) {
		t.Errorf("traces go to %v, want Jaeger over OTLP", got)
	}
	if got := cfg.Service.Pipelines["metrics"]["exporters"]; !slices.Equal(got, []string{"prometheus"}) {
		t.Errorf("metrics go to %v, want the prometheus exporter", got)
	}
	t.Run("endpoints by environment", func(t *testing.T) {
		refs := regexp.MustCompile(`\$\{([^}]*)\}`).FindAllStringSubmatch(string(raw), -1)
		if len(refs) < 6 {
			t.Fatalf("only %d substitutions", len(refs))
		}
		for _, r := range refs {
			if !regexp.MustCompile(`^env:[A-Z0-9_]+:-\S+$`).MatchString(r[1]) {
				t.Errorf("${%s}: want ${env:VAR:-default}", r[1])
			}
		}
	})
	t.Run("builder manifest", func(t *testing.T) {
		var manifest map[string]any
		if err := yaml.Unmarshal(readFile(t, "deploy", "otelcol", "builder-config.yaml"), &manifest); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, kind := range []string{"receivers", "processors", "exporters", "extensions", "connectors"} {
			list, _ := manifest[kind].([]any)
			for _, m := range list {
				gomod, _ := m.(map[string]any)["gomod"].(string)
				mod, version, _ := strings.Cut(gomod, " ")
				if version != "v0.165.0" {
					t.Errorf("%s: version %q, want v0.165.0 (the builder's)", mod, version)
				}
				got = append(got, mod)
			}
		}
		var want []string
		for typ := range types {
			mod, ok := componentModules[typ]
			if !ok {
				t.Errorf("component %s: no known module; add it to componentModules and the builder manifest", typ)
			}
			want = append(want, mod)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("builder manifest modules\n %v\nwant (the components otel-collector.yaml uses)\n %v", got, want)
		}
	})
}
