// Package proctest runs the project's programs (and the real observability
// components) as processes in end-to-end tests: output captured for failure
// messages, a graceful stop when the test ends, free loopback ports.
package proctest

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const stopTimeout = 10 * time.Second

// Proc is a started process.
type Proc struct {
	// Name labels the process in failure messages.
	Name string
	// Cmd is the running command.
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// Start starts path with args, the environment plus env (later entries
// win), and stops it when the test ends; its output is logged if the test
// failed.
func Start(t testing.TB, name string, env []string, path string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: exec.Command(path, args...), done: make(chan struct{})}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p, p
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			out := p.Output()
			if len(out) > 6000 {
				out = "...\n" + out[len(out)-6000:]
			}
			t.Logf("--- %s output:\n%s", name, out)
		}
	})
	return p
}

// Write collects the process's output.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits; after stopTimeout it kills the process. It
// reports whether the process stopped on SIGTERM (or had already exited).
func (p *Proc) Stop() bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(stopTimeout):
		p.Kill()
		return false
	}
}

// Kill sends SIGKILL (a crash) and waits for the exit.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// FreePort returns a loopback port nobody listens on right now, for a
// process the test starts next. It is picked below the kernel's ephemeral
// range where there is one: a port from the range (what ":0" gives) can be
// taken in the meantime as the source port of any outgoing connection on
// the machine (a probe, a client), which failed a CI run when the collector
// found its health port in use.
func FreePort(t testing.TB) int {
	t.Helper()
	lo := ephemeralLow()
	if lo > minPort+1000 {
		for range 200 {
			port := minPort + rand.IntN(lo-minPort)
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				_ = l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// minPort is the lowest port FreePort picks: above the well-known and most
// registered service ports.
const minPort = 20000

// ephemeralLow is the lowest port of the kernel's ephemeral range, 0 when
// unknown (not Linux).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}
