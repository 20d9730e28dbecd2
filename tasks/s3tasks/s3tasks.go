// Package s3tasks runs Kestra's S3 tasks (io.kestra.plugin.aws.s3.Upload,
// Download, List, Delete, Copy) on aws-sdk-go-v2, between a user's
// buckets and internal storage: Download stores an object as a file of
// the task run and outputs its relay:/// URI, Upload sends a file of
// internal storage to a bucket. Objects are streamed, never held in
// memory.
//
// The client is configured as Kestra's tasks configure theirs: the
// properties region, accessKeyId, secretKeyId, sessionToken and
// endpointOverride when given, else the worker's AWS configuration
// (environment, shared files, its role on Lambda).
package s3tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
)

// Files is the internal storage as the S3 tasks use it (storage.Storage).
type Files interface {
	Open(ctx context.Context, ns, uri string) (io.ReadCloser, int64, error)
	PutOutput(ctx context.Context, run storage.Run, name string, r io.Reader, size int64) (string, error)
}

// Config holds the dependencies of the S3 tasks.
type Config struct {
	// Files is the internal storage; nil makes Upload and Download fail
	// with an error saying so.
	Files Files
}

// Register adds the S3 task types to r.
func Register(r *tasks.Registry, cfg Config) {
	t := &s3Tasks{files: cfg.Files}
	r.Register(flow.TypeS3Upload, tasks.RunnerFunc(t.upload))
	r.Register(flow.TypeS3Download, tasks.RunnerFunc(t.download))
	r.Register(flow.TypeS3List, tasks.RunnerFunc(t.list))
	r.Register(flow.TypeS3Delete, tasks.RunnerFunc(t.delete))
	r.Register(flow.TypeS3Copy, tasks.RunnerFunc(t.copy))
}

type s3Tasks struct {
	files Files
}

// Error types.
const (
	typeNoFileStorage = "NoFileStorage"
	typeS3            = "S3"
)

// client builds the S3 client the connection properties describe.
func client(ctx context.Context, p map[string]any) (*s3.Client, error) {
	region, err := tasks.OptString(p, "region")
	if err != nil {
		return nil, err
	}
	keyID, err := tasks.OptString(p, "accessKeyId")
	if err != nil {
		return nil, err
	}
	secret, err := tasks.OptString(p, "secretKeyId")
	if err != nil {
		return nil, err
	}
	token, err := tasks.OptString(p, "sessionToken")
	if err != nil {
		return nil, err
	}
	endpoint, err := tasks.OptString(p, "endpointOverride")
	if err != nil {
		return nil, err
	}
	if (keyID == "") != (secret == "") {
		return nil, tasks.PropError("accessKeyId", "give both accessKeyId and secretKeyId, or neither (the worker's credentials)")
	}
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if keyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, secret, token)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &tasks.Error{Kind: tasks.KindFatal, Type: typeS3, Message: "loading the AWS configuration", Err: err}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// Servers other than AWS's (an endpoint given here or in the
	// environment) mostly want the bucket in the path.
	pathStyle := endpoint != "" || cfg.BaseEndpoint != nil
	if pathStyle, err = tasks.OptBool(p, "forcePathStyle", pathStyle); err != nil {
		return nil, err
	}
	if endpoint != "" {
		if u, err := url.Parse(endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, tasks.PropError("endpointOverride", "%q is not a URL such as https://s3.example.com", endpoint)
		}
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// bucketKey reads the bucket and key properties. The bucket may be given
// as s3://bucket/prefix/, as seed flows do: the prefix then goes before
// the key.
func bucketKey(p map[string]any, keyRequired bool) (string, string, error) {
	bucket, err := tasks.ReqString(p, "bucket")
	if err != nil {
		return "", "", err
	}
	key, err := tasks.OptString(p, "key")
	if err != nil {
		return "", "", err
	}
	if rest, ok := strings.CutPrefix(bucket, "s3://"); ok {
		b, prefix, _ := strings.Cut(rest, "/")
		bucket, key = b, prefix+key
	}
	if bucket == "" || strings.ContainsAny(bucket, "/ ") {
		return "", "", tasks.PropError("bucket", "%q is not a bucket name", bucket)
	}
	if keyRequired && key == "" {
		return "", "", tasks.PropError("key", "is required")
	}
	return bucket, key, nil
}

// classify turns an S3 error into a task error: a missing bucket or key,
// denied access and other 4xx are fatal; throttling and 5xx retryable.
func classify(ctx context.Context, doing string, err error) *tasks.Error {
	if te := tasks.CtxError(ctx, doing, err); te != nil {
		return te
	}
	var te *tasks.Error
	if errors.As(err, &te) {
		return te
	}
	code, msg := "", err.Error()
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
		if msg == "" {
			msg = code
		}
	}
	status := 0
	var se interface{ HTTPStatusCode() int }
	if errors.As(err, &se) {
		status = se.HTTPStatusCode()
	}
	kind := tasks.KindRetryable
	if status >= 400 && status < 500 && status != 429 && status != 409 {
		kind = tasks.KindFatal
	}
	typ := code
	if typ == "" {
		typ = typeS3
	}
	return &tasks.Error{Kind: kind, Type: typ, Message: doing + ": " + msg, Err: err}
}

