package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/infra/embedded"
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
	refuseUnknownSubcommands(root)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: exitInvalid, err: err}
	}
	switch {
	case errors.Is(err, embedded.ErrLocked) && ee.code != exitLocked:
		ee = &exitError{code: exitLocked, err: err}
	case errors.Is(err, syscall.ECONNREFUSED) && ee.code != exitUnreachable:
		ee = &exitError{code: exitUnreachable, err: fmt.Errorf("%w\nno Relay server answers there: start one (relay server, relay dev) or check --api / $%s", err, EnvAPI)}
	}
	if ee.err != nil && ee.err.Error() != "" {
		fmt.Fprintln(stderr, "relay:", ee.err)
	}
	return ee.code
}

// refuseUnknownSubcommands makes a command that only groups others (relay
// flows, relay executions) fail on a subcommand it does not have, instead
// of printing its help and succeeding.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if cmd.HasParent() && cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			return &exitError{code: exitInvalid, err: fmt.Errorf("unknown command %q for %q (it has: %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))}
		}
	}
}
