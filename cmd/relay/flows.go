package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/engine"
)

func flowsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "flows", Short: "Manage stored flows"}
	cmd.AddCommand(&cobra.Command{
		Use:   "deploy FILE|DIR...",
		Short: "Validate flows and store them as new revisions (embedded store, or a deployment with --api/--direct)",
		Args:  cobra.MinimumNArgs(1),
		RunE: onTarget(func(cmd *cobra.Command, t *target, args []string) error {
			save := func(file string, src []byte) (engine.FlowRecord, error) {
				return t.cp.DeployFlow(cmd.Context(), file, src)
			}
			for _, a := range args {
				if err := deployDir(cmd, save, a, cmd.OutOrStdout()); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			return nil
		}),
	})
	return cmd
}

// deployDir validates and stores every flow under path (a file or a
// directory); nothing is stored unless all of them are valid.
func deployDir(cmd *cobra.Command, save func(file string, src []byte) (engine.FlowRecord, error), path string, out io.Writer) error {
	files, err := flowFiles([]string{path})
	if err != nil {
		return err
	}
	sources := make([][]byte, len(files))
	bad := 0
	owner := map[string]string{} // namespace/id -> the file that defines it
	for i, file := range files {
		if sources[i], err = os.ReadFile(file); err != nil {
			return fmt.Errorf("reading flow: %w", err)
		}
		f, err := engine.ParseFlow(file, sources[i])
		if err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), err)
			bad++
			continue
		}
		key := f.Namespace + "/" + f.ID
		if first, ok := owner[key]; ok {
			// Each would overwrite the other's revisions in turn.
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: flow %s is also defined by %s: give one of them another id or namespace\n", file, key, first)
			bad++
			continue
		}
		owner[key] = file
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d flow files under %s are invalid; nothing was deployed", bad, len(files), path)
	}
	for i, file := range files {
		rec, err := save(file, sources[i])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "deployed %s/%s revision %d (%s)\n", rec.Namespace, rec.ID, rec.Revision, file)
	}
	return nil
}
