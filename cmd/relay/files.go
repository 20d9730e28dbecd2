package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
	"github.com/relayflow/relay/storage"
)

// fileInputs returns the local files given for FILE inputs of f, by
// input id: `--input name=@path` names a file when f declares name FILE
// (for any other input, @path is the text it is).
func fileInputs(f *flow.Flow, provided map[string]any) map[string]string {
	out := map[string]string{}
	for _, in := range f.Inputs {
		if in.Type != inputs.TypeFile {
			continue
		}
		if s, ok := provided[in.ID].(string); ok && strings.HasPrefix(s, "@") {
			out[in.ID] = s[1:]
		}
	}
	return out
}

// dryRunFiles returns provided with the local files of FILE inputs of f
// replaced by a URI, so that the inputs can be checked before the files
// are stored.
func dryRunFiles(f *flow.Flow, provided map[string]any) map[string]any {
	paths := fileInputs(f, provided)
	if len(paths) == 0 {
		return provided
	}
	out := make(map[string]any, len(provided))
	for k, v := range provided {
		out[k] = v
	}
	for name := range paths {
		out[name] = "relay:///not-stored-yet/" + name
	}
	return out
}

// openFileInputs opens the local files of FILE inputs for the API; close
// them with the returned function.
func openFileInputs(paths map[string]string) (map[string]api.File, func(), error) {
	files := map[string]api.File{}
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	for name, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("input %s: %w", name, err)
		}
		opened = append(opened, f)
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			closeAll()
			return nil, nil, fmt.Errorf("input %s: %s is not a file", name, path)
		}
		files[name] = api.File{Filename: path, Body: f, Size: fi.Size()}
	}
	return files, closeAll, nil
}

// storeFileInputs stores the local files of FILE inputs of an execution
// of f in files and returns provided with their URIs.
func storeFileInputs(ctx context.Context, files *storage.Storage, f *flow.Flow, execID string, provided map[string]any) (map[string]any, error) {
	paths := fileInputs(f, provided)
	if len(paths) == 0 {
		return provided, nil
	}
	opened, closeAll, err := openFileInputs(paths)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	out := make(map[string]any, len(provided))
	for k, v := range provided {
		out[k] = v
	}
	for name, file := range opened {
		uri, err := files.PutInput(ctx, f.Namespace, f.ID, execID, name, file.Filename, file.Body, file.Size)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		out[name] = uri
	}
	return out, nil
}
