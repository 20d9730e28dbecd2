#!/usr/bin/env bash
# Run once by the kafka-init service of localstack/docker-compose.yml, in
# the apache/kafka image, when the broker is healthy:
#
# 1. Relay's four topics, as the bus creates them when they are missing
#    (infra/kafka: 8 partitions each, replication factor 1; nothing sets a
#    per-topic count). Creating them here as well means that consumers
#    started before any Relay process (a Lambda event source mapping, with
#    LocalStack Pro) find them.
# 2. The SCRAM-SHA-512 user that the functions deployed to LocalStack sign
#    in with on the broker's kafka:29093 listener (the same pair as the
#    Secrets Manager secret relay/kafka of init/ready.d/20-kafka-secret.py).
set -euo pipefail

bin=/opt/kafka/bin
bootstrap=${RELAY_KAFKA_BOOTSTRAP:-kafka:29092}
partitions=${RELAY_TOPIC_PARTITIONS:-8}
prefix=${RELAY_TOPIC_PREFIX:-}
user=${RELAY_KAFKA_USERNAME:?RELAY_KAFKA_USERNAME is not set}
password=${RELAY_KAFKA_PASSWORD:?RELAY_KAFKA_PASSWORD is not set}

for topic in relay.executions relay.taskruns relay.events relay.dlq; do
	"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
		--topic "$prefix$topic" --partitions "$partitions" --replication-factor 1
done

"$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --alter \
	--entity-type users --entity-name "$user" \
	--add-config "SCRAM-SHA-512=[password=$password]"

"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --describe --topic "${prefix}relay\..*" | grep -E '^Topic:' || true
echo "kafka-init: topics and the SCRAM user $user are ready"
