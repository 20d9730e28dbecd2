package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/storage"
)

func newStorage(t *testing.T) (*storage.Storage, *blob.Dir) {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return storage.New(d), d
}

var run = storage.Run{Namespace: "company.team", FlowID: "etl", ExecutionID: "e1", TaskID: "transform", TaskRunID: "transform"}

func TestPutOutput_filesByNamespaceAndExecution(t *testing.T) {
	s, d := newStorage(t)
	ctx := context.Background()
	uri, err := s.PutOutput(ctx, run, "out/clean data.csv", strings.NewReader("a,b"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := "relay:///company.team/etl/executions/e1/tasks/transform/transform/out/clean%20data.csv"; uri != want {
		t.Errorf("URI %s, want %s", uri, want)
	}
	rc, _, err := d.Open(ctx, "files/company.team/etl/executions/e1/tasks/transform/transform/out/clean%20data.csv")
	if err != nil {
		t.Fatalf("the file is not under files/<namespace>/<flow>/executions/<id>/: %v", err)
	}
	rc.Close()
	for _, u := range []string{uri, strings.Replace(uri, "relay://", "kestra://", 1)} {
		got, err := s.Read(ctx, "company.team", u, 0)
		if err != nil || string(got) != "a,b" {
			t.Errorf("Read(%s) = %q, %v", u, got, err)
		}
	}
}

func TestPutInput_keepsTheBaseNameOnly(t *testing.T) {
	s, _ := newStorage(t)
	uri, err := s.PutInput(context.Background(), "ns", "f", "e1", "orders", "/home/ada/data/orders.csv", strings.NewReader("x"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "relay:///ns/f/executions/e1/inputs/orders/orders.csv"; uri != want {
		t.Errorf("URI %s, want %s", uri, want)
	}
}

func TestPutOutput_refusesNamesOutsideTheFolder(t *testing.T) {
	s, _ := newStorage(t)
	for _, name := range []string{"", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.."} {
		if uri, err := s.PutOutput(context.Background(), run, name, strings.NewReader("x"), 1); err == nil {
			t.Errorf("PutOutput(%q) stored %s", name, uri)
		}
	}
}

func TestParseURI(t *testing.T) {
	tests := []struct {
		uri, ns string
		ok      bool
	}{
		{"relay:///ns/f/executions/e/tasks/t/r/a.csv", "ns", true},
		{"kestra:///ns/f/executions/e/inputs/i/a.csv", "ns", true},
		{"relay://host/ns/f/executions/e/tasks/t/r/a.csv", "", false},
		{"relay:///ns/f/executions/e/tasks/t/r/../../../../../x", "", false},
		{"relay:///ns/f/executions/e/tasks/t/r/%2E%2E/x", "", false},
		{"relay:///ns/f/executions/e/tasks/t/r/a%2Fb", "", true}, // one segment with a slash in it: escaped in the key
		{"relay:///ns/f/other/e/x", "", false},
		{"relay:///ns/f", "", false},
		{"s3://bucket/key", "", false},
		{"file:///etc/passwd", "", false},
		{"relay:///ns/f/executions/e/x?y=1", "", false},
		{"relay:ns/f/executions/e/x", "", false},
	}
	for _, tc := range tests {
		p, err := storage.ParseURI(tc.uri)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURI(%s): err %v, want ok=%v", tc.uri, err, tc.ok)
			continue
		}
		if tc.ok && tc.ns != "" && p.Namespace() != tc.ns {
			t.Errorf("ParseURI(%s): namespace %s, want %s", tc.uri, p.Namespace(), tc.ns)
		}
	}
}

func TestOpen_onlyTheTasksOwnNamespace(t *testing.T) {
	s, _ := newStorage(t)
	ctx := context.Background()
	uri, err := s.PutOutput(ctx, run, "a.csv", strings.NewReader("x"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(ctx, "other", uri); !errors.Is(err, storage.ErrForbidden) || !strings.Contains(err.Error(), "company.team") {
		t.Errorf("Open from another namespace: %v", err)
	}
	if _, _, err := s.Open(ctx, "company", uri); !errors.Is(err, storage.ErrForbidden) {
		t.Errorf("Open from a parent namespace: %v", err)
	}
	rc, _, err := s.Open(ctx, "", uri)
	if err != nil {
		t.Fatalf("Open with no namespace (an operator): %v", err)
	}
	rc.Close()
}

func TestOpen_missingFile(t *testing.T) {
	s, _ := newStorage(t)
	uri := "relay:///ns/f/executions/e/tasks/t/r/none.csv"
	_, _, err := s.Open(context.Background(), "ns", uri)
	if !errors.Is(err, storage.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), uri) {
		t.Errorf("Open of a missing file: %v", err)
	}
}

func TestRead_isCapped(t *testing.T) {
	s, _ := newStorage(t)
	ctx := context.Background()
	uri, err := s.PutOutput(ctx, run, "big.txt", strings.NewReader(strings.Repeat("x", 101)), 101)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, run.Namespace, uri, 100); err == nil || !strings.Contains(err.Error(), "101 bytes") || !strings.Contains(err.Error(), "100") {
		t.Errorf("Read past the cap: %v", err)
	}
	if got, err := s.Read(ctx, run.Namespace, uri, 101); err != nil || len(got) != 101 {
		t.Errorf("Read at the cap: %d bytes, %v", len(got), err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"relay:///ns/f/executions/e/tasks/t/r/a.csv", "kestra:///a/b/executions/c/d", "relay:///ns/f/executions/e/%2E%2E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, err := storage.ParseURI(uri)
		if err != nil {
			return
		}
		// A parsed path round-trips and never climbs out of its folder.
		q, err := storage.ParseURI(p.URI())
		if err != nil || q.URI() != p.URI() {
			t.Fatalf("%s parsed to %s, which parses to %v (%v)", uri, p.URI(), q.URI(), err)
		}
		for _, seg := range strings.Split(p.URI(), "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("%s has a %q segment", p.URI(), seg)
			}
		}
	})
}
