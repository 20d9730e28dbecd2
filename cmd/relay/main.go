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
	os.Exit(run(signalContext(), os.Args[1:], os.Stdout, os.Stderr))
}

// signalContext ends at the first Ctrl-C (SIGINT) or SIGTERM, which
// commands treat alike: relay run and executions resume kill the
// execution and save it, relay server and relay dev stop cleanly, handing
// back what runs. A second signal stops the process at once, as the
// default handling of the signal does.
func signalContext() context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx
}
