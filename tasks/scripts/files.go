package scripts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
)

// checkName checks a name of inputFiles: a relative path that stays in
// the working directory.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("a file name is empty")
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("file name %q is absolute; want a path relative to the working directory", name)
	case !filepath.IsLocal(name):
		return fmt.Errorf("file name %q leads out of the working directory", name)
	case strings.HasPrefix(name, scriptFile):
		return fmt.Errorf("file name %q is reserved for the script itself", name)
	}
	return nil
}

// checkGlob checks an outputFiles pattern: valid, relative, no `..`.
func checkGlob(g string) error {
	if !doublestar.ValidatePattern(g) {
		return fmt.Errorf("%q is not a valid glob", g)
	}
	if strings.HasPrefix(g, "/") {
		return fmt.Errorf("glob %q is absolute; want a pattern relative to the working directory", g)
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == ".." {
			return fmt.Errorf("glob %q leads out of the working directory", g)
		}
	}
	return nil
}

func hasURI(files map[string]string) bool {
	for _, v := range files {
		if storage.IsURI(strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}

// writeInputs writes inputFiles into the working directory: inline
// content as it is, URIs downloaded (streamed) from internal storage.
func (r *runner) writeInputs(ctx context.Context, req tasks.Request, work string, files map[string]string) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "writing input file " + name, Err: err}
		}
		content := files[name]
		if uri := strings.TrimSpace(content); storage.IsURI(uri) {
			if err := r.download(ctx, req, uri, path); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "writing input file " + name, Err: err}
		}
	}
	return nil
}

func (r *runner) download(ctx context.Context, req tasks.Request, uri, path string) error {
	rc, _, err := r.cfg.Files.Open(ctx, req.Namespace, uri)
	if err != nil {
		kind := tasks.KindRetryable
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrForbidden) || !isStorageURI(uri) {
			kind = tasks.KindFatal
		}
		if cerr := tasks.CtxError(ctx, "downloading "+uri, err); cerr != nil {
			return cerr
		}
		return &tasks.Error{Kind: kind, Type: typeInputFile, Message: "inputFiles: " + err.Error(), Err: err}
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "writing input file from " + uri, Err: err}
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if cerr := tasks.CtxError(ctx, "downloading "+uri, err); cerr != nil {
			return cerr
		}
		return &tasks.Error{Kind: tasks.KindRetryable, Type: typeInputFile, Message: "downloading " + uri, Err: err}
	}
	return nil
}

func isStorageURI(uri string) bool {
	_, err := storage.ParseURI(uri)
	return err == nil
}

// uploadOutputs uploads the files of the working directory that the
// globs match, streamed, and returns their URIs by name. A glob that
// matches nothing adds nothing (Kestra's behaviour). A matched symbolic
// link is followed only when its target is a file inside the working
// directory; one leading out of it fails the task.
func (r *runner) uploadOutputs(ctx context.Context, req tasks.Request, log *slog.Logger, work string, globs []string) (map[string]any, error) {
	realWork, err := filepath.EvalSymlinks(work)
	if err != nil {
		return nil, &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "resolving the working directory", Err: err}
	}
	matched := map[string]string{} // name -> file to read
	hits := make([]int, len(globs))
	err = filepath.WalkDir(work, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(work, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if strings.HasPrefix(name, scriptFile) {
			return nil
		}
		for i, g := range globs {
			if ok, _ := doublestar.Match(g, name); ok {
				hits[i]++
				matched[name] = path
			}
		}
		return nil
	})
	if err != nil {
		return nil, &tasks.Error{Kind: tasks.KindRetryable, Type: typeOutputFile, Message: "listing the working directory", Err: err}
	}
	for i, g := range globs {
		if hits[i] == 0 {
			log.Info("outputFiles: no file matches the glob", "glob", g)
		}
	}
	run := storage.Run{Namespace: req.Namespace, FlowID: req.FlowID, ExecutionID: req.ExecutionID, TaskID: req.TaskID, TaskRunID: req.TaskRunID}
	names := make([]string, 0, len(matched))
	for n := range matched {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]any, len(names))
	for _, name := range names {
		path, err := insideWork(realWork, matched[name], name)
		if err != nil {
			return nil, err
		}
		uri, err := r.upload(ctx, run, name, path)
		if err != nil {
			return nil, err
		}
		out[name] = uri
	}
	return out, nil
}

// insideWork resolves path (a file of the working directory, maybe a
// symbolic link) and checks that it is a regular file inside realWork.
func insideWork(realWork, path, name string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", &tasks.Error{Kind: tasks.KindFatal, Type: typeOutputFile, Message: fmt.Sprintf("output file %s: %v", name, err)}
	}
	rel, err := filepath.Rel(realWork, real)
	if err != nil || !filepath.IsLocal(rel) {
		return "", &tasks.Error{Kind: tasks.KindFatal, Type: typeOutputFile, Message: fmt.Sprintf("output file %s is a symbolic link to %s, outside the working directory: refused", name, real)}
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() {
		return "", &tasks.Error{Kind: tasks.KindFatal, Type: typeOutputFile, Message: fmt.Sprintf("output file %s is not a regular file", name)}
	}
	return real, nil
}

func (r *runner) upload(ctx context.Context, run storage.Run, name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &tasks.Error{Kind: tasks.KindRetryable, Type: typeOutputFile, Message: "opening output file " + name, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", &tasks.Error{Kind: tasks.KindRetryable, Type: typeOutputFile, Message: "opening output file " + name, Err: err}
	}
	uri, err := r.cfg.Files.PutOutput(ctx, run, name, f, fi.Size())
	if err != nil {
		if cerr := tasks.CtxError(ctx, "uploading "+name, err); cerr != nil {
			return "", cerr
		}
		return "", &tasks.Error{Kind: tasks.KindRetryable, Type: typeOutputFile, Message: "uploading output file " + name, Err: err}
	}
	return uri, nil
}
