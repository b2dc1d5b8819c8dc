package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// Main runs the ktbench command line (args without the program name): the
// harness by default, or one of the hidden subcommands it starts itself
// as separate processes, `upstream` and `rproxy`.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "upstream":
			return upstreamMain(ctx, args[1:], stdout, stderr)
		case "rproxy":
			return rproxyMain(ctx, args[1:], stdout, stderr)
		}
	}
	return runMain(ctx, args, stdout, stderr, getenv)
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("ktbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: ktbench [flags]

Measures, interleaved in one run, a fast local upstream called directly,
through a bare Go httputil.ReverseProxy, and through the kt gateway (plus kt
variants: failover path, telemetry, events, content filter), and prints
markdown tables with ratios against the reverse proxy. 127.0.0.1 only.

`)
		fs.PrintDefaults()
	}
	var (
		o         Options
		scenarios string
		out       string
		quick     bool
	)
	fs.StringVar(&scenarios, "scenarios", strings.Join(Scenarios(), ","), "comma-separated scenarios: "+strings.Join(Scenarios(), ", "))
	fs.IntVar(&o.Reps, "reps", 3, "repetitions of the whole matrix (medians reported)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measurement window per point")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unrecorded warm-up before each window")
	fs.Int64Var(&o.MaxRequests, "max-requests", 2_000_000, "cap on the requests of one point")
	fs.StringVar(&o.Kt, "kt", "", "kt binary to measure (default: go build ./cmd/kt into a scratch dir)")
	fs.StringVar(&o.Upstream, "upstream", UpstreamMock, "upstream: mock (minimal, pre-rendered) or sim (pkg/sim, zero latency)")
	fs.IntVar(&o.Chunks, "chunks", 20, "content chunks per mock stream")
	fs.BoolVar(&o.Pin, "pin", true, "pin targets to cpu1 and the harness to cpu0 with taskset (when there are 2+ CPUs)")
	fs.StringVar(&o.Profile, "profile", "", "write a perf.data of -profile-target during an extra c50 point to this file and print its top functions")
	fs.StringVar(&o.ProfileTarget, "profile-target", "kt", "target -profile records: rproxy or one of "+strings.Join(ktTargets, ", "))
	fs.BoolVar(&o.KeepWork, "keep", false, "keep the scratch directory (configs, logs, event stores)")
	fs.StringVar(&out, "out", getenv("BENCH_OUT"), "also write the markdown report to this file (default $BENCH_OUT)")
	fs.BoolVar(&quick, "quick", false, "tiny points (300ms + 100ms warm-up, 1 rep) to check the harness, not to measure")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.Duration = 300 * time.Millisecond
		}
		if !set["warmup"] {
			o.Warmup = 100 * time.Millisecond
		}
		if !set["reps"] {
			o.Reps = 1
		}
	}
	o.Scenarios = strings.Split(scenarios, ",")
	o.Log = stderr
	rep, err := Run(ctx, o)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := Render(&buf, rep); err != nil {
		return err
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Fprintf(stderr, "[ktbench] wrote %s\n", out)
	}
	return nil
}

// upstreamMain serves the fast upstream until ctx is done.
func upstreamMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ktbench upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", UpstreamMock, "mock or sim")
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	chunks := fs.Int("chunks", 20, "content chunks per mock stream")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *kind {
	case UpstreamMock:
		return serveUntilDone(ctx, *listen, NewMock(*chunks), stdout)
	case UpstreamSim:
		if err := checkLoopback("http://" + *listen); err != nil {
			return err
		}
		srv, err := sim.Start(ctx, *listen, "", sim.New(sim.Options{Kind: sim.KindOpenAI}))
		if err != nil {
			return fmt.Errorf("start sim: %w", err)
		}
		fmt.Fprintln(stdout, readyPrefix+srv.URL())
		<-ctx.Done()
		return srv.Close()
	}
	return fmt.Errorf("unknown upstream kind %q (want mock or sim)", *kind)
}

// rproxyMain serves the bare reverse proxy until ctx is done.
func rproxyMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ktbench rproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	upstream := fs.String("upstream", "", "upstream base URL (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*upstream); err != nil {
		return err
	}
	u, err := url.Parse(*upstream)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	return serveUntilDone(ctx, *listen, newReverseProxy(u), stdout)
}

// serveUntilDone serves h, announces the URL on stdout, and shuts down when
// ctx is done.
func serveUntilDone(ctx context.Context, listen string, h http.Handler, stdout io.Writer) error {
	s, err := startServer(listen, h)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, readyPrefix+s.url)
	select {
	case <-ctx.Done():
	case err := <-s.done:
		return fmt.Errorf("serve: %w", err)
	}
	if err := s.close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
