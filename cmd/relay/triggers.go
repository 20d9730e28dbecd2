package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// triggersCmd groups the trigger commands.
func triggersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "triggers", Short: "Inspect the triggers of the stored flows"}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every trigger of the latest flow revisions, with its last and next fire time",
		Args:  cobra.NoArgs,
		RunE: onTarget(func(cmd *cobra.Command, t *target, _ []string) error {
			infos, err := t.cp.Triggers(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			if len(infos) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no triggers in %s\n", t.where)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "FLOW\tTRIGGER\tTYPE\tON\tLAST\tNEXT\t")
			for _, i := range infos {
				next := when(i.Next)
				switch {
				case i.Disabled:
					next = "disabled"
				case i.Stopped:
					next = "stopped (stopAfter)"
				}
				fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t\n", i.Namespace, i.FlowID, i.ID, i.Type, i.On, when(i.Last), next)
			}
			return tw.Flush()
		}),
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.AddCommand(list)
	return cmd
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
