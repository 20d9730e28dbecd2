package s3tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/storage/storagetest"
	"github.com/relayflow/relay/tasks"
)

var buckets atomic.Int64

// setup returns a registry with the S3 tasks on a fresh internal storage,
// the storage, an S3 client and a new bucket of the S3 server
// AWS_ENDPOINT_URL_S3 names (moto's in `make test`).
func setup(t *testing.T) (*tasks.Registry, *storage.Storage, *s3.Client, string) {
	t.Helper()
	servicetest.Require(t, "AWS_ENDPOINT_URL_S3")
	c, err := blob.NewS3Client(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("relay-s3tasks-%d-%d", time.Now().UnixNano(), buckets.Add(1))
	servicetest.Bucket(t, c, bucket)
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := storage.New(d)
	reg := tasks.NewRegistry()
	Register(reg, Config{Files: files})
	return reg, files, c, bucket
}

func run(t *testing.T, reg *tasks.Registry, typ string, props map[string]any) (tasks.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return reg.Run(ctx, tasks.Request{ExecutionID: "e1", TaskRunID: "t1", TaskID: "t1", Namespace: "company.team", FlowID: "etl", Type: typ, Attempt: 1, Props: props})
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *s3.Client, bucket, key string) (string, error) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func TestDownloadAndUpload_throughInternalStorage(t *testing.T) {
	reg, files, c, bucket := setup(t)
	put(t, c, bucket, "data/raw_data.csv", "id,amount\n1,10\n")
	for _, props := range []map[string]any{
		{"bucket": bucket, "key": "data/raw_data.csv"},
		{"bucket": "s3://" + bucket + "/data/", "key": "raw_data.csv"}, // seed 000's form
	} {
		res, err := run(t, reg, flow.TypeS3Download, props)
		if err != nil {
			t.Fatal(err)
		}
		uri := res.Outputs["uri"].(string)
		if uri != "relay:///company.team/etl/executions/e1/tasks/t1/t1/raw_data.csv" || res.Outputs["contentLength"] != int64(15) {
			t.Errorf("outputs %v", res.Outputs)
		}
		if got, err := files.Read(context.Background(), "company.team", uri, 0); err != nil || string(got) != "id,amount\n1,10\n" {
			t.Errorf("stored %q (%v)", got, err)
		}
		if len(res.Metrics) != 1 || res.Metrics[0].Name != "file.size" || res.Metrics[0].Value != 15 {
			t.Errorf("metrics %+v", res.Metrics)
		}
	}
	uri, err := files.PutOutput(context.Background(), storage.Run{Namespace: "company.team", FlowID: "etl", ExecutionID: "e1", TaskID: "x", TaskRunID: "x"}, "clean.csv", strings.NewReader("id\n1\n"), -1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := run(t, reg, flow.TypeS3Upload, map[string]any{"bucket": bucket, "key": "out/clean.csv", "from": uri, "contentType": "text/csv", "metadata": map[string]any{"source": "relay"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["key"] != "out/clean.csv" || res.Outputs["eTag"] == "" {
		t.Errorf("outputs %v", res.Outputs)
	}
	if got, err := get(t, c, bucket, "out/clean.csv"); err != nil || got != "id\n1\n" {
		t.Errorf("uploaded %q (%v)", got, err)
	}
	head, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("out/clean.csv")})
	if err != nil || aws.ToString(head.ContentType) != "text/csv" || head.Metadata["source"] != "relay" {
		t.Errorf("head %+v (%v)", head, err)
	}
}

func TestUploadDownload_largeFileIsStreamedInParts(t *testing.T) {
	reg, files, _, bucket := setup(t)
	ctx := context.Background()
	uri, err := files.PutOutput(ctx, storage.Run{Namespace: "company.team", FlowID: "etl", ExecutionID: "e0", TaskID: "x", TaskRunID: "x"}, "big.bin", storagetest.Pattern(storagetest.Size), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, reg, flow.TypeS3Upload, map[string]any{"bucket": bucket, "key": "big.bin", "from": uri}); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, reg, flow.TypeS3Download, map[string]any{"bucket": bucket, "key": "big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := files.Open(ctx, "company.team", res.Outputs["uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := storagetest.SamePattern(rc, storagetest.Size); err != nil {
		t.Error(err)
	}
}

func TestList(t *testing.T) {
	reg, _, c, bucket := setup(t)
	for _, k := range []string{"in/a.csv", "in/b.json", "in/sub/c.csv", "in/dir/", "other/d.csv"} {
		put(t, c, bucket, k, "x")
	}
	keys := func(res tasks.Result) string {
		var out []string
		for _, o := range res.Outputs["objects"].([]any) {
			out = append(out, o.(map[string]any)["key"].(string))
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{"prefix": "in/"}, "in/a.csv,in/b.json,in/dir/,in/sub/c.csv"},
		{map[string]any{"prefix": "in/", "regexp": `\.csv$`}, "in/a.csv,in/sub/c.csv"},
		{map[string]any{"prefix": "in/", "filter": "FILES", "maxKeys": int64(2)}, "in/a.csv,in/b.json"},
		{map[string]any{"prefix": "in/", "filter": "DIRECTORY"}, "in/dir/"},
		{map[string]any{"prefix": "in/", "delimiter": "/"}, "in/a.csv,in/b.json"}, // sub-folders are common prefixes, not objects
	}
	for _, tc := range tests {
		tc.props["bucket"] = bucket
		res, err := run(t, reg, flow.TypeS3List, tc.props)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(res); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.props, got, tc.want)
		}
	}
	res, _ := run(t, reg, flow.TypeS3List, map[string]any{"bucket": bucket, "prefix": "other/"})
	o := res.Outputs["objects"].([]any)[0].(map[string]any)
	if o["uri"] != "s3://"+bucket+"/other/d.csv" || o["size"] != int64(1) || o["lastModified"] == nil {
		t.Errorf("object %v", o)
	}
}

func TestCopyAndDelete(t *testing.T) {
	reg, _, c, bucket := setup(t)
	put(t, c, bucket, "a.csv", "data")
	if _, err := run(t, reg, flow.TypeS3Copy, map[string]any{"from": map[string]any{"bucket": bucket, "key": "a.csv"}, "to": map[string]any{"bucket": bucket, "key": "archive/a.csv"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, c, bucket, "archive/a.csv"); err != nil || got != "data" {
		t.Errorf("copy holds %q (%v)", got, err)
	}
	if _, err := run(t, reg, flow.TypeS3Copy, map[string]any{"from": map[string]any{"bucket": bucket, "key": "a.csv"}, "to": map[string]any{"bucket": bucket, "key": "moved.csv"}, "delete": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, bucket, "a.csv"); err == nil {
		t.Error("the source of a copy with delete is still there")
	}
	if _, err := run(t, reg, flow.TypeS3Delete, map[string]any{"bucket": bucket, "key": "moved.csv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, bucket, "moved.csv"); err == nil {
		t.Error("deleted object still there")
	}
}

func TestErrors(t *testing.T) {
	reg, _, _, bucket := setup(t)
	tests := []struct {
		typ   string
		props map[string]any
		kind  tasks.Kind
		want  string
	}{
		{flow.TypeS3Download, map[string]any{"bucket": bucket, "key": "missing.csv"}, tasks.KindFatal, "NoSuchKey"},
		{flow.TypeS3Download, map[string]any{"bucket": bucket + "-none", "key": "a"}, tasks.KindFatal, "NoSuchBucket"},
		{flow.TypeS3Download, map[string]any{"bucket": bucket}, tasks.KindFatal, "property key"},
		{flow.TypeS3Upload, map[string]any{"bucket": bucket, "key": "k", "from": "/etc/passwd"}, tasks.KindFatal, "not a relay:/// URI"},
		{flow.TypeS3Upload, map[string]any{"bucket": bucket, "key": "k", "from": "relay:///other/f/executions/e/tasks/t/t/a"}, tasks.KindFatal, "namespace other"},
		{flow.TypeS3Upload, map[string]any{"bucket": bucket, "key": "k", "from": []any{"a", "b"}}, tasks.KindFatal, "give one file"},
		{flow.TypeS3List, map[string]any{"bucket": bucket, "accessKeyId": "only-the-id"}, tasks.KindFatal, "secretKeyId"},
		{flow.TypeS3Copy, map[string]any{"from": "x", "to": map[string]any{"bucket": bucket}}, tasks.KindFatal, "property from"},
	}
	for _, tc := range tests {
		_, err := run(t, reg, tc.typ, tc.props)
		var te *tasks.Error
		if !errors.As(err, &te) || te.Kind != tc.kind || !strings.Contains(te.Error(), tc.want) {
			t.Errorf("%s %v: %v, want a %s error with %q", tc.typ, tc.props, err, tc.kind, tc.want)
		}
	}
}

func TestConnectionProperties(t *testing.T) {
	reg, _, c, bucket := setup(t)
	put(t, c, bucket, "a", "x")
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1") // nothing there: the properties must win
	res, err := run(t, reg, flow.TypeS3List, map[string]any{"bucket": bucket, "endpointOverride": endpoint, "region": "eu-west-3", "accessKeyId": "k", "secretKeyId": "s", "forcePathStyle": true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Outputs["objects"].([]any)); n != 1 {
		t.Errorf("listed %d objects", n)
	}
}
