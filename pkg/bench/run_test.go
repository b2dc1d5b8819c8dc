package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestSelectScenarios(t *testing.T) {
	tests := []struct {
		name      string
		in        []string
		base, vs  []string
		wantErrIn string
	}{
		{name: "all, canonical order", in: []string{"cf", "s10", "events", "c1", "telemetry", "c50", "failover"},
			base: []string{"c1", "c50", "s10"}, vs: []string{"failover", "telemetry", "events", "cf"}},
		{name: "spaces and blanks", in: []string{" c50", "", "failover "}, base: []string{"c50"}, vs: []string{"failover"}},
		{name: "unknown", in: []string{"c100"}, wantErrIn: "unknown scenario"},
		{name: "none", in: []string{""}, wantErrIn: "no scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, vs, err := selectScenarios(tt.in)
			if tt.wantErrIn != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrIn) {
					t.Fatalf("err = %v, want %q", err, tt.wantErrIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var vnames []string
			for _, v := range vs {
				vnames = append(vnames, v.name)
			}
			if !slices.Equal(names(base), tt.base) || !slices.Equal(vnames, tt.vs) {
				t.Errorf("got %v %v, want %v %v", names(base), vnames, tt.base, tt.vs)
			}
		})
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{
		"PATH=/usr/bin", "KT_SERVER__PORT=1", "kt_logging__level=debug", "OTEL_EXPORTER_OTLP_ENDPOINT=http://x",
		"HOME=/root", "BENCH_KEY=leaked", "GOFLAGS=-mod=mod",
	}, "/tmp/w")
	want := []string{"PATH=/usr/bin", "GOFLAGS=-mod=mod", "BENCH_KEY=sk-bench", "HOME=/tmp/w/home"}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv = %v, want %v", got, want)
	}
}

func TestRepOrder(t *testing.T) {
	in := []string{"direct", "rproxy", "kt"}
	tests := []struct {
		rep  int
		want []string
	}{
		{1, []string{"direct", "rproxy", "kt"}},
		{2, []string{"kt", "rproxy", "direct"}},
		{3, []string{"direct", "rproxy", "kt"}},
		{4, []string{"kt", "rproxy", "direct"}},
	}
	for _, tt := range tests {
		if got := repOrder(in, tt.rep); !slices.Equal(got, tt.want) {
			t.Errorf("repOrder(rep %d) = %v, want %v", tt.rep, got, tt.want)
		}
	}
	if !slices.Equal(in, []string{"direct", "rproxy", "kt"}) {
		t.Errorf("repOrder changed its input: %v", in)
	}
}