func (t *s3Tasks) needFiles() error {
	if t.files == nil {
		return &tasks.Error{Kind: tasks.KindFatal, Type: typeNoFileStorage, Message: "this worker has no internal storage to take files from or put them in"}
	}
	return nil
}

func (t *s3Tasks) download(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	bucket, key, err := bucketKey(req.Props, true)
	if err != nil {
		return tasks.Result{}, err
	}
	version, err := tasks.OptString(req.Props, "versionId")
	if err != nil {
		return tasks.Result{}, err
	}
	if err := t.needFiles(); err != nil {
		return tasks.Result{}, err
	}
	c, err := client(ctx, req.Props)
	if err != nil {
		return tasks.Result{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	src := "s3://" + bucket + "/" + key
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return tasks.Result{}, classify(ctx, "downloading "+src, err)
	}
	defer out.Body.Close()
	name := path.Base(key)
	if name == "." || name == "/" || name == "" {
		name = "object"
	}
	run := storage.Run{Namespace: req.Namespace, FlowID: req.FlowID, ExecutionID: req.ExecutionID, TaskID: req.TaskID, TaskRunID: req.TaskRunID}
	uri, err := t.files.PutOutput(ctx, run, name, out.Body, aws.ToInt64(out.ContentLength))
	if err != nil {
		return tasks.Result{}, classify(ctx, "storing "+src+" in internal storage", err)
	}
	size := aws.ToInt64(out.ContentLength)
	tasks.Logger(req).Info("downloaded", "line", fmt.Sprintf("downloaded %s (%d bytes) to %s", src, size, uri))
	return tasks.Result{
		Outputs: map[string]any{
			"uri": uri, "contentLength": size, "contentType": aws.ToString(out.ContentType),
			"metadata": stringMap(out.Metadata), "versionId": aws.ToString(out.VersionId),
		},
		Metrics: []tasks.Metric{{Name: "file.size", Type: tasks.MetricCounter, Value: float64(size)}},
	}, nil
}

func (t *s3Tasks) upload(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	bucket, key, err := bucketKey(req.Props, true)
	if err != nil {
		return tasks.Result{}, err
	}
	from, err := tasks.ReqString(req.Props, "from")
	if err != nil {
		if _, isList := req.Props["from"].([]any); isList {
			return tasks.Result{}, tasks.PropError("from", "give one file's relay:/// URI; upload several with one task each (a flow.foreach)")
		}
		return tasks.Result{}, err
	}
	if !storage.IsURI(from) {
		return tasks.Result{}, tasks.PropError("from", "%q is not a relay:/// URI of a file in internal storage (an output file, a FILE input)", tasks.Excerpt(from, 200))
	}
	contentType, err := tasks.OptString(req.Props, "contentType")
	if err != nil {
		return tasks.Result{}, err
	}
	metadata, err := tasks.OptStringMap(req.Props, "metadata")
	if err != nil {
		return tasks.Result{}, err
	}
	if err := t.needFiles(); err != nil {
		return tasks.Result{}, err
	}
	c, err := client(ctx, req.Props)
	if err != nil {
		return tasks.Result{}, err
	}
	rc, size, err := t.files.Open(ctx, req.Namespace, from)
	if err != nil {
		kind := tasks.KindRetryable
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrForbidden) {
			kind = tasks.KindFatal
		}
		return tasks.Result{}, &tasks.Error{Kind: kind, Type: "InputFile", Message: "from: " + err.Error(), Err: err}
	}
	defer rc.Close()
	in := &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: rc, Metadata: metadata}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	dst := "s3://" + bucket + "/" + key
	out, err := transfermanager.New(c, func(o *transfermanager.Options) {
		o.PartSizeBytes = 8 << 20
		o.MultipartUploadThreshold = 8 << 20
		o.Concurrency = 3
	}).UploadObject(ctx, in)
	if err != nil {
		return tasks.Result{}, classify(ctx, "uploading to "+dst, err)
	}
	tasks.Logger(req).Info("uploaded", "line", fmt.Sprintf("uploaded %s (%d bytes) to %s", from, size, dst))
	return tasks.Result{Outputs: map[string]any{
		"bucket": bucket, "key": key, "eTag": strings.Trim(aws.ToString(out.ETag), `"`), "versionId": aws.ToString(out.VersionID),
	}}, nil
}

// List filters.
const (
	filterFiles     = "FILES"
	filterDirectory = "DIRECTORY"
	filterBoth      = "BOTH"
)

