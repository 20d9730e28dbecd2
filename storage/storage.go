// Package storage is Relay's internal storage: the files that script
// tasks, FILE inputs and the S3 tasks hand from one step to the next,
// kept on the deployment's blob store (the S3 bucket on AWS, the local
// folder of `relay run` and `relay dev`) and addressed by URIs:
//
//	relay:///<namespace>/<flowId>/executions/<executionId>/tasks/<taskId>/<taskRunId>/<name>
//	relay:///<namespace>/<flowId>/executions/<executionId>/inputs/<inputId>/<filename>
//
// Kestra's kestra:/// URIs with the same path are accepted wherever a URI
// is read. Files are streamed in and out (a file is never held in memory,
// except by Read, which is capped), and a task reads only the files of its
// own namespace. Files are kept under the key prefix "files/", beside the
// blobs of large values, so that the bucket's lifecycle rule expires them
// with those (template.yaml, LargeValueRetentionDays).
//
// The package must never interpret a URI as a path outside that prefix:
// every segment is checked, so `..`, empty and absolute segments are
// refused.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"
)

// URI schemes: Relay's own, and Kestra's, accepted as input.
const (
	Scheme       = "relay"
	KestraScheme = "kestra"
)

// KeyPrefix is where files live in the backend.
const KeyPrefix = "files/"

// DefaultReadLimit is the most Read returns (the read() function of
// expressions): a file larger than that is an error, not a cut.
const DefaultReadLimit = 1 << 20

