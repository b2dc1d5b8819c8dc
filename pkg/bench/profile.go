package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// profile runs one extra c=50 point against the profiled target under
// `perf record` (the gateway has no pprof endpoint, and perf needs none)
// and keeps the top functions by self time. The point is not reported:
// perf's sampling costs the target CPU.
func (b *bench) profile(ctx context.Context) error {
	name := b.o.ProfileTarget
	t, ok := b.targets[name]
	if !ok || t.pid == 0 {
		return fmt.Errorf("no %s process to profile (is a scenario that starts it selected?)", name)
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		return errors.New("perf not found (apt-get install linux-perf)")
	}
	out, err := filepath.Abs(b.o.Profile)
	if err != nil {
		return fmt.Errorf("profile path: %w", err)
	}
	logf, err := os.Create(filepath.Join(b.work, "perf.log"))
	if err != nil {
		return fmt.Errorf("perf log: %w", err)
	}
	defer logf.Close()
	var rec *exec.Cmd
	var recErr error
	hooks := &windowHooks{
		start: func() {
			// perf samples the pid for as long as its command runs; a
			// signal could arrive before perf is set up and kill it.
			secs := strconv.FormatFloat(b.o.Duration.Seconds(), 'f', 3, 64)
			rec = exec.Command(perf, "record", "-F", "499", "-g", "-p", strconv.Itoa(t.pid), "-o", out, "--", "sleep", secs)
			rec.Stdout, rec.Stderr = logf, logf
			recErr = rec.Start()
		},
		end: func() {
			if recErr == nil {
				recErr = rec.Wait()
			}
		},
	}
	b.logf("profiling %s (pid %d) with perf during one extra c50 point", name, t.pid)
	if _, err := b.measure(ctx, "profile", 50, false, t, 0, hooks); err != nil {
		return err
	}
	if recErr != nil {
		return fmt.Errorf("perf record: %w", recErr)
	}
	rep, err := exec.CommandContext(ctx, perf, "report", "-i", out, "--stdio", "--no-children", "-g", "none",
		"--sort", "symbol", "--percent-limit", "0").Output()
	if err != nil {
		return fmt.Errorf("perf report: %w", err)
	}
	b.rep.ProfileTarget = name
	b.rep.Profile = fmt.Sprintf("perf record -F 499 -g -p <%s> for %s at c=50; perf report -i %s --no-children --sort symbol\n%s",
		name, b.o.Duration, out, summarizePerf(string(rep), 25, 12))
	return nil
}

// perfLine is one symbol of a flat perf report.
type perfLine struct {
	pct    float64
	kernel bool
	symbol string
}

// parsePerfReport reads `perf report --stdio --sort symbol -g none` lines:
// "  12.34%  [.] symbol  ...". Other lines are skipped.
func parsePerfReport(report string) []perfLine {
	var out []perfLine
	for line := range strings.SplitSeq(report, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") || (f[1] != "[.]" && f[1] != "[k]") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		out = append(out, perfLine{pct: pct, kernel: f[1] == "[k]", symbol: f[2]})
	}
	return out
}

// goPackage returns the package of a Go symbol
// ("github.com/a/b/pkg/router.(*Router).Do" → "github.com/a/b/pkg/router"),
// or "" for a symbol that is not Go's.
func goPackage(sym string) string {
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot <= 0 {
		return ""
	}
	return sym[:slash+1+dot]
}

// summarizePerf condenses a flat perf report: kernel against user time, the
// top symbols, and user time by Go package (what pprof -top would group).
func summarizePerf(report string, topSymbols, topPackages int) string {
	lines := parsePerfReport(report)
	var kernel, user float64
	byPkg := map[string]float64{}
	for _, l := range lines {
		if l.kernel {
			kernel += l.pct
			continue
		}
		user += l.pct
		pkg := goPackage(l.symbol)
		if pkg == "" {
			pkg = "(not Go: vdso, libc, assembly stubs)"
		}
		byPkg[pkg] += l.pct
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kernel %.1f%%, user %.1f%%\n\ntop symbols (self):\n", kernel, user)
	for i, l := range lines {
		if i == topSymbols {
			break
		}
		side := "[.]"
		if l.kernel {
			side = "[k]"
		}
		fmt.Fprintf(&b, "%6.2f%%  %s %s\n", l.pct, side, l.symbol)
	}
	pkgs := make([]string, 0, len(byPkg))
	for p := range byPkg {
		pkgs = append(pkgs, p)
	}
	slices.SortFunc(pkgs, func(a, c string) int {
		if d := cmp.Compare(byPkg[c], byPkg[a]); d != 0 {
			return d
		}
		return strings.Compare(a, c)
	})
	b.WriteString("\nuser time by package (self):\n")
	for i, p := range pkgs {
		if i == topPackages {
			break
		}
		fmt.Fprintf(&b, "%6.2f%%  %s\n", byPkg[p], p)
	}
	return strings.TrimRight(b.String(), "\n")
}
