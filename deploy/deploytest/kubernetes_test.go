package deploytest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/keeptrusts/gateway/pkg/config"
)

// kustomization is the part of kustomize's Kustomization the manifests use;
// decoded strictly, so anything else in the file is an error.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images"`
}

// manifests holds every resource of deploy/kubernetes decoded strictly into
// its Go type (k8s.io/api, or the Prometheus Operator's for its CRDs).
type manifests struct {
	ns         *corev1.Namespace
	cm         *corev1.ConfigMap
	deploy     *appsv1.Deployment
	svc        *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	monitor    *monitoringv1.ServiceMonitor
	promRule   *monitoringv1.PrometheusRule
	kustomized kustomization
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	var m manifests
	if err := yaml.UnmarshalStrict(readFile(t, "deploy", "kubernetes", "kustomization.yaml"), &m.kustomized); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if m.kustomized.Kind != "Kustomization" || m.kustomized.Namespace == "" {
		t.Fatalf("kustomization.yaml: kind %q namespace %q", m.kustomized.Kind, m.kustomized.Namespace)
	}
	for _, res := range m.kustomized.Resources {
		b := readFile(t, "deploy", "kubernetes", res)
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(b, &meta); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		var obj any
		want := map[string]string{}
		switch meta.Kind {
		case "Namespace":
			m.ns = &corev1.Namespace{}
			obj, want["v1"] = m.ns, ""
		case "ConfigMap":
			m.cm = &corev1.ConfigMap{}
			obj, want["v1"] = m.cm, ""
		case "Deployment":
			m.deploy = &appsv1.Deployment{}
			obj, want["apps/v1"] = m.deploy, ""
		case "Service":
			m.svc = &corev1.Service{}
			obj, want["v1"] = m.svc, ""
		case "PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj, want["policy/v1"] = m.pdb, ""
		case "HorizontalPodAutoscaler":
			m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			obj, want["autoscaling/v2"] = m.hpa, ""
		case "ServiceMonitor":
			m.monitor = &monitoringv1.ServiceMonitor{}
			obj, want["monitoring.coreos.com/v1"] = m.monitor, ""
		case "PrometheusRule":
			m.promRule = &monitoringv1.PrometheusRule{}
			obj, want["monitoring.coreos.com/v1"] = m.promRule, ""
		default:
			t.Fatalf("%s: unexpected kind %q", res, meta.Kind)
		}
		if _, ok := want[meta.APIVersion]; !ok {
			t.Fatalf("%s: apiVersion %q for %s", res, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
	}
	return m
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	for name, v := range map[string]any{"Namespace": m.ns, "ConfigMap": m.cm, "Deployment": m.deploy, "Service": m.svc,
		"PodDisruptionBudget": m.pdb, "HorizontalPodAutoscaler": m.hpa, "ServiceMonitor": m.monitor, "PrometheusRule": m.promRule} {
		if reflect.ValueOf(v).IsNil() {
			t.Fatalf("no %s in kustomization.yaml's resources", name)
		}
	}
	pod := m.deploy.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	t.Run("probes", func(t *testing.T) {
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			want := map[string]string{"liveness": "/livez", "readiness": "/readyz"}[name]
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
				t.Errorf("%s probe = %+v, want GET %s on port http", name, p, want)
			}
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 41002 {
			t.Errorf("ports = %+v", c.Ports)
		}
	})
	t.Run("security", func(t *testing.T) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container securityContext = %+v", sc)
		}
		psc := pod.Spec.SecurityContext
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.SeccompProfile == nil {
			t.Errorf("pod securityContext = %+v", psc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("resources = %+v", c.Resources)
		}
	})
	t.Run("keys only by secret reference", func(t *testing.T) {
		refs := 0
		for _, e := range c.Env {
			if strings.HasSuffix(e.Name, "_API_KEY") {
				if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s is not a secretKeyRef", e.Name)
				}
				refs++
			}
		}
		if refs != 2 {
			t.Errorf("%d key references, want 2", refs)
		}
	})
	t.Run("config and volumes", func(t *testing.T) {
		mounts := map[string]string{}
		for _, vm := range c.VolumeMounts {
			mounts[vm.Name] = vm.MountPath
		}
		vols := map[string]corev1.Volume{}
		for _, v := range pod.Spec.Volumes {
			vols[v.Name] = v
		}
		if cm := vols["config"].ConfigMap; cm == nil || cm.Name != m.cm.Name || mounts["config"] != "/etc/keeptrusts" {
			t.Errorf("config volume %+v mounted at %q", vols["config"], mounts["config"])
		}
		if _, ok := vols["events"]; !ok || mounts["events"] != "/var/lib/keeptrusts" {
			t.Errorf("no events volume at /var/lib/keeptrusts")
		}
		if !slices.Contains(c.Args, "/etc/keeptrusts/policy-config.yaml") {
			t.Errorf("args %v do not name the mounted config", c.Args)
		}
		// The ConfigMap's configuration lints clean with the gateway's own loader.
		f, problems, err := config.Load(config.LoadOptions{
			Data:    []byte(m.cm.Data["policy-config.yaml"]),
			Environ: []string{"OPENAI_API_KEY=k", "ANTHROPIC_API_KEY=k", "KEEPTRUSTS_ADMIN_TOKEN=t"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := problems.Err(); err != nil {
			t.Fatalf("configmap policy-config.yaml: %v", err)
		}
		if f.Events.Path != mounts["events"]+"/events.db" || !f.Telemetry.Prometheus.Enabled {
			t.Errorf("events.path %q, prometheus %v", f.Events.Path, f.Telemetry.Prometheus.Enabled)
		}
		if float64(*m.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds) <= f.Server.ShutdownTimeoutSeconds {
			t.Errorf("terminationGracePeriodSeconds %d ≤ shutdown_timeout_seconds %v", *m.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds, f.Server.ShutdownTimeoutSeconds)
		}
	})
	t.Run("selectors match the pods", func(t *testing.T) {
		podLabels := pod.Labels
		matches := func(sel map[string]string) bool {
			for k, v := range sel {
				if podLabels[k] != v {
					return false
				}
			}
			return len(sel) > 0
		}
		if !matches(m.deploy.Spec.Selector.MatchLabels) || !matches(m.svc.Spec.Selector) || !matches(m.pdb.Spec.Selector.MatchLabels) {
			t.Error("a selector does not match the pod labels")
		}
		if m.hpa.Spec.ScaleTargetRef.Kind != "Deployment" || m.hpa.Spec.ScaleTargetRef.Name != m.deploy.Name || m.hpa.Spec.MinReplicas == nil || *m.hpa.Spec.MinReplicas < 2 {
			t.Errorf("hpa = %+v", m.hpa.Spec)
		}
		for k, v := range m.monitor.Spec.Selector.MatchLabels {
			if m.svc.Labels[k] != v {
				t.Errorf("ServiceMonitor selects %s=%s, the Service has %q", k, v, m.svc.Labels[k])
			}
		}
		if len(m.monitor.Spec.Endpoints) != 1 || m.monitor.Spec.Endpoints[0].Port != m.svc.Spec.Ports[0].Name || m.monitor.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints = %+v", m.monitor.Spec.Endpoints)
		}
	})
	t.Run("PrometheusRule is the rule files", func(t *testing.T) {
		var want []string
		files := ruleFiles(t)
		names := make([]string, 0, len(files))
		for f := range files {
			names = append(names, f)
		}
		slices.Sort(names)
		for _, f := range names {
			for _, g := range files[f].Groups {
				for _, r := range g.Rules {
					want = append(want, fmt.Sprintf("%s|%s%s|%s|%v|%v|%v", g.Name, r.Record, r.Alert, strings.TrimSpace(r.Expr), r.For, r.Labels, r.Annotations))
				}
			}
		}
		var got []string
		for _, g := range m.promRule.Spec.Groups {
			for _, r := range g.Rules {
				var forDur any = "0s"
				if r.For != nil {
					forDur = string(*r.For)
				}
				labels := r.Labels
				if labels == nil {
					labels = map[string]string{}
				}
				annotations := r.Annotations
				if annotations == nil {
					annotations = map[string]string{}
				}
				got = append(got, fmt.Sprintf("%s|%s%s|%s|%v|%v|%v", g.Name, r.Record, r.Alert, strings.TrimSpace(r.Expr.String()), forDur, mapOrNil(labels), mapOrNil(annotations)))
			}
		}
		if !slices.Equal(got, want) {
			for i := range max(len(got), len(want)) {
				g, w := "", ""
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Fatalf("prometheusrule.yaml differs from deploy/prometheus/rules at rule %d:\n got %s\nwant %s", i, g, w)
				}
			}
		}
	})
}

// mapOrNil prints an empty map as rulefmt leaves it (nil).
func mapOrNil(m map[string]string) any {
	if len(m) == 0 {
		return map[string]string(nil)
	}
	return m
}
