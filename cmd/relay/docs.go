package main

import (
	"fmt"
	"os"
	"strings"

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
		Use:   "docs [TOPIC]",
		Short: "Show the flow language reference: every type, property, input type, function and filter",
		Long: "Docs prints the reference of the flow language, built into this binary (docs/reference.md is the\n" +
			"same text). With TOPIC it prints one section: a task, trigger or condition type (its Relay name or\n" +
			"a Kestra alias: `relay docs io.kestra.plugin.core.log.Log`), or a heading such as Inputs, Retry,\n" +
			"Functions or Filters. `make docs` regenerates the files of docs/ with --out and --states.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := flow.Reference()
			if len(args) == 1 {
				section, ok := referenceSection(ref, args[0])
				if !ok {
					return &exitError{code: exitInvalid, err: fmt.Errorf("the reference has no section %q: give a type (log, io.kestra.plugin.core.flow.If...) or a heading (%s)", args[0], strings.Join(referenceHeadings(ref), ", "))}
				}
				ref = section
			}
			if err := writeOut(cmd, out, []byte(ref)); err != nil {
				return err
			}
			if states != "" {
				if err := writeOut(cmd, states, []byte(statemachine.StatesDoc())); err != nil {
					return err
				}
			}
			if out != "" && out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output (make docs: docs/reference.md)")
	cmd.Flags().StringVar(&states, "states", "", "also write the state tables (docs/states.md) to this file")
	return cmd
}

// referenceSection returns the section of the reference about topic: a
// type (by name or alias) or a heading, up to the next heading of the same
// level or above.
func referenceSection(ref, topic string) (string, bool) {
	for _, c := range []flow.Category{flow.CategoryTask, flow.CategoryTrigger, flow.CategoryCondition} {
		if d, ok := flow.Builtin.Lookup(c, topic); ok {
			topic = d.Name
			break
		}
	}
	lines := strings.Split(ref, "\n")
	for i, l := range lines {
		level := len(l) - len(strings.TrimLeft(l, "#"))
		if level < 2 || !strings.EqualFold(strings.Trim(strings.TrimSpace(l[level:]), "`"), topic) {
			continue
		}
		end := len(lines)
		for j := i + 1; j < len(lines); j++ {
			if n := len(lines[j]) - len(strings.TrimLeft(lines[j], "#")); n >= 1 && n <= level && strings.HasPrefix(lines[j][n:], " ") {
				end = j
				break
			}
		}
		return strings.TrimRight(strings.Join(lines[i:end], "\n"), "\n") + "\n", true
	}
	return "", false
}

// referenceHeadings lists the reference's section headings.
func referenceHeadings(ref string) []string {
	var out []string
	for _, l := range strings.Split(ref, "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			out = append(out, h)
		}
	}
	return out
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
