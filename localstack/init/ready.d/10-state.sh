#!/bin/bash
# Run by LocalStack once it is ready (/etc/localstack/init/ready.d): the
# state table and the bucket of large values that `relay dev` uses with
# `make local-dev` (RELAY_TABLE=relay, RELAY_BUCKET=relay-large-values).
#
# The table is infra/dynamo's TableDefinition, kept in ../relay-table.json
# (localstack/localstack_test.go checks that they agree), with time to live
# on expiresAt, as Store.CreateTable and template.yaml's StateTable make it.
# A stack deployed by `make local-deploy` gets a table and a bucket of its
# own from CloudFormation, as on AWS.
set -euo pipefail
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

table=${RELAY_TABLE:-relay}
bucket=${RELAY_BUCKET:-relay-large-values}
definition=$(dirname "$(readlink -f "$0")")/../relay-table.json

if awslocal dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
	echo "relay: table $table exists"
else
	awslocal dynamodb create-table --cli-input-json "file://$definition" --table-name "$table" >/dev/null
	awslocal dynamodb wait table-exists --table-name "$table"
	echo "relay: table $table created"
fi
ttl=$(awslocal dynamodb describe-time-to-live --table-name "$table" \
	--query TimeToLiveDescription.TimeToLiveStatus --output text)
if [ "$ttl" != ENABLED ]; then
	awslocal dynamodb update-time-to-live --table-name "$table" \
		--time-to-live-specification Enabled=true,AttributeName=expiresAt >/dev/null
	echo "relay: time to live on $table.expiresAt"
fi

if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
	echo "relay: bucket $bucket exists"
else
	awslocal s3api create-bucket --bucket "$bucket" >/dev/null
	echo "relay: bucket $bucket created"
fi
