package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestLintGolden(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		wantOK  bool
	}{
		{"tutorial", "testdata/tutorial.yaml", tutorialEnv, true},
		{"tutorial-no-keys", "testdata/tutorial.yaml", []string{}, true},
		{"retry", "testdata/retry.yaml", tutorialEnv, true},
		{"teams", "testdata/teams.yaml", append([]string{"SEARCH_TEAM_KEY=kt-search", "KEEPTRUSTS_ADMIN_TOKEN=admin"}, tutorialEnv...), true},
		{"teams-unset-secrets", "testdata/teams.yaml", tutorialEnv, true},
		{"routes", "testdata/routes.yaml", tutorialEnv, true},
		{"routes-invalid", "testdata/routes-invalid.yaml", tutorialEnv, false},
		{"kinds-invalid", "testdata/kinds-invalid.yaml", tutorialEnv, false},
		{"invalid", "testdata/invalid.yaml", append([]string{"KT_SERVER__PROT=1", "KT_LOGGING__LEVEL=loud"}, tutorialEnv...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ps, err := Load(LoadOptions{File: tt.file, Environ: tt.environ})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			// The path printed is the one given, so use the base name to
			// keep the golden independent of the working directory.
			ok := Lint(&out, filepath.Base(tt.file), f, ps)
			if ok != tt.wantOK {
				t.Errorf("Lint ok = %v, want %v", ok, tt.wantOK)
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("Lint output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestLintShape(t *testing.T) {
	t.Run("errors before warnings and a count line", func(t *testing.T) {
		ps := Problems{
			{Path: "a", Message: "w1", Severity: Warning},
			{Path: "b", Message: "e1"},
			{Path: "c", Message: "e2"},
		}
		var out bytes.Buffer
		if Lint(&out, "x.yaml", &File{}, ps) {
			t.Error("Lint ok with errors")
		}
		want := "error: b: e1\nerror: c: e2\nwarning: a: w1\nx.yaml: 2 errors, 1 warning\n"
		if out.String() != want {
			t.Errorf("got %q, want %q", out.String(), want)
		}
	})
	t.Run("nil file is not ok", func(t *testing.T) {
		var out bytes.Buffer
		if Lint(&out, "x.yaml", nil, nil) {
			t.Error("Lint ok without a file")
		}
	})
	t.Run("warnings alone are ok", func(t *testing.T) {
		f, ps := loadYAML(t, "providers:\n  targets:\n    - {id: solo, provider: openai}\n", []string{})
		var out bytes.Buffer
		if !Lint(&out, "x.yaml", f, ps) {
			t.Errorf("Lint not ok with only warnings:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "x.yaml: valid (1 target, 0 policies, 2 warnings)") {
			t.Errorf("summary line missing:\n%s", out.String())
		}
	})
}

// TestSecretsNeverPrinted plants a canary value everywhere a secret could
// travel — the referenced variable, a header value, URL userinfo, a bad
// override — and checks that no problem and no report line carries it.
func TestSecretsNeverPrinted(t *testing.T) {
	const canary = "sk-canary-7f3a9c1e"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(canary), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KT_TEST_CANARY_KEY", canary)
	environ := append(os.Environ(),
		"OPENAI_API_KEY="+canary,
		"KT_SERVER__PORT="+canary,
		"KT_PROVIDERS__TARGETS__0__HEADERS__X_KEY="+canary+"\nX",
		"KT_NOT_A_SETTING="+canary,
	)
	valid := `providers:
  targets:
    - id: openai-primary
      provider: openai
      secret_key_ref: {env: OPENAI_API_KEY}
      headers: {api-key: ` + canary + `}
    - id: mounted
      provider: openai
      secret_key_ref: {file: ` + keyFile + `}
    - id: fromenv
      provider: openai
      secret_key_ref: {env: KT_TEST_CANARY_KEY}
`
	invalid := `providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: "https://user:` + canary + `@example.com/v1"
      secret_key_ref: {env: OPENAI_API_KEY, file: ` + keyFile + `}
      headers: {api-key: [` + canary + `], X-Bad: "` + canary + `\r\n"}
    - id: b
      provider: openai
      base_url: "ht!tp://:` + canary + `@[bad"
      headers: {X-Other: {nested: ` + canary + `}}
`
	for name, yaml := range map[string]string{"valid": valid, "invalid": invalid} {
		t.Run(name, func(t *testing.T) {
			f, ps, err := Load(LoadOptions{Data: []byte(yaml), Environ: environ})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) == 0 {
				t.Fatal("expected problems from the planted overrides")
			}
			var out bytes.Buffer
			Lint(&out, "policy-config.yaml", f, ps)
			texts := []string{out.String()}
			for _, p := range ps {
				texts = append(texts, p.String())
			}
			if err := ps.Err(); err != nil {
				texts = append(texts, err.Error())
			}
			for _, s := range texts {
				if strings.Contains(s, canary) || strings.Contains(s, "canary") {
					t.Errorf("secret leaked: %s", s)
				}
			}
			// The secret is still usable by the code that needs it.
			if name == "valid" {
				for i := range f.Providers.Targets {
					if got, err := f.ResolveSecret(i, environ); err != nil || got != canary {
						t.Errorf("ResolveSecret(%d) = %v, want the key", i, err)
					}
				}
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/tutorial.yaml", "testdata/invalid.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"null",
		"- a\n",
		"version: 1\nfailover: {}\nproviders: {failover: {}}\n",
		"providers:\n  targets: [null, 1, [2], {id: x, secret_key_ref: null}]\n",
		"providers: {targets: {a: b}}\n",
		"providers:\n  targets:\n    - {id: a, provider: openai, priority: 1e30, headers: {1: 2}}\n",
		"providers:\n  failover:\n    retry: {max_attempts: 99999999999999999999}\n    model_mapping: {? [a]: b, 1.5: ~}\n",
		"server: {port: .inf, host: 2023-06-01T10:00:00Z, read_header_timeout_seconds: .nan}\n",
		"a: &x [*x]\n",
		"x: &a {b: *a}\n",
		"policies: [{config: {categories: [{}]}}]\n",
		"logging: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(s))
	}
	environ := []string{"KT_SERVER__PORT=1", "KT_PROVIDERS__TARGETS__0__ID=z", "KT_FAILOVER__RETRY__MAX_ATTEMPTS=2", "OPENAI_API_KEY=x"}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, ps, err := Load(LoadOptions{File: "fuzz.yaml", Data: data, Environ: environ})
		if err != nil {
			if file != nil {
				t.Fatal("File returned with an error")
			}
			return
		}
		if file.Providers.Failover == nil || file.Failover != nil {
			t.Fatal("failover not placed under providers")
		}
		var out bytes.Buffer
		ok := Lint(&out, "fuzz.yaml", file, ps)
		if ok != (len(ps.Errors()) == 0) {
			t.Fatalf("Lint ok = %v with %d errors", ok, len(ps.Errors()))
		}
		for i := range file.Providers.Targets {
			_, _ = file.ResolveSecret(i, environ)
		}
		for _, p := range ps {
			if strings.Contains(p.String(), "\n") {
				t.Fatalf("problem spans lines: %q", p.String())
			}
		}
		if ok {
			for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				if !strings.HasPrefix(line, "warning: ") && !strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "fuzz.yaml: valid") {
					t.Fatalf("stray report line %q in:\n%s", line, out.String())
				}
			}
		}
	})
}
