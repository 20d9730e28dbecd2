package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// run executes the CLI with args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "relay",
		Short:         "Relay: an event-driven serverless flow orchestrator",
		Long:          "Relay runs flows declared in YAML (Kestra-compatible) as short-lived function invocations,\nwith execution state in DynamoDB and CloudEvents on Kafka.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().String("data-dir", "", "directory of the embedded store (default $RELAY_DATA_DIR, else ~/.relay)")
	root.PersistentFlags().BoolP("verbose", "v", false, "log the engine's own debug messages")
	targetFlags(root)
	root.AddCommand(validateCmd(), schemaCmd(), docsCmd(), runCmd(), serverCmd(), devCmd(), emitCmd(), flowsCmd(), executionsCmd(), logsCmd(), triggersCmd(), uiCmd())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "relay:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "relay:", err)
	return 2
}
