package scripts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
)

// BenchmarkFileHandOver measures a file handed from one script task to the
// next through internal storage: task 1 writes it (a sparse file: the
// disk's work is the storage's) and uploads it as an output file, task 2
// downloads it as an input file and reads its size. The bytes per second
// are the file's size over both tasks' time. Two sizes an order of
// magnitude apart, on the local folder and on the S3 server (moto's, when
// AWS_ENDPOINT_URL_S3 is set).
func BenchmarkFileHandOver(b *testing.B) {
	backends := map[string]func(b *testing.B) storage.Backend{
		"folder": func(b *testing.B) storage.Backend {
			d, err := blob.NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return d
		},
		"s3": func(b *testing.B) storage.Backend {
			servicetest.Require(b, "AWS_ENDPOINT_URL_S3")
			c, err := blob.NewS3Client(context.Background(), true)
			if err != nil {
				b.Fatal(err)
			}
			bucket := fmt.Sprintf("relay-bench-%d", time.Now().UnixNano())
			servicetest.Bucket(b, c, bucket)
			return blob.NewS3(c, bucket, "")
		},
	}
	for _, backend := range []string{"folder", "s3"} {
		for _, mb := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/%dMB", backend, mb), func(b *testing.B) {
				files := storage.New(backends[backend](b))
				reg := tasks.NewRegistry()
				if err := Register(reg, Config{Files: files}); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(mb) << 20)
				for i := 0; i < b.N; i++ {
					req := newRequest(flow.TypeShell, map[string]any{"commands": []any{fmt.Sprintf("truncate -s %dM out.bin", mb)}, "outputFiles": []any{"out.bin"}})
					req.ExecutionID = fmt.Sprintf("e%d", i)
					res, err := reg.Run(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					uri := res.Outputs["outputFiles"].(map[string]any)["out.bin"]
					req = newRequest(flow.TypeShell, map[string]any{"commands": []any{"wc -c < in.bin"}, "inputFiles": map[string]any{"in.bin": uri}})
					res, err = reg.Run(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					if want := fmt.Sprintf("%d\n", mb<<20); res.Outputs["stdout"] != want {
						b.Fatalf("task 2 read %q bytes, want %s", res.Outputs["stdout"], want)
					}
				}
			})
		}
	}
}
