package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Dir keeps blobs as files under a folder; references are file:// URLs.
// It suits one machine (`relay dev`): every process that reads a
// reference must see the same folder.
type Dir struct {
	root string // absolute and clean
}

// NewDir returns a Dir on path, creating the folder if it is missing.
func NewDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("blob folder: no path given")
	}
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", path, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("creating the blob folder: %w", err)
	}
	return &Dir{root: root}, nil
}

// Root returns the folder's absolute path.
func (d *Dir) Root() string { return d.root }

// Put writes data to the file key names under the folder, through a
// temporary file renamed into place: a reader never sees part of a blob,
// and writing a key again replaces it.
func (d *Dir) Put(ctx context.Context, key string, data []byte) (string, error) {
	if err := d.Create(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", fmt.Errorf("storing blob: %w", err)
	}
	path, _ := d.file(key)
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String(), nil
}

// Get reads the file a reference names. References outside the folder are
// refused: a message cannot make a process read any file.
func (d *Dir) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", ref, err)
	}
	path, err := d.path(ref)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading blob %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", ref, err)
	}
	return data, nil
}

// path returns the file of a file:// reference inside the folder.
func (d *Dir) path(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "file" || u.Host != "" && u.Host != "localhost" || u.Path == "" {
		return "", fmt.Errorf("reading blob %q: not a file:// reference", ref)
	}
	path := filepath.Clean(filepath.FromSlash(u.Path))
	rel, err := filepath.Rel(d.root, path)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("reading blob %s: outside the blob folder %s", ref, d.root)
	}
	return path, nil
}
