// Command ktbench measures what the kt gateway adds over calling its
// upstream directly and over a bare Go reverse proxy, all in one run on this
// machine (see pkg/bench). `make bench` runs it; BENCH_OUT=file saves the
// markdown report.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/keeptrusts/gateway/pkg/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ktbench: "+err.Error())
		os.Exit(1)
	}
}
