package config

import (
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// TestKindFieldsProblems runs a target's kind-specific fields past a
// kind: fields of other kinds are errors naming the kinds that take them,
// and the kind's own Validate problems carry the target's full path.
func TestKindFieldsProblems(t *testing.T) {
	cloud := &provider.Kind{
		Name:   "cloudy",
		Fields: []string{"deployments", "api_version"},
		Validate: func(s *provider.TargetSpec) []provider.FieldProblem {
			var ps []provider.FieldProblem
			if s.APIVersion == "" {
				ps = append(ps, provider.FieldProblem{Field: "api_version", Message: "required"})
			}
			for m, d := range s.Deployments {
				if d == "" {
					ps = append(ps, provider.FieldProblem{Field: "deployments." + m, Message: "empty deployment name"})
				}
			}
			return ps
		},
	}
	tests := []struct {
		name   string
		kind   *provider.Kind
		target Target
		want   []string // "path: message substring"
	}{
		{"nothing set on a kind taking nothing", &provider.Kind{Name: "plain"}, Target{}, nil},
		{"field of another kind", &provider.Kind{Name: "plain"}, Target{AnthropicVersion: "2023-06-01"},
			[]string{"p.anthropic_version: not used by plain targets (only by anthropic)"}},
		{"field no kind takes", &provider.Kind{Name: "plain"}, Target{Region: "eu-west-1", Project: "x"},
			[]string{"p.region: not used by plain targets", "p.project: not used by plain targets"}},
		{"the kind's own problems with their paths", cloud, Target{Deployments: map[string]string{"gpt-4.1": ""}},
			[]string{"p.api_version: required", "p.deployments.gpt-4.1: empty deployment name"}},
		{"the kind's fields, valid", cloud, Target{APIVersion: "2024-10-21", Deployments: map[string]string{"gpt-4o": "prod"}}, nil},
		{"a field of the wrong kind next to the kind's own", cloud, Target{APIVersion: "v", Location: "us-central1"},
			[]string{"p.location: not used by cloudy targets"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &validator{}
			v.kindFields("p", tt.target, tt.kind)
			if len(v.problems) != len(tt.want) {
				t.Fatalf("got %d problems %v, want %d %v", len(v.problems), v.problems, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				path, msg, _ := strings.Cut(w, ": ")
				if _, ok := findProblem(v.problems, Error, path, msg); !ok {
					t.Errorf("no error %q in %v", w, v.problems)
				}
			}
		})
	}
}

// TestKindFieldsFromFile: the new fields load from YAML (a dotted model
// name stays one deployments key) and reach the kind through Spec.
func TestKindFieldsFromFile(t *testing.T) {
	yaml := "version: 1\nproviders:\n  targets:\n    - id: a\n      provider: openai_compatible\n      base_url: http://127.0.0.1:1/v1\n      headers: {X-Team: search}\n      deployments:\n        gpt-4.1: prod-41\n      region: eu-west-1\n"
	f, ps := loadYAML(t, yaml, tutorialEnv)
	for _, path := range []string{"providers.targets[0].deployments", "providers.targets[0].region"} {
		if _, ok := findProblem(ps, Error, path, "not used by openai_compatible targets"); !ok {
			t.Errorf("no error at %s in %v", path, ps)
		}
	}
	spec := f.Providers.Targets[0].Spec()
	want := provider.TargetSpec{
		ID: "a", BaseURL: "http://127.0.0.1:1/v1", Header: http.Header{"X-Team": {"search"}},
		Deployments: map[string]string{"gpt-4.1": "prod-41"}, Region: "eu-west-1",
	}
	if !reflect.DeepEqual(spec, want) {
		t.Fatalf("Spec() = %+v, want %+v", spec, want)
	}
	spec.Deployments["gpt-4.1"] = "changed"
	if f.Providers.Targets[0].Deployments["gpt-4.1"] != "prod-41" {
		t.Fatal("Spec shares the target's deployments map")
	}
}

// TestKindFieldsCoverTheTable: every field a kind takes is a target field
// lint knows (else no file could set it), and each is documented in the
// README's configuration reference.
func TestKindFieldsCoverTheTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range kindFields {
		known[f.name] = true
		if !strings.Contains(string(readme), "| `providers.targets[]."+f.name+"` |") {
			t.Errorf("README's configuration reference has no row for providers.targets[].%s", f.name)
		}
		if _, ok := fieldByTag(reflect.TypeOf(Target{}), f.name); !ok {
			t.Errorf("kind field %q is not a Target field", f.name)
		}
	}
	for _, k := range kinds.All() {
		for _, f := range k.Fields {
			if !known[f] {
				t.Errorf("kind %s takes %q, which is not in kindFields", k.Name, f)
			}
		}
	}
}

// TestKindFieldsSeeTheKey: a kind's Validate is told whether the target
// will have a key (validation never resolves secrets): an azure_openai
// target with secret_key_ref or forward_client_auth is valid, one with
// neither is told to set the key.
func TestKindFieldsSeeTheKey(t *testing.T) {
	const target = "providers:\n  targets:\n    - id: az\n      provider: azure_openai\n      base_url: http://127.0.0.1:1\n"
	tests := []struct {
		name    string
		extra   string
		wantErr bool
	}{
		{"secret_key_ref", "      secret_key_ref: {env: AZURE_OPENAI_API_KEY}\n", false},
		{"forward_client_auth", "      forward_client_auth: true\n", false},
		{"auth entra", "      auth: entra\n", false},
		{"no key", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadYAML(t, "version: 1\n"+target+tt.extra, append([]string{"AZURE_OPENAI_API_KEY=k"}, tutorialEnv...))
			_, got := findProblem(ps, Error, "providers.targets[0].secret_key_ref", "needs the resource key")
			if got != tt.wantErr {
				t.Fatalf("resource key error %v, want %v; problems %v", got, tt.wantErr, ps)
			}
			if errs := ps.Errors(); !tt.wantErr && len(errs) > 0 {
				t.Errorf("errors %v", errs)
			}
		})
	}
}
