// Package storagetest is the conformance suite of storage.Backend: every
// implementation (infra/blob's folder and S3) runs it.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayflow/relay/storage"
)

// Size is the size of the large file of the suite: past the 8 MiB parts
// of a multipart upload, so that S3 takes that path.
const Size = 20<<20 + 123

// TestBackend runs the contract of storage.Backend against backends that
// newBackend makes, one per subtest.
func TestBackend(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		return c
	}
	t.Run("a file created is read back with its size", func(t *testing.T) {
		b := newBackend(t)
		for _, size := range []int64{5, -1} {
			if err := b.Create(ctx(t), "files/ns/a/data.csv", strings.NewReader("a,b\n1"), size); err != nil {
				t.Fatal(err)
			}
			got, n := readAll(t, b, "files/ns/a/data.csv")
			if got != "a,b\n1" || n != 5 {
				t.Errorf("size given %d: read %q (size %d), want %q (5)", size, got, n, "a,b\n1")
			}
		}
	})
	t.Run("creating a key again replaces the file", func(t *testing.T) {
		b := newBackend(t)
		for _, v := range []string{"first, longer", "second"} {
			if err := b.Create(ctx(t), "files/k", strings.NewReader(v), int64(len(v))); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := readAll(t, b, "files/k"); got != "second" {
			t.Errorf("read %q, want the second content", got)
		}
	})
	t.Run("an empty file", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Create(ctx(t), "files/empty", strings.NewReader(""), 0); err != nil {
			t.Fatal(err)
		}
		if got, n := readAll(t, b, "files/empty"); got != "" || n != 0 {
			t.Errorf("read %q (size %d)", got, n)
		}
	})
	t.Run("a missing key is fs.ErrNotExist naming it", func(t *testing.T) {
		b := newBackend(t)
		_, _, err := b.Open(ctx(t), "files/missing/x")
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "files/missing/x") {
			t.Errorf("Open of a missing key: %v", err)
		}
	})
	t.Run("a large file of unknown size streams in and out intact", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Create(ctx(t), "files/big", Pattern(Size), -1); err != nil {
			t.Fatal(err)
		}
		rc, n, err := b.Open(ctx(t), "files/big")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if n != Size {
			t.Errorf("size %d, want %d", n, Size)
		}
		if err := samePattern(rc, Size); err != nil {
			t.Error(err)
		}
	})
	t.Run("concurrent creates of different keys", func(t *testing.T) {
		b := newBackend(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				v := fmt.Sprintf("v%d", i)
				errs <- b.Create(ctx(t), fmt.Sprintf("files/c/%d", i), strings.NewReader(v), int64(len(v)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range 8 {
			if got, _ := readAll(t, b, fmt.Sprintf("files/c/%d", i)); got != fmt.Sprintf("v%d", i) {
				t.Errorf("key %d holds %q", i, got)
			}
		}
	})
	t.Run("a cancelled context fails and stores nothing", func(t *testing.T) {
		b := newBackend(t)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Create(c, "files/cancelled", strings.NewReader("x"), 1); err == nil {
			t.Error("Create with a cancelled context succeeded")
		}
		if _, _, err := b.Open(ctx(t), "files/cancelled"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open after a cancelled Create: %v", err)
		}
	})
	t.Run("a reader that fails half-way stores nothing", func(t *testing.T) {
		b := newBackend(t)
		r := io.MultiReader(strings.NewReader("part"), failing{})
		if err := b.Create(ctx(t), "files/half", r, -1); err == nil {
			t.Error("Create from a failing reader succeeded")
		}
		if _, _, err := b.Open(ctx(t), "files/half"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open after a failed Create: %v", err)
		}
	})
}

func readAll(t *testing.T, b storage.Backend, key string) (string, int64) {
	t.Helper()
	rc, n, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), n
}

// pattern yields the bytes 0..250 over and over: a shifted or dropped
// part shows.
type pattern struct{ off int64 }

// Pattern returns a reader of n bytes of the suite's pattern.
func Pattern(n int64) io.Reader { return io.LimitReader(&pattern{}, n) }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// SamePattern checks that r yields exactly n bytes of the pattern.
func SamePattern(r io.Reader, n int64) error { return samePattern(r, n) }

func samePattern(r io.Reader, n int64) error {
	buf := make([]byte, 64<<10)
	want := make([]byte, len(buf))
	var off int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			(&pattern{off: off}).Read(want[:k])
			if !bytes.Equal(buf[:k], want[:k]) {
				return fmt.Errorf("content differs in the %d bytes from offset %d", k, off)
			}
			off += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != n {
		return fmt.Errorf("read %d bytes, want %d", off, n)
	}
	return nil
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
