package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/relayflow/relay/infra/awsclient"
	"github.com/relayflow/relay/internal/health"
)

// S3 keeps blobs as objects of one bucket, under an optional key prefix;
// references are s3://bucket/key URLs.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
}

// NewS3 returns an S3 store on bucket. Keys are stored under prefix (say
// "relay/"; "" for none), so that deployments can share a bucket.
func NewS3(client *s3.Client, bucket, prefix string) *S3 {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

// NewS3Client returns an S3 client configured the standard way: region,
// credentials and endpoint from the environment and shared config, so
// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) points it at a local
// S3-compatible server. pathStyle addresses buckets in the path
// (http://host/bucket/key) rather than in the host name, as servers
// without wildcard DNS need.
func NewS3Client(ctx context.Context, pathStyle bool) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		o.Retryer = awsclient.Retryer()
		o.HTTPClient = awsclient.StreamingHTTPClient()
		o.APIOptions = append(o.APIOptions, awsclient.Classify(health.Blobs))
		// S3-compatible servers send no checksums; the SDK would log a
		// line about it for every object read.
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// Bucket returns the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// Put writes data as the object prefix+key; writing a key again replaces
// the object.
func (s *S3) Put(ctx context.Context, key string, data []byte) (string, error) {
	k := s.prefix + key
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(k),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	ref := "s3://" + s.bucket + "/" + k
	if err != nil {
		return "", fmt.Errorf("storing blob %s: %w", ref, err)
	}
	return ref, nil
}

// Get reads the object a reference names. References to another bucket
// are refused: a message cannot make a process read any object its role
// may read.
func (s *S3) Get(ctx context.Context, ref string) ([]byte, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "s3" || u.Host == "" || len(u.Path) < 2 {
		return nil, fmt.Errorf("reading blob %q: not an s3:// reference", ref)
	}
	if u.Host != s.bucket {
		return nil, fmt.Errorf("reading blob %s: not in bucket %s", ref, s.bucket)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.Host), Key: aws.String(u.Path[1:])})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, fmt.Errorf("reading blob %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", ref, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", ref, err)
	}
	return data, nil
}
