package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func run(t *testing.T, environ []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := MainEnv(context.Background(), args, &out, &errb, environ)
	return out.String(), errb.String(), err
}

func TestHelpOnEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command)
	var paths [][]string
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		paths = append(paths, strings.Fields(c.CommandPath())[1:])
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&env{}))
	if len(paths) < 6 {
		t.Fatalf("found only %d commands", len(paths))
	}
	for _, p := range paths {
		t.Run(strings.Join(append([]string{"kt"}, p...), " "), func(t *testing.T) {
			out, _, err := run(t, nil, append(p, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "Usage:") {
				t.Fatalf("no usage in help:\n%s", out)
			}
		})
	}
}

func TestPolicyLint(t *testing.T) {
	const cfg = "../config/testdata/tutorial.yaml"
	keys := []string{"OPENAI_API_KEY=sk-canary-0001", "ANTHROPIC_API_KEY=sk-ant-canary-0002"}
	tests := []struct {
		name     string
		environ  []string
		args     []string
		wantCode int
		want     []string
		wantErr  string
	}{
		{name: "tutorial file is valid", environ: keys, args: []string{"--file", cfg}, want: []string{"valid (2 targets, 1 policy)", "priority=1", "priority=2", "health_check=enabled"}},
		{name: "unset key is only a warning", environ: []string{"PATH=/usr/bin"}, args: []string{"--file", cfg}, want: []string{"warning: providers.targets[0].secret_key_ref.env: OPENAI_API_KEY is not set"}},
		{name: "invalid file exits 1 with every problem", args: []string{"--file", "testdata/bad.yaml"}, wantCode: 1,
			want: []string{"providers.targets[0].provider", "providers.targets[0].helth_check: unknown key"}},
		{name: "missing file", args: []string{"--file", "testdata/nope.yaml"}, wantErr: "nope.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := run(t, tc.environ, append([]string{"policy", "lint"}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			var errb bytes.Buffer
			if code := ExitCode(err, &errb); code != tc.wantCode {
				t.Fatalf("exit %d, want %d (%v)\n%s", code, tc.wantCode, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
			for _, k := range keys {
				if strings.Contains(out, strings.Split(k, "=")[1]) {
					t.Fatal("lint printed a key's value")
				}
			}
		})
	}
}

func TestGatewayRunReportsMissingSecret(t *testing.T) {
	_, _, err := run(t, []string{"XDG_STATE_HOME=" + t.TempDir()}, "gateway", "run", "--policy-config", "../config/testdata/tutorial.yaml", "--port", "0")
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Fatalf("err = %v, want it to name OPENAI_API_KEY", err)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	out, _, err := run(t, nil, "completion", "bash")
	if err != nil || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion: %v\n%.200s", err, out)
	}
	out, _, err = run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "kt ") {
		t.Fatalf("version: %v %q", err, out)
	}
	var errb bytes.Buffer
	if code := ExitCode(nil, &errb); code != 0 {
		t.Fatal(code)
	}
}

func TestDrillCommand(t *testing.T) {
	out, _, err := run(t, []string{"PATH=/usr/bin"}, "drill", "--config", "../drill/testdata/drill.yaml", "--scenario", "primary-down",
		"--duration", "2s", "--rps", "20", "--format", "json", "--quiet")
	if err != nil {
		t.Fatalf("kt drill: %v\n%s", err, out)
	}
	var rep struct {
		Scenario   string         `json:"scenario"`
		Sent       int            `json:"sent"`
		Succeeded  int            `json:"succeeded"`
		AnsweredBy map[string]int `json:"answered_by"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--format json: %v\n%s", err, out)
	}
	if rep.Scenario != "primary-down" || rep.Sent == 0 || rep.Succeeded != rep.Sent || rep.AnsweredBy["anthropic-fallback"] == 0 {
		t.Fatalf("report: %+v", rep)
	}
	if _, _, err := run(t, nil, "drill", "--config", "../drill/testdata/drill.yaml", "--scenario", "nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

// TestDrillStreamScenario runs a stream scenario through the command: all
// streams unless --stream-share is given, the overrides it needed listed,
// and the recorded figures in the JSON.
func TestDrillStreamScenario(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		share float64
	}{
		{"default share", nil, 1},
		{"share given", []string{"--stream-share", "0.5"}, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"drill", "--config", "../drill/testdata/drill.yaml", "--scenario", "cut",
				"--duration", "2s", "--rps", "20", "--format", "json", "--quiet"}, tc.args...)
			out, _, err := run(t, []string{"PATH=/usr/bin"}, args...)
			if err != nil {
				t.Fatalf("kt drill: %v\n%s", err, out)
			}
			var rep struct {
				StreamShare   float64                           `json:"stream_share"`
				Sent          int                               `json:"sent"`
				Succeeded     int                               `json:"succeeded"`
				Overrides     []struct{ Setting, Value string } `json:"overrides"`
				Continuations *struct {
					OK int `json:"ok"`
				} `json:"continuations"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--format json: %v\n%s", err, out)
			}
			if rep.StreamShare != tc.share || rep.Sent == 0 || rep.Succeeded != rep.Sent || rep.Continuations == nil {
				t.Fatalf("report: %+v\n%s", rep, out)
			}
			if len(rep.Overrides) != 1 || rep.Overrides[0].Setting != "failover.midstream.enabled" || rep.Overrides[0].Value != "true" {
				t.Fatalf("overrides: %+v", rep.Overrides)
			}
		})
	}
}
