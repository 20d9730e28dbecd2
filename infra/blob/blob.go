// Package blob keeps the values that are too large for a DynamoDB item or
// a Kafka message (engine.Blobs): S3 on the serverless path, and a local
// folder for `relay dev` without a bucket. Keys are relative,
// slash-separated paths (engine.BlobKey); references are URLs that name
// the store too, s3://bucket/key and file:///path, so that a reference
// found in an item or a message says where the value is.
package blob

import "errors"

// ErrNotFound is wrapped by Get's error when the referenced blob does not
// exist; the message names the reference.
var ErrNotFound = errors.New("blob not found")
