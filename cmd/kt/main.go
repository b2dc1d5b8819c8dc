// Command kt is the Keeptrusts gateway CLI: run the gateway, lint its
// configuration, simulate providers and tail request events.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/keeptrusts/gateway/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
