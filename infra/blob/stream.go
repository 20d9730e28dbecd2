package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Streaming access for the internal storage (storage.Backend): files of
// any size go in and out without being held in memory.

// file returns the path of key inside the folder, refusing keys that are
// not relative paths inside it.
func (d *Dir) file(key string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return "", fmt.Errorf("key %q must be a relative path inside the folder", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Create writes what r yields to the file of key, through a temporary file
// renamed into place once synced.
func (d *Dir) Create(ctx context.Context, key string, r io.Reader, _ int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	path, err := d.file(key)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	_, err = io.Copy(tmp, ctxReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// Open opens the file of key.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", key, err)
	}
	path, err := d.file(key)
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", key, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a file: %w", fs.ErrNotExist)
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("opening %s: %w", key, err)
	}
	return f, fi.Size(), nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// uploadPartSize and uploadConcurrency bound the memory an upload takes:
// the uploader buffers at most that many parts of that size at once.
const (
	uploadPartSize    = 8 << 20
	uploadConcurrency = 3
)

// Create uploads what r yields as the object prefix+key: in one PUT when
// it is small, in parts of 8 MiB (three at a time) otherwise, so that
// memory stays bounded whatever the size.
func (s *S3) Create(ctx context.Context, key string, r io.Reader, _ int64) error {
	k := s.prefix + key
	up := transfermanager.New(s.client, func(o *transfermanager.Options) {
		o.PartSizeBytes = uploadPartSize
		o.MultipartUploadThreshold = uploadPartSize
		o.Concurrency = uploadConcurrency
	})
	if _, err := up.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k), Body: r}); err != nil {
		return fmt.Errorf("storing s3://%s/%s: %w", s.bucket, k, err)
	}
	return nil
}

// Open streams the object prefix+key.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	k := s.prefix + key
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, 0, fmt.Errorf("opening s3://%s/%s: %w", s.bucket, k, fs.ErrNotExist)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening s3://%s/%s: %w", s.bucket, k, err)
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// Client returns the S3 client the store uses.
func (s *S3) Client() *s3.Client { return s.client }
