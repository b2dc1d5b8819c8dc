package deploytest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"sigs.k8s.io/yaml"
)

// dashboardQuery is one PromQL target of a dashboard panel.
type dashboardQuery struct {
	Dashboard, Panel, RefID string
	Expr                    string // as Grafana sends it, with built-in variables expanded
	Instant                 bool
}

// decodedDashboard is a dashboard and its panels, each decoded strictly.
type decodedDashboard struct {
	*dashboard.Dashboard
	panels []decodedPanel
}

// decodedPanel is a panel and its queries, each decoded strictly.
type decodedPanel struct {
	*dashboard.Panel
	queries []*prometheus.Dataquery
}

// loadDashboards decodes every dashboards/*.json strictly with the Grafana
// Foundation SDK's schema (an unknown or mistyped field, panel option or
// query field is an error) and returns them by file name.
//
// Panels and their queries are decoded one by one as well: in SDK v0.0.22 a
// valid panel's or query's strict decoder returns an empty cog.BuildErrors (a
// typed nil), so the enclosing decoder drops every valid panel from
// Dashboard.Panels and every valid query from Panel.Targets.
func loadDashboards(t *testing.T) map[string]decodedDashboard {
	t.Helper()
	// The SDK decodes panel options and queries through its plugin registry.
	plugins.RegisterDefaultPlugins()
	out := map[string]decodedDashboard{}
	for _, f := range glob(t, "dashboards", "*.json") {
		raw := readFile(t, "dashboards", filepath.Base(f))
		// The files are classic (v1) dashboard JSON, the format Grafana's file
		// provisioning reads; the SDK's v2 type is a different resource.
		//lint:ignore SA1019 v1 is the format of provisioned dashboard files.
		d := decodedDashboard{Dashboard: &dashboard.Dashboard{}}
		if err := strictError(d.UnmarshalJSONStrict(raw)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var panels struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(raw, &panels); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, rp := range panels.Panels {
			p := decodedPanel{Panel: &dashboard.Panel{}}
			if err := strictError(p.UnmarshalJSONStrict(rp)); err != nil {
				t.Fatalf("%s: panels[%d]: %v", f, i, err)
			}
			if p.Type == "row" {
				t.Fatalf("%s: panels[%d]: rows are not used", f, i)
			}
			var targets struct {
				Targets []json.RawMessage `json:"targets"`
			}
			if err := json.Unmarshal(rp, &targets); err != nil {
				t.Fatalf("%s: panels[%d]: %v", f, i, err)
			}
			for j, rt := range targets.Targets {
				q := &prometheus.Dataquery{}
				if err := strictError(q.UnmarshalJSONStrict(rt)); err != nil {
					t.Fatalf("%s: panels[%d].targets[%d]: %v", f, i, j, err)
				}
				if q.Datasource == nil || deref(q.Datasource.Type) != "prometheus" {
					t.Fatalf("%s: panels[%d].targets[%d]: data source %+v, want a Prometheus query", f, i, j, q.Datasource)
				}
				p.queries = append(p.queries, q)
			}
			d.panels = append(d.panels, p)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// dashboardQueries lists every panel target of every dashboard.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	var out []dashboardQuery
	for file, d := range loadDashboards(t) {
		for _, p := range d.panels {
			for _, q := range p.queries {
				out = append(out, dashboardQuery{
					Dashboard: file, Panel: deref(p.Title), RefID: deref(q.RefId),
					Expr: expandGrafanaVars(t, q.Expr), Instant: q.Instant != nil && *q.Instant,
				})
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no dashboard queries")
	}
	return out
}

// strictError undoes a typed nil: the SDK's strict decoders return an empty
// cog.BuildErrors, a non-nil error value, when the input is valid.
func strictError(err error) error {
	if errs, ok := err.(cog.BuildErrors); ok && len(errs) == 0 {
		return nil
	}
	return err
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestDashboards(t *testing.T) {
	ds := loadDashboards(t)
	// The provisioned data sources, by uid: the dashboards refer to them.
	var provisioning struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			UID, Type string
			JSONData  map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy", "grafana", "provisioning", "datasources", "datasources.yaml"), &provisioning); err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, d := range provisioning.Datasources {
		uids[d.UID] = d.Type
	}
	if uids["prometheus"] != "prometheus" || uids["jaeger"] != "jaeger" {
		t.Fatalf("provisioned data sources = %v, want prometheus and jaeger", uids)
	}
	t.Run("exemplars link to Jaeger", func(t *testing.T) {
		for _, d := range provisioning.Datasources {
			if d.UID != "prometheus" {
				continue
			}
			b, _ := json.Marshal(d.JSONData["exemplarTraceIdDestinations"])
			if !strings.Contains(string(b), `"datasourceUid":"jaeger"`) || !strings.Contains(string(b), `"name":"trace_id"`) {
				t.Fatalf("exemplarTraceIdDestinations = %s", b)
			}
		}
	})

	wantTitles := map[string][]string{
		"gateway-overview.json": {"Requests per second", "Error ratio", "Request latency p50 / p95 / p99", "Gateway overhead p50 / p99",
			"Time to first token p50 / p95 (streams)", "Tokens per second by provider and model", "Estimated cost per hour by provider and model"},
		"failover-health.json": {"Provider health", "Circuit state", "Failovers by from / to / reason", "Probe latency p95 by target",
			"Probe failures", "Attempts per request"},
		"slo.json": {"Availability error budget remaining (30 d)", "Latency error budget remaining (30 d)",
			"Availability burn rate per window", "Latency burn rate per window", "SLO and provider alerts"},
	}
	seenUID := map[string]bool{}
	for file, d := range ds {
		t.Run(file, func(t *testing.T) {
			uid := deref(d.Uid)
			if uid == "" || seenUID[uid] {
				t.Errorf("uid %q missing or duplicated", uid)
			}
			seenUID[uid] = true
			titles := map[string]bool{}
			ids := map[uint32]bool{}
			exemplars := 0
			if len(d.panels) == 0 {
				t.Fatal("no panels")
			}
			for _, p := range d.panels {
				titles[deref(p.Title)] = true
				if id := deref(p.Id); id == 0 || ids[id] {
					t.Errorf("panel %q: id %d missing or duplicated", deref(p.Title), id)
				} else {
					ids[id] = true
				}
				if p.GridPos == nil || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: grid position %+v outside the 24 columns", deref(p.Title), p.GridPos)
				}
				if p.Datasource == nil || uids[deref(p.Datasource.Uid)] == "" {
					t.Errorf("panel %q: data source %+v is not provisioned", deref(p.Title), p.Datasource)
				}
				if len(p.queries) == 0 {
					t.Errorf("panel %q has no query", deref(p.Title))
				}
				for _, q := range p.queries {
					if q.Exemplar != nil && *q.Exemplar {
						exemplars++
					}
				}
			}
			for _, w := range wantTitles[file] {
				if !titles[w] {
					t.Errorf("no panel %q", w)
				}
			}
			if file != "slo.json" && exemplars == 0 {
				t.Errorf("no query shows exemplars (the link to Jaeger)")
			}
		})
	}
	if len(ds) != len(wantTitles) {
		t.Errorf("%d dashboards, want %d", len(ds), len(wantTitles))
	}
}

// TestDashboardQueries parses every panel query with Prometheus' PromQL
// parser and checks that it selects only documented metrics or recording
// rules.
func TestDashboardQueries(t *testing.T) {
	known := knownMetrics(t)
	for _, q := range dashboardQueries(t) {
		if err := checkQuery(known, q.Expr); err != nil {
			t.Errorf("%s / %s / %s: %v", q.Dashboard, q.Panel, q.RefID, err)
		}
	}
}

// TestStrictDecodersRejectMistakes shows that the decoders the dashboard
// tests rely on do reject what a hand-edited dashboard gets wrong.
func TestStrictDecodersRejectMistakes(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	const panel = `{"type":"timeseries","id":1,"title":"x","gridPos":{"h":1,"w":1,"x":0,"y":0},
		"options":{"legend":{"displayMode":"list","placement":"bottom","showLegend":true,"calcs":[]},"tooltip":{"mode":"multi","sort":"none"}%s}}`
	const target = `{"datasource":{"type":"prometheus","uid":"prometheus"},"refId":"A","expr":"up"%s}`
	tests := []struct {
		name, panelExtra, targetExtra string
		wantErr                       bool
	}{
		{"valid", "", "", false},
		{"unknown panel option", `,"legnd":{}`, "", true},
		{"unknown query field", "", `,"exprr":"up"`, true},
		{"mistyped query field", "", `,"instant":"yes"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &dashboard.Panel{}
			perr := strictError(p.UnmarshalJSONStrict([]byte(fmt.Sprintf(panel, tt.panelExtra))))
			q := &prometheus.Dataquery{}
			qerr := strictError(q.UnmarshalJSONStrict([]byte(fmt.Sprintf(target, tt.targetExtra))))
			if got := perr != nil || qerr != nil; got != tt.wantErr {
				t.Fatalf("panel error %v, query error %v; want an error: %v", perr, qerr, tt.wantErr)
			}
		})
	}
}
