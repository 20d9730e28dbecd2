// Command relay is Relay's command-line interface: it validates flows and
// prints the flow language's JSON Schema and reference.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGTERM (what timeout, systemd and CI send) stops a command as Ctrl-C
	// does: `relay run` kills its execution and saves it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
