package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/keeptrusts/gateway/pkg/auth"
)

// runIn runs kt with stdin.
func runIn(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&env{stdout: &out, stderr: &errb})
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

type snippet struct {
	Auth struct {
		Enabled bool `json:"enabled"`
		Keys    []struct {
			Name string `json:"name"`
			Team string `json:"team"`
			Hash string `json:"hash"`
		} `json:"keys"`
	} `json:"auth"`
}

func TestKeysGenerate(t *testing.T) {
	keyLine := regexp.MustCompile(`^kt-[A-Za-z0-9_-]{43}\n$`)
	tests := []struct {
		name             string
		args             []string
		wantName, wantTm string // wantName "" = default TEAM-<6 hex>
	}{
		{"default name", []string{"--team", "search"}, "", "search"},
		{"explicit name", []string{"--team", "search", "--name", "search-prod"}, "search-prod", "search"},
		{"team needing quotes", []string{"--team", "data science: ml #1"}, "", "data science: ml #1"},
		{"team that YAML reads as a boolean", []string{"--team", "no", "--name", "123"}, "123", "no"},
		{"surrounding spaces trimmed", []string{"--team", " ops "}, "", "ops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(t, nil, append([]string{"keys", "generate"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !keyLine.MatchString(out) {
				t.Fatalf("stdout is not exactly one key line: %q", out)
			}
			key := strings.TrimSuffix(out, "\n")
			if strings.Contains(errOut, key) {
				t.Fatal("the key appears in the config snippet")
			}
			if !strings.Contains(errOut, "secret manager") || !strings.Contains(errOut, "only the hash") {
				t.Fatalf("no hint:\n%s", errOut)
			}
			var s snippet
			if err := yaml.Unmarshal([]byte(errOut), &s); err != nil {
				t.Fatalf("stderr is not YAML: %v\n%s", err, errOut)
			}
			if !s.Auth.Enabled || len(s.Auth.Keys) != 1 {
				t.Fatalf("snippet %+v\n%s", s, errOut)
			}
			k := s.Auth.Keys[0]
			hash := auth.HashKey(key)
			wantName := tc.wantName
			if wantName == "" {
				wantName = tc.wantTm + "-" + hash[len(auth.HashPrefix):len(auth.HashPrefix)+6]
			}
			if k.Hash != hash || k.Team != tc.wantTm || k.Name != wantName {
				t.Fatalf("snippet entry %+v, want name %q team %q hash %s", k, wantName, tc.wantTm, hash)
			}
			if _, err := auth.ParseHash(k.Hash); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("keys differ between runs", func(t *testing.T) {
		a, _, _ := run(t, nil, "keys", "generate", "--team", "t")
		b, _, _ := run(t, nil, "keys", "generate", "--team", "t")
		if a == b {
			t.Fatal("same key twice")
		}
	})
	for _, args := range [][]string{{}, {"--team", "  "}} {
		t.Run("team required "+strings.Join(args, " "), func(t *testing.T) {
			out, _, err := run(t, nil, append([]string{"keys", "generate"}, args...)...)
			if err == nil || !strings.Contains(err.Error(), "team") || out != "" {
				t.Fatalf("err = %v, stdout %q", err, out)
			}
		})
	}
}

func TestKeysHash(t *testing.T) {
	const key = "kt-Zq0canary0key0for0the0hash0command0test0xx"
	want := auth.HashKey(key) + "\n"
	tests := []struct {
		name, stdin string
		wantErr     string // "" = success
		wantWarn    bool
	}{
		{"no newline", key, "", false},
		{"trailing newline", key + "\n", "", false},
		{"trailing CRLF", key + "\r\n", "", false},
		{"short key warns", "short-key\n", "", true},
		{"empty", "", "no key on stdin", false},
		{"newline only", "\n", "no key on stdin", false},
		{"two lines", key + "\n" + key + "\n", "more than one line", false},
		{"two newlines", key + "\n\n", "more than one line", false},
		{"leading space", " " + key, "whitespace", false},
		{"trailing space", key + " \n", "whitespace", false},
		{"oversized", strings.Repeat("k", maxKeyInput+1), "more than 64 KiB", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runIn(t, tc.stdin, "keys", "hash")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if out != "" {
					t.Fatalf("stdout on error: %q", out)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tc.stdin)) && strings.TrimSpace(tc.stdin) != "" {
					t.Fatal("error quotes the input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantOut := want
			if tc.wantWarn {
				wantOut = auth.HashKey("short-key") + "\n"
			}
			if out != wantOut {
				t.Fatalf("stdout %q, want %q", out, wantOut)
			}
			if got := strings.Contains(errOut, "warning: this key is short"); got != tc.wantWarn {
				t.Fatalf("warning %v, stderr %q", got, errOut)
			}
			if strings.Contains(out+errOut, strings.TrimSpace(tc.stdin)) {
				t.Fatal("output echoes the key")
			}
		})
	}

	t.Run("generate then hash agree", func(t *testing.T) {
		out, errOut, err := run(t, nil, "keys", "generate", "--team", "t")
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := runIn(t, out, "keys", "hash")
		if err != nil || !strings.Contains(errOut, "hash: "+strings.TrimSpace(h)) {
			t.Fatalf("hash %q (%v) not in snippet:\n%s", h, err, errOut)
		}
	})
	t.Run("key as argument refused", func(t *testing.T) {
		if _, _, err := runIn(t, "", "keys", "hash", key); err == nil || strings.Contains(err.Error(), key) {
			t.Fatalf("err = %v", err)
		}
	})
}
