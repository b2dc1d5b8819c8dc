package deploytest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/keeptrusts/gateway/pkg/config"
)

// loadCompose loads docker-compose.yaml with the compose-spec loader (schema
// validation, interpolation, merge of the x-kt anchor) and env as the
// environment.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(abs, "docker-compose.yaml")}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("keeptrusts", true) })
	if err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return p
}

// pinned reports whether an image reference names a fixed version: a digest,
// or a tag other than latest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest" && !strings.Contains(tag, "$")
}

func TestPinned(t *testing.T) {
	tests := []struct {
		image string
		want  bool
	}{
		{"prom/prometheus:v3.7.3", true},
		{"host:5000/team/img:1.2", true},
		{"img@sha256:0123", true},
		{"prom/prometheus", false},
		{"prom/prometheus:latest", false},
		{"host:5000/team/img", false},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := pinned(tt.image); got != tt.want {
				t.Fatalf("pinned(%q) = %v, want %v", tt.image, got, tt.want)
			}
		})
	}
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t, map[string]string{})

	wantServices := []string{"gateway", "grafana", "jaeger", "otel-collector", "prometheus", "sim-anthropic", "sim-openai"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), wantServices) {
		t.Fatalf("services = %v, want %v", got, wantServices)
	}
	t.Run("images pinned", func(t *testing.T) {
		for name, s := range p.Services {
			if !pinned(s.Image) {
				t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
			}
		}
	})
	t.Run("only UI ports published, on loopback by default", func(t *testing.T) {
		want := map[string]string{"gateway": "41002", "grafana": "3000", "jaeger": "16686", "prometheus": "9090"}
		for name, s := range p.Services {
			if len(s.Ports) == 0 {
				if _, ok := want[name]; ok {
					t.Errorf("%s publishes no port", name)
				}
				continue
			}
			if len(s.Ports) != 1 || s.Ports[0].Published != want[name] || s.Ports[0].HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %+v, want only %s on 127.0.0.1", name, s.Ports, want[name])
			}
		}
	})
	t.Run("healthchecks and start order", func(t *testing.T) {
		for _, name := range []string{"gateway", "sim-openai", "sim-anthropic", "prometheus", "grafana"} {
			hc := p.Services[name].HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) < 2 {
				t.Errorf("%s has no healthcheck", name)
			}
		}
		wantDeps := map[string]map[string]string{
			"gateway":        {"sim-openai": "service_healthy", "sim-anthropic": "service_healthy", "otel-collector": "service_started"},
			"grafana":        {"prometheus": "service_healthy", "jaeger": "service_started"},
			"prometheus":     {"otel-collector": "service_started"},
			"otel-collector": {"jaeger": "service_started"},
		}
		for name, deps := range wantDeps {
			got := p.Services[name].DependsOn
			for dep, cond := range deps {
				if got[dep].Condition != cond {
					t.Errorf("%s depends_on %s: condition %q, want %q", name, dep, got[dep].Condition, cond)
				}
			}
		}
	})
	t.Run("gateway", func(t *testing.T) {
		gw := p.Services["gateway"]
		if gw.Build == nil || gw.Build.Dockerfile != "Dockerfile" {
			t.Errorf("gateway is not built from the Dockerfile: %+v", gw.Build)
		}
		cmd := strings.Join(gw.Command, " ")
		if cmd != "gateway run --host 0.0.0.0 --policy-config /etc/keeptrusts/policy-config.yaml" {
			t.Errorf("gateway command = %q", cmd)
		}
		if ep := gw.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; ep == nil || *ep != "http://otel-collector:4317" {
			t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT = %v", ep)
		}
		if !gw.ReadOnly || gw.User != "" && gw.User == "root" {
			t.Errorf("gateway: read_only=%v user=%q", gw.ReadOnly, gw.User)
		}
	})
	t.Run("sims share the gateway image and keys", func(t *testing.T) {
		gw := p.Services["gateway"]
		for name, kind := range map[string]string{"sim-openai": "openai", "sim-anthropic": "anthropic"} {
			s := p.Services[name]
			if s.Image != gw.Image {
				t.Errorf("%s image %q, want the gateway's %q", name, s.Image, gw.Image)
			}
			cmd := strings.Join(s.Command, " ")
			if !strings.HasPrefix(cmd, "sim --kind "+kind+" --host 0.0.0.0 ") || !strings.Contains(cmd, "--expect-key ") {
				t.Errorf("%s command = %q", name, cmd)
			}
		}
		for key, sim := range map[string]string{"OPENAI_API_KEY": "sim-openai", "ANTHROPIC_API_KEY": "sim-anthropic"} {
			v := gw.Environment[key]
			if v == nil || !strings.Contains(strings.Join(p.Services[sim].Command, " "), "--expect-key "+*v+" ") {
				t.Errorf("gateway %s = %v is not what %s expects", key, v, sim)
			}
		}
	})
	t.Run("named volumes", func(t *testing.T) {
		for _, v := range []string{"events", "prometheus-data"} {
			if _, ok := p.Volumes[v]; !ok {
				t.Errorf("volume %s not declared", v)
			}
		}
		mounts := map[string]string{"gateway": "events", "prometheus": "prometheus-data"}
		for svc, vol := range mounts {
			found := false
			for _, m := range p.Services[svc].Volumes {
				found = found || (m.Type == types.VolumeTypeVolume && m.Source == vol)
			}
			if !found {
				t.Errorf("%s does not mount volume %s", svc, vol)
			}
		}
	})
	t.Run("bind mounts exist", func(t *testing.T) {
		for name, s := range p.Services {
			for _, m := range s.Volumes {
				if m.Type != types.VolumeTypeBind {
					continue
				}
				if _, err := os.Stat(m.Source); err != nil {
					t.Errorf("%s mounts %s: %v", name, m.Source, err)
				}
			}
		}
	})
	t.Run("real providers and faults by environment", func(t *testing.T) {
		p := loadCompose(t, map[string]string{
			"KT_POLICY_CONFIG": "/etc/keeptrusts/policy-config.providers.yaml",
			"OPENAI_API_KEY":   "sk-real", "SIM_OPENAI_FAULT": "down", "KT_BIND": "0.0.0.0",
		})
		gw := p.Services["gateway"]
		if got := strings.Join(gw.Command, " "); !strings.HasSuffix(got, "/etc/keeptrusts/policy-config.providers.yaml") {
			t.Errorf("gateway command = %q", got)
		}
		if v := gw.Environment["OPENAI_API_KEY"]; v == nil || *v != "sk-real" {
			t.Errorf("OPENAI_API_KEY = %v", v)
		}
		if got := strings.Join(p.Services["sim-openai"].Command, " "); !strings.HasSuffix(got, "--fault down") {
			t.Errorf("sim-openai command = %q", got)
		}
		if gw.Ports[0].HostIP != "0.0.0.0" {
			t.Errorf("KT_BIND ignored: %+v", gw.Ports)
		}
	})
}

// TestComposePolicyConfigs lints the gateway configurations docker compose
// mounts, with the keys the compose file sets, and checks the simulated
// targets point at the compose sims' ports.
func TestComposePolicyConfigs(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	var environ []string
	for k, v := range p.Services["gateway"].Environment {
		if v != nil {
			environ = append(environ, k+"="+*v)
		}
	}
	for _, f := range glob(t, "deploy", "compose", "*.yaml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file, problems, err := config.Load(config.LoadOptions{File: f, Environ: environ})
			if err != nil {
				t.Fatal(err)
			}
			if err := problems.Err(); err != nil {
				t.Fatalf("lint: %v", err)
			}
			for _, tg := range file.Providers.Targets {
				host, _, _ := strings.Cut(strings.TrimPrefix(tg.BaseURL, "http://"), "/")
				name, port, _ := strings.Cut(host, ":")
				if s, ok := p.Services[name]; ok && !slices.Contains(s.Command, port) {
					t.Errorf("target %s: %s does not listen on %s (%v)", tg.ID, name, port, s.Command)
				}
			}
			if file.Events.Path != "/var/lib/keeptrusts/events.db" {
				t.Errorf("events.path = %q, want the events volume", file.Events.Path)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
