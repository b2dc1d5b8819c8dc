package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeConfig has an OpenAI primary on a port nothing listens on (down) and
// the Anthropic simulator as the fallback, as in the tutorial's step 5.
// Probes are off so that every request fails over the same way.
const nodeConfig = `version: '1'
providers:
  targets:
    - id: openai-primary
      provider: openai
      base_url: http://127.0.0.1:%d/v1
      secret_key_ref: {env: OPENAI_API_KEY}
      health_check: {enabled: false}
    - id: anthropic-fallback
      provider: anthropic
      base_url: http://127.0.0.1:%d
      secret_key_ref: {env: ANTHROPIC_API_KEY}
      health_check: {enabled: false}
  failover:
    model_mapping:
      gpt-4o-mini: claude-sonnet-4-20250514
    retry: {max_attempts: 1, timeout_seconds: 10}
`

// TestNodeSDK runs e2e/node/sdk.test.mjs, the official OpenAI Node SDK
// against kt gateway run with an Anthropic-shaped `kt sim` behind it. It
// needs node on PATH and `npm ci --prefix e2e/node` done; without them it
// skips.
func TestNodeSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "openai", "package.json")); err != nil {
		t.Skip("e2e/node/node_modules is missing: run npm ci --prefix e2e/node")
	}

	downPort, anPort, gwPort := freePort(t), freePort(t), freePort(t)
	startSim(t, "anthropic", anPort, anthropicKey)
	cfgPath := filepath.Join(t.TempDir(), "policy-config.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, nodeConfig, downPort, anPort), 0o600); err != nil {
		t.Fatal(err)
	}
	startGateway(t, []string{"OPENAI_API_KEY=" + openAIKey, "ANTHROPIC_API_KEY=" + anthropicKey}, cfgPath, "--port", fmt.Sprint(gwPort))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "e2e/node/sdk.test.mjs")
	cmd.Dir = ".." // the repository root, so the command reads as a person would type it
	cmd.Env = append(os.Environ(), fmt.Sprintf("KT_GATEWAY_URL=http://127.0.0.1:%d", gwPort))
	// node --test runs the file in a child process; don't wait on it for
	// ever if the parent is killed.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test e2e/node/sdk.test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestNodeFrontDoor runs e2e/node/frontdoor.test.mjs: the official
// Anthropic and OpenAI Node SDKs against every model endpoint, with the
// gateway and simulators of TestFrontDoorSDKs (its own processes). Same
// skip rules as TestNodeSDK.
func TestNodeFrontDoor(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	for _, pkg := range []string{"openai", "@anthropic-ai/sdk"} {
		if _, err := os.Stat(filepath.Join("node", "node_modules", pkg, "package.json")); err != nil {
			t.Skip("e2e/node/node_modules is missing: run npm ci --prefix e2e/node")
		}
	}
	fd := startFrontDoor(t)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "e2e/node/frontdoor.test.mjs")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(),
		"KT_GATEWAY_URL="+fd.url,
		"KT_SIM_OPENAI_A_ADMIN="+fd.oaA.admin,
		"KT_SIM_OPENAI_B_ADMIN="+fd.oaB.admin,
		"KT_SIM_ANTHROPIC_ADMIN="+fd.an.admin,
		fmt.Sprintf("KT_SIM_ANTHROPIC_URL=http://127.0.0.1:%d", fd.an.port),
		"KT_SIM_ANTHROPIC_KEY="+anthropicKey,
	)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test e2e/node/frontdoor.test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
