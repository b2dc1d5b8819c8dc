package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/sim"
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

func TestSimFaults(t *testing.T) {
	cases := []struct {
		name     string
		specs    []string
		params   sim.Fault
		flagsSet bool
		want     []sim.Fault
		wantErr  string
	}{
		{name: "none given", want: nil},
		{name: "bare kind with flags", specs: []string{"error"}, params: sim.Fault{Status: 529}, flagsSet: true,
			want: []sim.Fault{{Kind: sim.FaultError, Status: 529}}},
		{name: "specs per model", specs: []string{"error:500,count=1", "model=gpt-4o:stall:5", "cut:2,model=llama3:8b"},
			want: []sim.Fault{{Kind: sim.FaultError, Status: 500, Count: 1}, {Kind: sim.FaultStall, AfterChunks: 5, Model: "gpt-4o"}, {Kind: sim.FaultCut, AfterChunks: 2, Model: "llama3:8b"}}},
		{name: "flags without a bare kind", specs: []string{"error:503"}, params: sim.Fault{Status: 500}, flagsSet: true, wantErr: "need a bare --fault"},
		{name: "flags with several faults", specs: []string{"error", "model=a:hang"}, flagsSet: true, wantErr: "need a single --fault"},
		{name: "flag the kind does not use", specs: []string{"hang"}, params: sim.Fault{Status: 500}, flagsSet: true, wantErr: "status: not used"},
		{name: "two simulator-wide", specs: []string{"error:500", "hang"}, wantErr: "already has a fault"},
		{name: "bad spec", specs: []string{"stall:soon"}, wantErr: "--fault stall:soon"},
		{name: "unknown bare kind", specs: []string{"explode"}, wantErr: "unknown fault kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := simFaults(tc.specs, tc.params, tc.flagsSet)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
