package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

func schemaCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema (2020-12) of flow documents, for editors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeOut(cmd, out, flow.JSONSchema())
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

func docsCmd() *cobra.Command {
	var out, states string
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Write the flow language reference (docs/reference.md)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := writeOut(cmd, out, []byte(flow.Reference())); err != nil {
				return err
			}
			if states != "" {
				if err := writeOut(cmd, states, []byte(statemachine.StatesDoc())); err != nil {
					return err
				}
			}
			if out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", filepath.Join("docs", "reference.md"), "file to write, or - for standard output")
	cmd.Flags().StringVar(&states, "states", "", "also write the state tables (docs/states.md) to this file")
	return cmd
}

func writeOut(cmd *cobra.Command, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