// Backend is the blob store files go to.
//
// Contract:
//   - Create stores what r yields under key (a relative slash-separated
//     path; no key is the folder of another) and returns once the content
//     is durable, replacing what key held. size is r's length, or -1 when
//     it is unknown; memory use must not grow with it (a 1 GB file is
//     streamed). Readers never see part of a file.
//   - Open returns the content of key and its size; a missing key is an
//     error wrapping fs.ErrNotExist that names the key.
//   - All are safe for concurrent use and honour ctx.
//
// infra/blob's Dir and S3 implement it; storagetest has the conformance
// suite.
type Backend interface {
	Create(ctx context.Context, key string, r io.Reader, size int64) error
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// Storage files and finds the files of executions on a Backend.
type Storage struct {
	backend Backend
}

// New returns the storage on b.
func New(b Backend) *Storage { return &Storage{backend: b} }

// Run names the task run that stores an output file.
type Run struct {
	Namespace, FlowID, ExecutionID, TaskID, TaskRunID string
}

// ErrForbidden is wrapped by the error of a URI outside the namespace of
// the task that asked for it.
var ErrForbidden = errors.New("file of another namespace")

// ErrNotFound is wrapped (with fs.ErrNotExist) by the error of a URI that
// names no file.
var ErrNotFound = errors.New("file not found")

// PutOutput stores r as the output file name (a relative path, such as
// out/data.csv) of run, and returns its URI.
func (s *Storage) PutOutput(ctx context.Context, run Run, name string, r io.Reader, size int64) (string, error) {
	p, err := newPath([]string{run.Namespace, run.FlowID, "executions", run.ExecutionID, "tasks", run.TaskID, run.TaskRunID}, name)
	if err != nil {
		return "", fmt.Errorf("storing output file %q: %w", name, err)
	}
	return s.put(ctx, p, r, size)
}

// PutInput stores r as the file of input inputID of an execution, under
// its file name (the base name of the file given), and returns its URI.
func (s *Storage) PutInput(ctx context.Context, namespace, flowID, executionID, inputID, filename string, r io.Reader, size int64) (string, error) {
	base := filename[strings.LastIndexAny(filename, `/\`)+1:]
	if base == "" || base == "." || base == ".." {
		base = inputID
	}
	p, err := newPath([]string{namespace, flowID, "executions", executionID, "inputs", inputID}, base)
	if err != nil {
		return "", fmt.Errorf("storing the file of input %s: %w", inputID, err)
	}
	return s.put(ctx, p, r, size)
}

func (s *Storage) put(ctx context.Context, p Path, r io.Reader, size int64) (string, error) {
	if err := s.backend.Create(ctx, p.key(), r, size); err != nil {
		return "", fmt.Errorf("storing %s: %w", p.URI(), err)
	}
	return p.URI(), nil
}

// Open opens the file uri names for a task of namespace ns ("" for no
// check: the CLI of an operator) and returns it with its size.
func (s *Storage) Open(ctx context.Context, ns, uri string) (io.ReadCloser, int64, error) {
	p, err := ParseURI(uri)
	if err != nil {
		return nil, 0, err
	}
	if ns != "" && p.Namespace() != ns {
		return nil, 0, fmt.Errorf("opening %s: %w: it belongs to namespace %s, and a task of namespace %s reads only its own", uri, ErrForbidden, p.Namespace(), ns)
	}
	rc, size, err := s.backend.Open(ctx, p.key())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("opening %s: %w (%w)", uri, ErrNotFound, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", uri, err)
	}
	return rc, size, nil
}

// Read returns the content of the file uri names, for the read() function
// of expressions: at most limit bytes (DefaultReadLimit when 0), and an
// error naming both sizes past it.
func (s *Storage) Read(ctx context.Context, ns, uri string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	rc, size, err := s.Open(ctx, ns, uri)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > limit {
		return nil, fmt.Errorf("reading %s: the file has %d bytes, more than the %d read() reads; hand it to a script task in inputFiles instead", uri, size, limit)
	}
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", uri, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("reading %s: the file is larger than the %d bytes read() reads; hand it to a script task in inputFiles instead", uri, limit)
	}
	return data, nil
}

// IsURI tells whether s is a URI of the internal storage (relay:// or
// kestra://), as opposed to a file's inline content.
func IsURI(s string) bool {
	return strings.HasPrefix(s, Scheme+"://") || strings.HasPrefix(s, KestraScheme+"://")
}

// Path is the checked path of a file: its segments, unescaped.
type Path struct {
	segs []string
}

// Namespace is the first segment.
func (p Path) Namespace() string { return p.segs[0] }

// Name is the last segment: the file's base name.
func (p Path) Name() string { return p.segs[len(p.segs)-1] }

// URI is the relay:/// URI of the path.
func (p Path) URI() string { return Scheme + "://" + p.escaped() }

func (p Path) key() string { return KeyPrefix + strings.TrimPrefix(p.escaped(), "/") }

func (p Path) escaped() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// newPath joins the fixed segments of a file's folder and its relative
// name, checking every segment.
func newPath(dir []string, name string) (Path, error) {
	if name == "" {
		return Path{}, errors.New("empty file name")
	}
	if strings.HasPrefix(name, "/") {
		return Path{}, fmt.Errorf("file name %q is absolute; want a path relative to the working directory", name)
	}
	segs := append(append([]string(nil), dir...), strings.Split(name, "/")...)
	return checkSegments(segs, name)
}

func checkSegments(segs []string, what string) (Path, error) {
	for _, s := range segs {
		switch {
		case s == "":
			return Path{}, fmt.Errorf("%q has an empty path segment", what)
		case s == "." || s == "..":
			return Path{}, fmt.Errorf("%q has a %q segment; file names stay inside their folder", what, s)
		case strings.ContainsAny(s, "\x00\\"):
			return Path{}, fmt.Errorf("%q has a NUL or backslash in a segment", what)
		}
	}
	return Path{segs: segs}, nil
}

// ParseURI checks a relay:/// or kestra:/// URI and returns its path. It
// must have no host, and its path at least a namespace, a flow and a file:
// executions/<id>/... below them.
func ParseURI(uri string) (Path, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return Path{}, fmt.Errorf("file URI %q: %w", uri, err)
	}
	if u.Scheme != Scheme && u.Scheme != KestraScheme {
		return Path{}, fmt.Errorf("file URI %q: want relay:/// or kestra:///", uri)
	}
	if u.Host != "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		return Path{}, fmt.Errorf("file URI %q: want %s:///<namespace>/<flow>/executions/<id>/<path>, with no host, query or fragment", uri, u.Scheme)
	}
	raw := u.EscapedPath()
	if !strings.HasPrefix(raw, "/") {
		return Path{}, fmt.Errorf("file URI %q: the path must be absolute", uri)
	}
	parts := strings.Split(raw[1:], "/")
	segs := make([]string, len(parts))
	for i, part := range parts {
		s, err := url.PathUnescape(part)
		if err != nil {
			return Path{}, fmt.Errorf("file URI %q: %w", uri, err)
		}
		segs[i] = s
	}
	if len(segs) < 5 || segs[2] != "executions" {
		return Path{}, fmt.Errorf("file URI %q: want %s:///<namespace>/<flow>/executions/<id>/<path>", uri, u.Scheme)
	}
	return checkSegments(segs, uri)
}
