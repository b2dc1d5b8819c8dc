package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyPrefix starts the line a harness subcommand prints on stdout once it
// listens: "ready http://127.0.0.1:port".
const readyPrefix = "ready "

// startTimeout bounds how long a child may take to become ready.
const startTimeout = 30 * time.Second

// child is a process the harness started and must stop.
type child struct {
	name    string
	cmd     *exec.Cmd
	pid     int
	url     string // base URL, http://127.0.0.1:port
	logPath string
	logFile *os.File
	copied  chan struct{} // closed when stdout is drained into the log
	exited  chan struct{} // closed when the process has been waited for
	waitErr error
}

// childSpec says how to start a child.
type childSpec struct {
	name string
	argv []string
	env  []string
	// cpu pins the child with taskset -c; -1 leaves it unpinned.
	cpu     int
	logPath string
	// dir is the working directory; "" is the harness's.
	dir string
	// readyLine: the child prints readyPrefix+URL on stdout. Otherwise
	// readyURL is polled (GET must answer 200) and url is the child's URL.
	readyLine bool
	readyURL  string
	url       string
}

// startChild starts a process and waits until it is ready to serve.
func startChild(ctx context.Context, sp childSpec) (*child, error) {
	argv := sp.argv
	if sp.cpu >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(sp.cpu)}, argv...)
	}
	lf, err := os.Create(sp.logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create log: %w", sp.name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = sp.env
	cmd.Dir = sp.dir
	cmd.Stderr = lf
	cmd.SysProcAttr = childSysProcAttr()
	c := &child{name: sp.name, cmd: cmd, logPath: sp.logPath, logFile: lf, url: sp.url,
		copied: make(chan struct{}), exited: make(chan struct{})}
	var stdout io.ReadCloser
	if sp.readyLine {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			_ = lf.Close()
			return nil, fmt.Errorf("%s: stdout pipe: %w", sp.name, err)
		}
	} else {
		cmd.Stdout = lf
		close(c.copied)
	}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("%s: start: %w", sp.name, err)
	}
	// taskset execs the command, so the pid is the child's own.
	c.pid = cmd.Process.Pid
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	ready := make(chan string, 1)
	if sp.readyLine {
		go func() {
			defer close(c.copied)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				if u, ok := strings.CutPrefix(line, readyPrefix); ok {
					select {
					case ready <- u:
					default:
					}
					continue
				}
				fmt.Fprintln(lf, line)
			}
			// Keep the pipe drained whatever the child writes.
			_, _ = io.Copy(lf, stdout)
		}()
	}
	fail := func(err error) (*child, error) {
		_ = c.stop()
		return nil, fmt.Errorf("%s: %w%s", sp.name, err, c.logTail())
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if sp.readyLine {
		select {
		case u := <-ready:
			c.url = u
		case <-c.exited:
			return fail(fmt.Errorf("exited before it was ready: %v", c.waitErr))
		case <-sctx.Done():
			return fail(fmt.Errorf("not ready: %w", sctx.Err()))
		}
	} else if err := pollReady(sctx, sp.readyURL, c.exited); err != nil {
		return fail(err)
	}
	if err := checkLoopback(c.url); err != nil {
		return fail(err)
	}
	return c, nil
}

// pollReady GETs u until it answers 200, the process exits or ctx ends.
func pollReady(ctx context.Context, u string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready at %s: %w", u, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop ends the process: SIGTERM, then SIGKILL if it has not exited within
// a few seconds. Only this process is signalled, by its pid.
func (c *child) stop() error {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(5 * time.Second)
		select {
		case <-c.exited:
			t.Stop()
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	<-c.copied
	return c.logFile.Close()
}

// alive reports whether the process is still running.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// logTail returns the end of the child's log for an error message.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	const n = 1500
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return "\n--- " + c.logPath + " (tail) ---\n" + strings.TrimRight(string(b), "\n")
}

// freePort returns a loopback port that was free a moment ago, for a child
// that cannot report the port it picked (kt takes --port).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
