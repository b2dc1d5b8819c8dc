package deploytest

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// root is the repository's top directory, relative to this package.
const root = "../.."

// repoPath joins elements onto the repository root.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{root}, elem...)...)
}

// readFile reads a repository file or fails the test.
func readFile(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// glob lists repository files matching pattern and wants at least one.
func glob(t *testing.T, pattern ...string) []string {
	t.Helper()
	files, err := filepath.Glob(repoPath(pattern...))
	if err != nil || len(files) == 0 {
		t.Fatalf("glob %s: %v (%d files)", filepath.Join(pattern...), err, len(files))
	}
	return files
}

// newPromQLParser is Prometheus' own PromQL parser with default options.
func newPromQLParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

// grafanaVars stands in for Grafana's built-in variables so a panel query
// parses as the PromQL Grafana sends.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"${__rate_interval}", "1m",
	"$__interval", "1m",
	"${__interval}", "1m",
	"$__range", "1h",
	"${__range}", "1h",
)

// expandGrafanaVars replaces Grafana's built-in variables and fails on any
// other variable (the dashboards define none).
func expandGrafanaVars(t *testing.T, expr string) string {
	t.Helper()
	out := grafanaVars.Replace(expr)
	if strings.Contains(out, "$") {
		t.Errorf("query uses an unknown Grafana variable: %s", expr)
	}
	return out
}

// metricNames returns the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
		return nil
	})
	return names
}

// builtinSeries are series Prometheus itself writes.
var builtinSeries = []string{"ALERTS", "ALERTS_FOR_STATE", "up", "target_info"}

// docMetricNames derives the Prometheus names of every metric in the
// Metrics table of docs/telemetry.md, following the OTLP → Prometheus
// translation the docs describe: '.' → '_', the unit appended (s → _seconds,
// By → _bytes; {annotations} dropped), _total on counters, and _bucket,
// _sum, _count on histograms.
func docMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(repoPath("docs", "telemetry.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	inMetrics := false
	sc := bufio.NewScanner(f)
	name := regexp.MustCompile("`([a-z_.]+)`")
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inMetrics = line == "## Metrics"
			continue
		}
		if !inMetrics || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			continue
		}
		kind := strings.TrimSpace(cells[2])
		units := strings.Split(strings.TrimSpace(cells[3]), "/")
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			otel := m[1]
			unit := strings.TrimSpace(units[0])
			if len(units) > 1 && strings.HasSuffix(otel, ".size") {
				unit = strings.TrimSpace(units[1])
			}
			base := strings.ReplaceAll(otel, ".", "_")
			switch unit {
			case "s":
				base += "_seconds"
			case "By":
				base += "_bytes"
			}
			switch {
			case strings.HasPrefix(kind, "counter"):
				names[base+"_total"] = true
			case strings.HasPrefix(kind, "histogram"):
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[base+s] = true
				}
			case strings.HasPrefix(kind, "gauge"):
				names[base] = true
			default:
				t.Fatalf("docs/telemetry.md: metric %s has unknown type %q", otel, kind)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) < 20 {
		t.Fatalf("docs/telemetry.md: only %d Prometheus names derived; has the Metrics table moved?", len(names))
	}
	return names
}

// ruleFiles parses every file of deploy/prometheus/rules with Prometheus'
// own rule parser (strict: unknown fields are errors; every expression is
// parsed and validated).
func ruleFiles(t *testing.T) map[string]*rulefmt.RuleGroups {
	t.Helper()
	out := map[string]*rulefmt.RuleGroups{}
	for _, f := range glob(t, "deploy", "prometheus", "rules", "*.yml") {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, newPromQLParser(), slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		out[filepath.Base(f)] = groups
	}
	return out
}

// knownMetrics is every name a query may select: the documented metrics,
// the recording rules' outputs and Prometheus' own series.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := docMetricNames(t)
	for _, groups := range ruleFiles(t) {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					known[r.Record] = true
				}
			}
		}
	}
	for _, b := range builtinSeries {
		known[b] = true
	}
	return known
}

// checkQuery parses a PromQL expression and reports names not in known.
func checkQuery(known map[string]bool, expr string) error {
	e, err := newPromQLParser().ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse %q: %w", expr, err)
	}
	names := metricNames(e)
	if len(names) == 0 {
		return fmt.Errorf("%q selects no metric", expr)
	}
	for _, n := range names {
		if !known[n] {
			return fmt.Errorf("%q uses %s, which is neither in docs/telemetry.md nor a recording rule", expr, n)
		}
	}
	return nil
}
