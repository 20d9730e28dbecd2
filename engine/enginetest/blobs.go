package enginetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/relayflow/relay/engine"
)

// TestBlobs checks an engine.Blobs against the contract in
// engine/contracts.go. newBlobs returns a store for each subtest; stores
// may share a backend (a bucket), as every subtest uses keys of its own.
func TestBlobs(t *testing.T, newBlobs func(t *testing.T) engine.Blobs) {
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	roundTrips := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"json", []byte(`{"value":"héllo","n":[1,2.5,null]}`)},
		{"binary", random(4096)},
		{"oneMegabyte", random(1 << 20)},
	}
	for _, tc := range roundTrips {
		t.Run("Put/roundTrip/"+tc.name, func(t *testing.T) {
			b := newBlobs(t)
			key := engine.BlobKey(unique("exec"), tc.data)
			ref := mustPut(t, b, key, tc.data)
			if got := mustGet(t, b, ref); !bytes.Equal(got, tc.data) {
				t.Errorf("Get returned %d bytes, want the %d put", len(got), len(tc.data))
			}
		})
	}

	t.Run("Put/sameKeyReplaces", func(t *testing.T) {
		b := newBlobs(t)
		key := unique("blobs") + "/value.json"
		first := mustPut(t, b, key, []byte(`"first"`))
		second := mustPut(t, b, key, []byte(`"second"`))
		if first != second {
			t.Errorf("one key, two references: %q and %q", first, second)
		}
		if got := mustGet(t, b, second); string(got) != `"second"` {
			t.Errorf("Get after a second Put = %s, want the second value", got)
		}
	})

	t.Run("Put/keysAreDistinct", func(t *testing.T) {
		b := newBlobs(t)
		dir := unique("blobs")
		refs := map[string]string{}
		for _, k := range []string{"a", "b", "c/d", "c/e/f.json"} {
			ref := mustPut(t, b, dir+"/"+k, []byte(`"`+k+`"`))
			if other, ok := refs[ref]; ok {
				t.Fatalf("keys %s and %s share the reference %s", other, k, ref)
			}
			refs[ref] = k
		}
		for ref, k := range refs {
			if got := mustGet(t, b, ref); string(got) != `"`+k+`"` {
				t.Errorf("Get(%s) = %s, want %q", ref, got, k)
			}
		}
	})

	t.Run("Get/missingNamesTheReference", func(t *testing.T) {
		b := newBlobs(t)
		dir := unique("blobs")
		ref := mustPut(t, b, dir+"/present.json", []byte(`1`))
		missing := strings.Replace(ref, "present", "absent", 1)
		if missing == ref {
			t.Fatalf("reference %s does not contain its key", ref)
		}
		_, err := b.Get(context.Background(), missing)
		if err == nil {
			t.Fatalf("Get(%s) of a blob never put succeeded", missing)
		}
		if !strings.Contains(err.Error(), missing) {
			t.Errorf("the error does not name the reference %s: %v", missing, err)
		}
	})

	t.Run("Get/foreignReferenceFails", func(t *testing.T) {
		b := newBlobs(t)
		for _, ref := range []string{"", "not a reference", "http://example.invalid/x", "s3://" + unique("other-bucket") + "/x", "file:///etc/hostname"} {
			if data, err := b.Get(context.Background(), ref); err == nil {
				t.Errorf("Get(%q) succeeded with %d bytes; want an error", ref, len(data))
			}
		}
	})

	t.Run("Put/honoursCancellation", func(t *testing.T) {
		b := newBlobs(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.Put(ctx, unique("blobs")+"/x", []byte(`1`)); err == nil {
			t.Error("Put with a cancelled context succeeded")
		}
	})

	t.Run("concurrentUse", func(t *testing.T) {
		b := newBlobs(t)
		dir := unique("blobs")
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				data := []byte(fmt.Sprintf(`{"i":%d}`, i))
				ref, err := b.Put(context.Background(), fmt.Sprintf("%s/%d.json", dir, i%4), data)
				if err == nil {
					_, err = b.Get(context.Background(), ref)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func mustPut(t *testing.T, b engine.Blobs, key string, data []byte) string {
	t.Helper()
	ref, err := b.Put(context.Background(), key, data)
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	if ref == "" {
		t.Fatalf("Put(%s) returned an empty reference", key)
	}
	return ref
}

func mustGet(t *testing.T, b engine.Blobs, ref string) []byte {
	t.Helper()
	data, err := b.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("Get(%s): %v", ref, err)
	}
	return data
}
