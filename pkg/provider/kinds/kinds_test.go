package kinds

import (
	"net/http"
	"slices"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sim"
)

// TestTable checks every row: the facts the rest of the gateway reads are
// there, and New builds an adapter that reports the kind's name.
func TestTable(t *testing.T) {
	all := All()
	if len(all) == 0 {
		t.Fatal("no kinds")
	}
	seen := map[string]bool{}
	for _, k := range all {
		t.Run(k.Name, func(t *testing.T) {
			if k.Name == "" || k.GenAIName == "" || k.Probe == "" || k.New == nil {
				t.Fatalf("kind %+v lacks a name, GenAI name, probe note or constructor", *k)
			}
			if seen[k.Name] {
				t.Fatalf("kind %q listed twice", k.Name)
			}
			seen[k.Name] = true
			if _, err := sim.ParseKind(k.Sim); err != nil {
				t.Errorf("Sim %q: %v", k.Sim, err)
			}
			switch {
			case k.BaseURLRequired && k.DefaultBaseURL != "":
				t.Errorf("base_url required although the kind defaults to %q", k.DefaultBaseURL)
			case !k.BaseURLRequired && k.DefaultBaseURL == "" && len(k.Fields) == 0:
				t.Error("no default base URL, none required, and no fields to derive it from")
			}
			if got, ok := Lookup(k.Name); !ok || got != k {
				t.Errorf("Lookup(%q) = %v, %t", k.Name, got, ok)
			}
			// A key, so that no cloud credential chain is consulted, and
			// the fields a kind may need to build (bedrock's region,
			// vertex's project and location); kinds ignore the others.
			spec := &provider.TargetSpec{ID: "t", BaseURL: "http://127.0.0.1:1", APIKey: "sk-test", Header: http.Header{}, DefaultMaxTokens: k.DefaultMaxTokens,
				Region: "us-east-1", Project: "p", Location: "us-central1", Environ: []string{}}
			if k.Validate != nil {
				// A spec with none of the kind's fields set may be invalid;
				// Validate must still answer rather than panic.
				_ = k.Validate(spec)
			}
			ad, err := k.New(spec)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if ad == nil || ad.Kind() != k.Name {
				t.Fatalf("New built an adapter of kind %v, want %q", ad, k.Name)
			}
		})
	}
	if got := Names(); !slices.Equal(got, namesOf(all)) {
		t.Errorf("Names() = %v, want table order %v", got, namesOf(all))
	}
}

func namesOf(ks []*provider.Kind) []string {
	var names []string
	for _, k := range ks {
		names = append(names, k.Name)
	}
	return names
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "OpenAI", "bogus", "openai "} {
		if k, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) = %v, want not found", name, k.Name)
		}
	}
}

func TestTakingField(t *testing.T) {
	for _, f := range []string{"anthropic_version", "region", "no_such_field"} {
		t.Run(f, func(t *testing.T) {
			got := TakingField(f)
			for _, k := range All() {
				if slices.Contains(k.Fields, f) != slices.Contains(got, k.Name) {
					t.Errorf("TakingField(%q) = %v, but %s.Fields = %v", f, got, k.Name, k.Fields)
				}
			}
		})
	}
}

// TestAllIsACopy: a caller appending to or reordering All's result cannot
// change the table.
func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0] = nil
	if All()[0] == nil {
		t.Fatal("All returned the table itself")
	}
}