func (t *s3Tasks) list(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	bucket, prefix, err := bucketKey(req.Props, false)
	if err != nil {
		return tasks.Result{}, err
	}
	if p, err := tasks.OptString(req.Props, "prefix"); err != nil {
		return tasks.Result{}, err
	} else {
		prefix += p
	}
	delimiter, err := tasks.OptString(req.Props, "delimiter")
	if err != nil {
		return tasks.Result{}, err
	}
	marker, err := tasks.OptString(req.Props, "marker")
	if err != nil {
		return tasks.Result{}, err
	}
	pattern, err := tasks.OptString(req.Props, "regexp")
	if err != nil {
		return tasks.Result{}, err
	}
	var re *regexp.Regexp
	if pattern != "" {
		if re, err = regexp.Compile(pattern); err != nil {
			return tasks.Result{}, tasks.PropError("regexp", "%v", err)
		}
	}
	filter, err := tasks.OptString(req.Props, "filter")
	if err != nil {
		return tasks.Result{}, err
	}
	if filter == "" {
		filter = filterBoth
	}
	maxKeys := int64(1000)
	if v, ok := req.Props["maxKeys"].(int64); ok {
		maxKeys = v
	}
	c, err := client(ctx, req.Props)
	if err != nil {
		return tasks.Result{}, err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	if marker != "" {
		in.StartAfter = aws.String(marker)
	}
	objects := []any{}
	pages := s3.NewListObjectsV2Paginator(c, in)
	for pages.HasMorePages() && int64(len(objects)) < maxKeys {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return tasks.Result{}, classify(ctx, "listing s3://"+bucket+"/"+prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			dir := strings.HasSuffix(key, "/")
			if filter == filterFiles && dir || filter == filterDirectory && !dir || re != nil && !re.MatchString(key) {
				continue
			}
			obj := map[string]any{
				"key": key, "size": aws.ToInt64(o.Size), "eTag": strings.Trim(aws.ToString(o.ETag), `"`),
				"storageClass": string(o.StorageClass), "uri": "s3://" + bucket + "/" + key,
			}
			if o.LastModified != nil {
				obj["lastModified"] = o.LastModified.UTC().Format(time.RFC3339Nano)
			}
			objects = append(objects, obj)
			if int64(len(objects)) == maxKeys {
				break
			}
		}
	}
	return tasks.Result{Outputs: map[string]any{"objects": objects}}, nil
}

func (t *s3Tasks) delete(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	bucket, key, err := bucketKey(req.Props, true)
	if err != nil {
		return tasks.Result{}, err
	}
	version, err := tasks.OptString(req.Props, "versionId")
	if err != nil {
		return tasks.Result{}, err
	}
	c, err := client(ctx, req.Props)
	if err != nil {
		return tasks.Result{}, err
	}
	in := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := c.DeleteObject(ctx, in)
	if err != nil {
		return tasks.Result{}, classify(ctx, "deleting s3://"+bucket+"/"+key, err)
	}
	return tasks.Result{Outputs: map[string]any{"deleteMarker": aws.ToBool(out.DeleteMarker), "versionId": aws.ToString(out.VersionId)}}, nil
}

func (t *s3Tasks) copy(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	from, err := object(req.Props, "from")
	if err != nil {
		return tasks.Result{}, err
	}
	to, err := object(req.Props, "to")
	if err != nil {
		return tasks.Result{}, err
	}
	if to["key"] == "" {
		to["key"] = from["key"]
	}
	del, err := tasks.OptBool(req.Props, "delete", false)
	if err != nil {
		return tasks.Result{}, err
	}
	c, err := client(ctx, req.Props)
	if err != nil {
		return tasks.Result{}, err
	}
	source := from["bucket"] + "/" + url.PathEscape(from["key"])
	if v := from["versionId"]; v != "" {
		source += "?versionId=" + url.QueryEscape(v)
	}
	src, dst := "s3://"+from["bucket"]+"/"+from["key"], "s3://"+to["bucket"]+"/"+to["key"]
	out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(to["bucket"]), Key: aws.String(to["key"]), CopySource: aws.String(source)})
	if err != nil {
		return tasks.Result{}, classify(ctx, "copying "+src+" to "+dst, err)
	}
	if del {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(from["bucket"]), Key: aws.String(from["key"])}); err != nil {
			return tasks.Result{}, classify(ctx, "deleting "+src+" after copying it", err)
		}
	}
	res := tasks.Result{Outputs: map[string]any{"bucket": to["bucket"], "key": to["key"], "versionId": aws.ToString(out.VersionId)}}
	if out.CopyObjectResult != nil {
		res.Outputs["eTag"] = strings.Trim(aws.ToString(out.CopyObjectResult.ETag), `"`)
	}
	return res, nil
}

// object reads Copy's from or to: {bucket, key, versionId}.
func object(p map[string]any, name string) (map[string]string, error) {
	m, ok := p[name].(map[string]any)
	if !ok {
		return nil, tasks.PropError(name, "want {bucket, key}")
	}
	out := map[string]string{}
	for _, k := range []string{"bucket", "key", "versionId"} {
		v, err := tasks.OptString(m, k)
		if err != nil {
			return nil, tasks.PropError(name, "%s: %v", k, err)
		}
		out[k] = v
	}
	if out["bucket"] == "" || name == "from" && out["key"] == "" {
		return nil, tasks.PropError(name, "want {bucket, key}")
	}
	return out, nil
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
