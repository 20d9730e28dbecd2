package flow

// The S3 tasks (tasks/s3tasks), with Kestra's names and properties.

// s3Unsupported are the properties of Kestra's S3 tasks that Relay has not.
var s3Unsupported = map[string]string{
	"stsRoleArn":             "assuming a role is not supported; give the worker's role the access, or pass credentials",
	"stsRoleExternalId":      "assuming a role is not supported",
	"stsRoleSessionName":     "assuming a role is not supported",
	"stsRoleSessionDuration": "assuming a role is not supported",
	"stsEndpointOverride":    "assuming a role is not supported",
	"compatibilityMode":      "Relay's client works with S3-compatible servers as it is; remove it",
	"requestPayer":           "requester-pays buckets are not supported",
	"expectedBucketOwner":    "not supported",
	"maxFiles":               "Download takes one key; list with s3.list and download each in a flow.foreach",
	"validateChecksum":       "not supported",
	"encodingType":           "not supported",
	"acl":                    "not supported; use the bucket's policy",
	"storageClass":           "not supported; use the bucket's lifecycle rules",
	"checksumAlgorithm":      "not supported",
}

func s3Connection() []*PropDef {
	return []*PropDef{
		str("region", "AWS region; the worker's (AWS_REGION) when left out."),
		str("accessKeyId", "Access key id; the worker's credentials (its role on Lambda) when left out. Use `secret()`."),
		str("secretKeyId", "Secret access key, with `accessKeyId`. Use `secret()`."),
		str("sessionToken", "Session token of temporary credentials."),
		str("endpointOverride", "URL of an S3-compatible server; also read from AWS_ENDPOINT_URL_S3."),
		boolean("forcePathStyle", "Address the bucket in the URL path (true by default when an endpoint is given)."),
	}
}

func s3Props(props ...*PropDef) []*PropDef { return append(props, s3Connection()...) }

func s3TaskTypes() []*TypeDef {
	bucket := required(str("bucket", "Bucket name; `s3://bucket/prefix/` puts the prefix before the key."))
	key := func(desc string) *PropDef { return required(str("key", desc)) }
	objectRef := func(name, desc string) *PropDef {
		return object(name, desc, str("bucket", "Bucket name."), str("key", "Object key."), str("versionId", "Version of the object."))
	}
	return []*TypeDef{
		{
			Name: TypeS3Download, Category: CategoryTask,
			Aliases:     kestra("plugin.aws.s3.Download"),
			Description: "Downloads an object into internal storage, streamed; `uri` is the file, for `inputFiles` of a script task or `read()`.",
			Props:       s3Props(bucket, key("Key of the object."), str("versionId", "Version of the object.")),
			Outputs: []OutputDef{
				{Name: "uri", Kind: KindString, Description: "relay:/// URI of the file in internal storage."},
				{Name: "contentLength", Kind: KindInt, Description: "Size in bytes."},
				{Name: "contentType", Kind: KindString, Description: "The object's Content-Type."},
				{Name: "metadata", Kind: KindMap, Description: "The object's user metadata."},
				{Name: "versionId", Kind: KindString, Description: "Version downloaded (versioned buckets)."},
			},
			Unsupported: s3Unsupported,
		},
		{
			Name: TypeS3Upload, Category: CategoryTask,
			Aliases:     kestra("plugin.aws.s3.Upload"),
			Description: "Uploads a file of internal storage (an output file, a FILE input, a download) to a bucket, streamed, in parts when large.",
			Props: s3Props(bucket, key("Key of the object to write."),
				required(str("from", "relay:/// (or kestra:///) URI of the file to upload.")),
				str("contentType", "Content-Type of the object."),
				mapOf("metadata", stringSpec, "User metadata of the object.")),
			Outputs: []OutputDef{
				{Name: "bucket", Kind: KindString, Description: "Bucket written."},
				{Name: "key", Kind: KindString, Description: "Key written."},
				{Name: "eTag", Kind: KindString, Description: "ETag of the object."},
				{Name: "versionId", Kind: KindString, Description: "Version written (versioned buckets)."},
			},
			Unsupported: s3Unsupported,
		},
		{
			Name: TypeS3List, Category: CategoryTask,
			Aliases:     kestra("plugin.aws.s3.List"),
			Description: "Lists the objects of a bucket under a prefix.",
			Props: s3Props(bucket,
				str("prefix", "Keys must start with it."),
				str("delimiter", "Groups keys: with `/`, only the objects directly under the prefix."),
				str("marker", "List the keys after this one."),
				str("regexp", "Keep the keys this regular expression matches."),
				withDefault(enum("filter", []string{"FILES", "DIRECTORY", "BOTH"}, "Keep files, folder markers (keys ending in `/`), or both."), "BOTH"),
				withDefault(integer("maxKeys", 1, "Most objects listed."), int64(1000))),
			Outputs: []OutputDef{
				{Name: "objects", Kind: KindList, Description: "The objects: `key`, `size`, `lastModified`, `eTag`, `storageClass`, `uri` (s3://bucket/key)."},
			},
			Unsupported: s3Unsupported,
		},
		{
			Name: TypeS3Delete, Category: CategoryTask,
			Aliases:     kestra("plugin.aws.s3.Delete"),
			Description: "Deletes an object.",
			Props:       s3Props(bucket, key("Key of the object."), str("versionId", "Version to delete.")),
			Outputs: []OutputDef{
				{Name: "deleteMarker", Kind: KindBool, Description: "Whether a delete marker was written (versioned buckets)."},
				{Name: "versionId", Kind: KindString, Description: "Version deleted or of the delete marker."},
			},
			Unsupported: s3Unsupported,
		},
		{
			Name: TypeS3Copy, Category: CategoryTask,
			Aliases:     kestra("plugin.aws.s3.Copy"),
			Description: "Copies an object within S3 (between buckets too), with `delete` a move.",
			Props: s3Props(
				required(objectRef("from", "The object to copy: `bucket`, `key`, `versionId`.")),
				required(objectRef("to", "Where to: `bucket`, `key` (the source's key when left out).")),
				withDefault(boolean("delete", "Delete the source once copied."), false)),
			Outputs: []OutputDef{
				{Name: "bucket", Kind: KindString, Description: "Bucket written."},
				{Name: "key", Kind: KindString, Description: "Key written."},
				{Name: "eTag", Kind: KindString, Description: "ETag of the copy."},
				{Name: "versionId", Kind: KindString, Description: "Version written (versioned buckets)."},
			},
			Unsupported: s3Unsupported,
		},
	}
}
