package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// childEnv is the children's environment: the harness's, without the
// variables that would change what is measured (KT_ overrides the config,
// OTEL_ turns telemetry on), plus the upstream key and a HOME inside the
// scratch directory so that no default path (e.g. an event store) lands in
// the user's home.
func childEnv(environ []string, work string) []string {
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(k)
		if strings.HasPrefix(u, "KT_") || strings.HasPrefix(u, "OTEL_") || u == "HOME" || u == benchKeyEnv {
			continue
		}
		env = append(env, kv)
	}
	return append(env, benchKeyEnv+"=sk-bench", "HOME="+filepath.Join(work, "home"))
}

// ktBinary returns the kt binary to measure, building it when none is given.
func (b *bench) ktBinary(ctx context.Context) (string, error) {
	if b.o.Kt != "" {
		p, err := filepath.Abs(b.o.Kt)
		if err != nil {
			return "", fmt.Errorf("kt path: %w", err)
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("kt binary: %w", err)
		}
		return p, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the gateway module: run from the repository or pass -kt PATH")
	}
	p := filepath.Join(b.work, "kt")
	b.logf("building kt into %s", p)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", p, "./cmd/kt")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/kt: %w\n%s", err, out)
	}
	return p, nil
}

// pinning pins this process (load generator and in-process sink) and
// returns the CPUs for the upstream and for the targets; -1 means unpinned.
func (b *bench) pinning() (lgCPU, sutCPU int) {
	n := runtime.NumCPU()
	ts, err := exec.LookPath("taskset")
	switch {
	case !b.o.Pin:
		b.rep.Pinning = "none (-pin=false)"
		return -1, -1
	case err != nil:
		b.rep.Pinning = "none (taskset not found)"
		return -1, -1
	case n < 2:
		b.rep.Pinning = "none (one CPU)"
		return -1, -1
	}
	// -a: every thread of this process, so the Go runtime's threads are
	// all confined and new ones inherit the mask.
	if out, err := exec.Command(ts, "-a", "-p", "-c", "0", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		b.rep.Pinning = fmt.Sprintf("targets cpu1 only (pinning the harness failed: %v: %s)", err, firstLines(string(out), 1))
		return -1, 1
	}
	b.rep.Pinning = "load generator + upstream cpu0, targets cpu1 (taskset)"
	return 0, 1
}

// selfArgv returns the command line of a harness subcommand.
func (b *bench) selfArgv(args ...string) ([]string, error) {
	self := b.o.Self
	if len(self) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		self = []string{exe}
	}
	return append(slices.Clone(self), args...), nil
}

func (b *bench) start(ctx context.Context, sp childSpec) (*child, error) {
	sp.logPath = filepath.Join(b.work, sp.name+".log")
	c, err := startChild(ctx, sp)
	if err != nil {
		return nil, err
	}
	b.children = append(b.children, c)
	b.logf("%s ready at %s (pid %d)", sp.name, c.url, c.pid)
	return c, nil
}

func (b *bench) startUpstream(ctx context.Context, cpu int) error {
	argv, err := b.selfArgv("upstream", "--kind", b.o.Upstream, "--listen", "127.0.0.1:0", "--chunks", strconv.Itoa(b.o.Chunks))
	if err != nil {
		return err
	}
	b.up, err = b.start(ctx, childSpec{name: "upstream", argv: argv, env: append(slices.Clone(b.env), b.o.SelfEnv...), cpu: cpu, readyLine: true})
	return err
}

func (b *bench) startRProxy(ctx context.Context, cpu int) error {
	argv, err := b.selfArgv("rproxy", "--listen", "127.0.0.1:0", "--upstream", b.up.url)
	if err != nil {
		return err
	}
	c, err := b.start(ctx, childSpec{name: targetRProxy, argv: argv, env: append(slices.Clone(b.env), b.o.SelfEnv...), cpu: cpu, readyLine: true})
	if err != nil {
		return err
	}
	b.targets[targetRProxy] = &target{name: targetRProxy, url: c.url + chatPath, pid: c.pid, child: c}
	return nil
}
