"""The state table and the bucket of large values that `relay dev` uses after
`make localstack-up` (RELAY_TABLE=relay, RELAY_BUCKET=relay-large-values).

Run by LocalStack once it is ready: it executes the Python scripts of
/etc/localstack/init/ready.d in its own process, so these calls cost no AWS
CLI start each (a shell hook calling awslocal took 2 to 3 s a call).

The table is infra/dynamo's TableDefinition, kept in ../relay-table.json
(localstack_test.go checks that they agree), with time to live on
expiresAt, as Store.CreateTable and template.yaml's StateTable make it. A
stack deployed by `make localstack-deploy` gets a table and a bucket of its
own from CloudFormation, as on AWS.
"""

import json
import os

import boto3
from localstack import config


def client(service):
    return boto3.client(
        service,
        endpoint_url=config.internal_service_url(),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


table = os.environ.get("RELAY_TABLE", "relay")
bucket = os.environ.get("RELAY_BUCKET", "relay-large-values")
ddb, s3 = client("dynamodb"), client("s3")

try:
    ddb.describe_table(TableName=table)
    print(f"relay: table {table} exists")
except ddb.exceptions.ResourceNotFoundException:
    with open(os.path.join(config.dirs.init, "relay-table.json"), encoding="utf-8") as f:
        definition = json.load(f)
    definition["TableName"] = table
    ddb.create_table(**definition)
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    print(f"relay: table {table} created")
ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
if ttl.get("TimeToLiveStatus") != "ENABLED":
    ddb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"},
    )
    print(f"relay: time to live on {table}.expiresAt")

try:
    s3.head_bucket(Bucket=bucket)
    print(f"relay: bucket {bucket} exists")
except s3.exceptions.ClientError:
    s3.create_bucket(Bucket=bucket)
    print(f"relay: bucket {bucket} created")
