// Package reliability holds the gateway's hostile-input and resource-leak
// tests, run against an in-process stack (kt sim upstreams and a gateway on
// 127.0.0.1, see drill.StartStack).
package reliability

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/internal/proctest"
	"github.com/keeptrusts/gateway/pkg/drill"
	"github.com/keeptrusts/gateway/pkg/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startStack starts two simulators and a gateway with testdata/gateway.yaml.
func startStack(t *testing.T) *drill.Stack {
	t.Helper()
	return startStackWith(t, "gateway.yaml")
}

// startStackWith starts two simulators and a gateway with testdata/file.
func startStackWith(t *testing.T, file string) *drill.Stack {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	st, err := drill.StartStack(context.Background(), drill.StackOptions{File: file, Data: data, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	waitReady(t, st.GatewayURL)
	return st
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func setFault(t *testing.T, admin string, f sim.Fault) {
	t.Helper()
	proctest.Admin(t, http.MethodPut, admin+"/fault", f)
}

func simStats(t *testing.T, admin string) sim.Stats {
	t.Helper()
	var st sim.Stats
	if err := json.Unmarshal(proctest.Admin(t, http.MethodGet, admin+"/stats", nil), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// chatBody is a chat request with the given model and user content.
func chatBody(model, content string, stream bool) string {
	m, _ := json.Marshal(model)
	c, _ := json.Marshal(content)
	s := `{"model":` + string(m) + `,"messages":[{"role":"user","content":` + string(c) + `}]`
	if stream {
		s += `,"stream":true`
	}
	return s + "}"
}

func post(t *testing.T, c *http.Client, url, body string, hdr http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func simFault500() sim.Fault { return sim.Fault{Kind: sim.FaultError, Status: 500} }
