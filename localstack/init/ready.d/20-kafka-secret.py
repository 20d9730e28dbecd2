"""The Secrets Manager secret relay/kafka, {"username": ..., "password": ...}:
the SCRAM-SHA-512 user that Relay signs in to Kafka with, read from Secrets
Manager as the functions read it on AWS (RELAY_KAFKA_SECRET).

Run by LocalStack once it is ready (see 10-state.py). The pair comes from
LocalStack's environment, RELAY_KAFKA_USERNAME and RELAY_KAFKA_PASSWORD: in
host mode (host.sh), the SASL user of services/' broker; with Docker
(docker-compose.yml x-kafka-user), the user kafka-init creates on the
broker beside LocalStack, which samconfig.toml's `local` environment passes
to the template as KafkaSecretArn. A dummy, for this machine only.
"""

import json
import os

import boto3
from localstack import config

sm = boto3.client(
    "secretsmanager",
    endpoint_url=config.internal_service_url(),
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)

name = "relay/kafka"
value = json.dumps(
    {"username": os.environ["RELAY_KAFKA_USERNAME"], "password": os.environ["RELAY_KAFKA_PASSWORD"]}
)
try:
    sm.describe_secret(SecretId=name)
    sm.put_secret_value(SecretId=name, SecretString=value)
    print(f"relay: secret {name} updated")
except sm.exceptions.ResourceNotFoundException:
    sm.create_secret(
        Name=name,
        SecretString=value,
        Description="Kafka SCRAM credentials of Relay's functions on LocalStack (a dummy)",
    )
    print(f"relay: secret {name} created")
