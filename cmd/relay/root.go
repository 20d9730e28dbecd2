package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// refuseUnknownSubcommands makes a group of commands (`relay executions`)
// given a word that is none of its subcommands fail naming it, instead of
// printing its help and exiting 0 as cobra does below the root: a typo in
// a script must not pass for success.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if cmd == cmd.Root() || !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2 // cobra's default, which only the root gets
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		hint := fmt.Sprintf("see `%s --help`", cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf("did you mean `%s %s`?", cmd.CommandPath(), s[0])
		}
		return &exitError{code: exitInvalid, err: fmt.Errorf("unknown command %q for %q (%s)", args[0], cmd.CommandPath(), hint)}
	}
}
