package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// startSim runs `kt sim` on free loopback ports with environ and returns its
// admin URL; the command stops when the test ends.
func startSim(t *testing.T, environ []string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := MainEnv(ctx, []string{"sim", "--kind", "openai", "--host", "127.0.0.1", "--port", "0", "--admin-port", "0"}, io.Discard, pw, environ)
		_ = pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kt sim: %v", err)
		}
	})
	// The ready line carries admin=http://...; then keep draining stderr.
	sc := bufio.NewScanner(pr)
	admin := ""
	for admin == "" && sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), " admin="); ok && strings.Contains(sc.Text(), "provider ready") {
			admin, _, _ = strings.Cut(rest, " ")
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if admin == "" {
		cancel()
		t.Fatalf("kt sim never reported its admin URL: %v", <-done)
	}
	return admin
}

func adminGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSimAdminGuard(t *testing.T) {
	const token = "canary-sim-admin-token-93be"
	t.Run("loopback without token is open", func(t *testing.T) {
		admin := startSim(t, nil)
		for _, p := range []string{"/stats", "/fault", "/healthz"} {
			if code, body := adminGet(t, admin+p, ""); code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", p, code, body)
			}
		}
	})
	t.Run("token from KEEPTRUSTS_ADMIN_TOKEN is required", func(t *testing.T) {
		admin := startSim(t, []string{"KEEPTRUSTS_ADMIN_TOKEN=" + token})
		for _, p := range []string{"/stats", "/fault"} {
			for _, presented := range []string{"", "wrong-" + token} {
				code, body := adminGet(t, admin+p, presented)
				if code != http.StatusUnauthorized || strings.Contains(body, token) {
					t.Fatalf("GET %s with %q: %d %s", p, presented, code, body)
				}
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "invalid_admin_token" {
					t.Fatalf("GET %s: body %s (%v)", p, body, err)
				}
			}
			if code, body := adminGet(t, admin+p, token); code != http.StatusOK {
				t.Fatalf("GET %s with the token: %d %s", p, code, body)
			}
		}
		// The health check stays open for container probes.
		if code, body := adminGet(t, admin+"/healthz", ""); code != http.StatusOK {
			t.Fatalf("GET /healthz: %d %s", code, body)
		}
	})
}

func TestGetenvFrom(t *testing.T) {
	environ := []string{"A=1", "KEEPTRUSTS_ADMIN_TOKEN=x", "B", "KEEPTRUSTS_ADMIN_TOKEN=y=z"}
	for key, want := range map[string]string{"A": "1", "KEEPTRUSTS_ADMIN_TOKEN": "y=z", "B": "", "C": ""} {
		if got := getenvFrom(environ, key); got != want {
			t.Errorf("getenvFrom(%s) = %q, want %q", key, got, want)
		}
	}
}
