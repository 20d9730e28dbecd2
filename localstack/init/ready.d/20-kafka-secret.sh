#!/bin/bash
# Run by LocalStack once it is ready: the Secrets Manager secret relay/kafka,
# {"username": ..., "password": ...}, that samconfig.toml's `local`
# environment passes to the template as KafkaSecretArn. The functions
# deployed to LocalStack read it to sign in to Kafka's kafka:29093 listener
# with SASL/SCRAM-SHA-512, as they would on a self-managed cluster. The pair
# comes from docker-compose.yml (x-kafka-user), which also gives it to
# kafka-init to create the user on the broker: a dummy, for this machine only.
set -euo pipefail
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

name=relay/kafka
value=$(python3 -c 'import json, os; print(json.dumps({"username": os.environ["RELAY_KAFKA_USERNAME"], "password": os.environ["RELAY_KAFKA_PASSWORD"]}))')

if awslocal secretsmanager describe-secret --secret-id "$name" >/dev/null 2>&1; then
	awslocal secretsmanager put-secret-value --secret-id "$name" --secret-string "$value" >/dev/null
	echo "relay: secret $name updated"
else
	awslocal secretsmanager create-secret --name "$name" --secret-string "$value" \
		--description "Kafka SCRAM credentials of Relay's functions on LocalStack (a dummy)" >/dev/null
	echo "relay: secret $name created"
fi
