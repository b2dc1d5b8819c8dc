package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHotReload runs the gateway as a process and changes its configuration
// file under it: a valid change (the primary's key, the mapping) is
// picked up by the file watch; an invalid file is rejected with lint-style
// errors while the previous configuration keeps serving; with the watch
// off, SIGHUP applies the file.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	state := "XDG_STATE_HOME=" + filepath.Join(dir, "state")
	oaPort, anPort := freePort(t), freePort(t)
	startSim(t, "openai", oaPort, openAIKey)
	startSim(t, "anthropic", anPort, anthropicKey)
	keys := []string{"OPENAI_API_KEY=" + openAIKey, "ANTHROPIC_API_KEY=" + anthropicKey, "OPENAI_REVOKED_KEY=sk-revoked", state}

	base := fmt.Sprintf(tutorialConfig, oaPort, anPort)
	// swapped gives the primary a key its provider refuses (so requests
	// fail over) and maps to another model on the fallback.
	swapped := strings.NewReplacer(
		"env: OPENAI_API_KEY", "env: OPENAI_REVOKED_KEY",
		"gpt-4o-mini: claude-sonnet-4-20250514", "gpt-4o-mini: claude-3-5-haiku-latest",
	).Replace(base)
	const invalid = "version: '1'\nproviders:\n  targets:\n    - id: Primary\n      provider: opena\n"

	write := func(t *testing.T, path, content string) {
		t.Helper()
		// Write and rename, as editors and Kubernetes do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	ask := func(t *testing.T, gwURL string) answer {
		t.Helper()
		var a answer
		if code := httpJSON(t, "POST", gwURL+"/v1/chat/completions", step4Body, &a); code != 200 {
			t.Fatalf("chat: HTTP %d", code)
		}
		return a
	}

	t.Run("file watch", func(t *testing.T) {
		cfg := filepath.Join(dir, "watched.yaml")
		write(t, cfg, base)
		port := freePort(t)
		gwURL := fmt.Sprintf("http://127.0.0.1:%d", port)
		gw := startGateway(t, keys, cfg, "--port", fmt.Sprint(port))
		if a := ask(t, gwURL); a.Metadata.Provider != "openai-primary" {
			t.Fatalf("before reload: %+v", a.Metadata)
		}

		write(t, cfg, swapped)
		waitFor(t, "the watched change to apply", 15*time.Second, func() bool {
			return ask(t, gwURL).Metadata.Provider == "anthropic-fallback"
		})
		if a := ask(t, gwURL); a.Model != "claude-3-5-haiku-latest" {
			t.Fatalf("mapping not reloaded: model %s", a.Model)
		}
		if !strings.Contains(gw.Output(), "Configuration reloaded") {
			t.Fatalf("no reload log:\n%s", gw.Output())
		}

		write(t, cfg, invalid)
		waitFor(t, "the invalid file to be rejected", 15*time.Second, func() bool {
			return strings.Contains(gw.Output(), "Configuration rejected; still serving the previous configuration")
		})
		out := gw.Output()
		for _, want := range []string{"providers.targets[0].id", "providers.targets[0].provider", `unknown provider "opena"`} {
			if !strings.Contains(out, want) {
				t.Errorf("rejection log lacks %q:\n%s", want, out)
			}
		}
		if a := ask(t, gwURL); a.Metadata.Provider != "anthropic-fallback" || a.Model != "claude-3-5-haiku-latest" {
			t.Fatalf("previous configuration not serving after a rejected reload: %+v", a)
		}
		stop(t, gw)
	})

	t.Run("SIGHUP", func(t *testing.T) {
		cfg := filepath.Join(dir, "hup.yaml")
		noWatch := "reload:\n  watch: false\n"
		write(t, cfg, base+noWatch)
		port := freePort(t)
		gwURL := fmt.Sprintf("http://127.0.0.1:%d", port)
		gw := startGateway(t, keys, cfg, "--port", fmt.Sprint(port))
		write(t, cfg, swapped+noWatch)
		if err := gw.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "SIGHUP reload", 15*time.Second, func() bool { return strings.Contains(gw.Output(), "Configuration reloaded") })
		if a := ask(t, gwURL); a.Metadata.Provider != "anthropic-fallback" || a.Model != "claude-3-5-haiku-latest" {
			t.Fatalf("after SIGHUP: %+v", a)
		}
		if strings.Contains(gw.Output(), "file change") {
			t.Error("reload.watch: false still watched the file")
		}
		stop(t, gw)
	})
}
