package deploytest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestRuleFiles parses every rule file with Prometheus' rule parser and
// checks what the runbooks and the SLO recipe need.
func TestRuleFiles(t *testing.T) {
	known := knownMetrics(t)
	runbooks := string(readFile(t, "deploy", "prometheus", "runbooks.md"))
	alerts := map[string]bool{}
	for file, groups := range ruleFiles(t) {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				name := r.Record + r.Alert
				if err := checkQuery(known, r.Expr); err != nil && !strings.HasPrefix(r.Expr, "vector(") && !strings.HasPrefix(r.Expr, "label_replace(vector(") {
					t.Errorf("%s: %s: %v", file, name, err)
				}
				if r.Alert == "" {
					if !strings.HasPrefix(r.Record, "keeptrusts:") {
						t.Errorf("%s: recording rule %s lacks the keeptrusts: prefix", file, r.Record)
					}
					continue
				}
				alerts[r.Alert] = true
				if !slices.Contains([]string{"page", "ticket", "warning"}, r.Labels["severity"]) {
					t.Errorf("%s: %s: severity %q", file, r.Alert, r.Labels["severity"])
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("%s: %s: no %s annotation", file, r.Alert, a)
					}
				}
				anchor := strings.ToLower(r.Alert)
				if !strings.HasSuffix(r.Annotations["runbook_url"], "deploy/prometheus/runbooks.md#"+anchor) {
					t.Errorf("%s: %s: runbook_url %q does not point at its runbook", file, r.Alert, r.Annotations["runbook_url"])
				}
				if !strings.Contains(runbooks, "\n### "+anchor+"\n") {
					t.Errorf("runbooks.md has no section %q", anchor)
				}
			}
		}
	}
	for _, a := range []string{"KeeptrustsProviderUnhealthy", "KeeptrustsCircuitOpen", "KeeptrustsFailoverRateHigh", "KeeptrustsAllProvidersDown", "KeeptrustsModelUnavailable"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
}

// TestBurnRateAlerts checks the multi-window, multi-burn-rate alerts against
// the SRE workbook's table: factor, long window, short window, severity.
func TestBurnRateAlerts(t *testing.T) {
	want := []struct {
		suffix, severity, factor, long, short string
	}{
		{"Fast", "page", "14.4", "1h", "5m"},
		{"Slow", "page", "6", "6h", "30m"},
		{"Ticket", "ticket", "1", "3d", "6h"},
	}
	rules := map[string]map[string]string{} // alert → expr, labels
	for _, groups := range ruleFiles(t) {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					rules[r.Alert] = map[string]string{"expr": r.Expr, "severity": r.Labels["severity"],
						"long": r.Labels["long_window"], "short": r.Labels["short_window"]}
				}
			}
		}
	}
	for _, slo := range []string{"availability", "latency"} {
		for _, w := range want {
			name := "Keeptrusts" + strings.ToUpper(slo[:1]) + slo[1:] + "BurnRate" + w.suffix
			t.Run(name, func(t *testing.T) {
				r, ok := rules[name]
				if !ok {
					t.Fatal("missing")
				}
				expr := strings.Join(strings.Fields(r["expr"]), " ")
				for _, win := range []string{w.long, w.short} {
					term := fmt.Sprintf("keeptrusts:slo_%s_errors:ratio_rate%s >", slo, win)
					if !strings.Contains(expr, term) {
						t.Errorf("expr lacks %q: %s", term, expr)
					}
				}
				threshold := fmt.Sprintf("(%s * (1 - keeptrusts:slo_%s:objective))", w.factor, slo)
				if strings.Count(expr, threshold) != 2 || !strings.Contains(expr, " and ") {
					t.Errorf("expr does not compare both windows with %s: %s", threshold, expr)
				}
				if r["severity"] != w.severity || r["long"] != w.long || r["short"] != w.short {
					t.Errorf("labels severity=%s long=%s short=%s, want %s %s %s", r["severity"], r["long"], r["short"], w.severity, w.long, w.short)
				}
			})
		}
	}
}

// TestRuleUnitTests checks that every rule file is exercised by a promtool
// unit test file (`make e2e` runs them with promtool test rules).
func TestRuleUnitTests(t *testing.T) {
	covered := map[string]bool{}
	for _, f := range glob(t, "deploy", "prometheus", "tests", "*.test.yml") {
		var tf struct {
			RuleFiles []string `json:"rule_files"`
			Tests     []any    `json:"tests"`
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tf.Tests) == 0 {
			t.Errorf("%s has no tests", f)
		}
		for _, rf := range tf.RuleFiles {
			covered[filepath.Base(rf)] = true
		}
	}
	for file := range ruleFiles(t) {
		if !covered[file] {
			t.Errorf("rule file %s has no promtool unit test", file)
		}
	}
}

// TestPrometheusConfig checks the scrape configuration's references: the
// rule files glob and the file_sd target files, which must be valid JSON
// target groups.
func TestPrometheusConfig(t *testing.T) {
	var cfg struct {
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			FileSDConfigs []struct {
				Files []string `json:"files"`
			} `json:"file_sd_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy", "prometheus", "prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.RuleFiles, []string{"rules/*.yml"}) {
		t.Errorf("rule_files = %v", cfg.RuleFiles)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
		for _, sd := range sc.FileSDConfigs {
			for _, f := range sd.Files {
				var groups []struct {
					Targets []string          `json:"targets"`
					Labels  map[string]string `json:"labels"`
				}
				if err := json.Unmarshal(readFile(t, "deploy", "prometheus", f), &groups); err != nil {
					t.Errorf("%s: %s: %v", sc.JobName, f, err)
				}
			}
		}
	}
	if !jobs["otel-collector-exporter"] {
		t.Error("no scrape job for the collector's prometheus exporter")
	}
	// The compose targets name the collector's exporter port of otel-collector.yaml.
	exporter := string(readFile(t, "deploy", "prometheus", "targets", "collector-exporter.json"))
	port := regexp.MustCompile(`OTELCOL_PROMETHEUS_ENDPOINT:-0\.0\.0\.0:(\d+)`).FindStringSubmatch(string(readFile(t, "otel-collector.yaml")))
	if port == nil || !strings.Contains(exporter, "otel-collector:"+port[1]) {
		t.Errorf("targets/collector-exporter.json %s does not name the exporter port %v", exporter, port)
	}
}
