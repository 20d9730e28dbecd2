package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine/flow"
)

func validateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check flow files and print every problem with its line and column",
		Long: "Validate decodes and checks flow files (*.yaml, *.yml; directories are searched recursively).\n" +
			"Every problem is printed as FILE:LINE:COL: message. The exit code is 1 when any file has problems.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &exitError{code: 2, err: errors.New("validate needs flow files or directories, e.g. `relay validate examples/flows`")}
			}
			files, err := flowFiles(args)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return validateFiles(cmd, files, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// flowFiles expands directories into the YAML files under them.
func flowFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", arg, err)
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		found := 0
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != arg && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, path)
				found++
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("searching %s for flows: %w", arg, err)
		}
		if found == 0 {
			return nil, fmt.Errorf("no flow files (*.yaml, *.yml) under %s", arg)
		}
	}
	sort.Strings(files)
	return files, nil
}

type fileResult struct {
	File        string            `json:"file"`
	Flow        string            `json:"flow,omitempty"`
	Tasks       int               `json:"tasks,omitempty"`
	Diagnostics []flow.Diagnostic `json:"diagnostics"`
	// Notes are what a valid flow says that Relay ignores (a revision,
	// logToFile).
	Notes []flow.Diagnostic `json:"notes,omitempty"`
}

func validateFiles(cmd *cobra.Command, files []string, output string) error {
	out := cmd.OutOrStdout()
	var results []fileResult
	bad, problems := 0, 0
	for _, file := range files {
		r := fileResult{File: file, Diagnostics: []flow.Diagnostic{}}
		src, err := os.ReadFile(file)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("reading flow: %w", err)}
		}
		f, err := engine.ParseFlow(file, src)
		var diags flow.Diagnostics
		switch {
		case errors.As(err, &diags):
			r.Diagnostics = diags
		case err != nil:
			r.Diagnostics = []flow.Diagnostic{{File: file, Pos: flow.Pos{Line: 1, Col: 1}, Msg: err.Error()}}
		default:
			r.Flow, r.Tasks, r.Notes = f.Namespace+"/"+f.ID, len(f.AllTasks()), f.Notes
		}
		if len(r.Diagnostics) > 0 {
			bad++
			problems += len(r.Diagnostics)
		}
		results = append(results, r)
	}
	switch output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
	case "text":
		for _, r := range results {
			if len(r.Diagnostics) == 0 {
				fmt.Fprintf(out, "ok    %s  (%s, %s)\n", r.File, r.Flow, plural(r.Tasks, "task"))
				for _, n := range r.Notes {
					fmt.Fprintf(out, "note: %s\n", n.Error())
				}
				continue
			}
			for _, d := range r.Diagnostics {
				fmt.Fprintln(out, d.Error())
			}
		}
		if bad > 0 {
			fmt.Fprintf(out, "\n%s in %d of %s\n", plural(problems, "problem"), bad, plural(len(files), "file"))
		}
	default:
		return &exitError{code: 2, err: fmt.Errorf("unknown output format %q: use text or json", output)}
	}
	if bad > 0 {
		return &exitError{code: 1}
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
