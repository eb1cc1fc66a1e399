#!/bin/sh
# Writes server.properties from KAFKA_* variables the way the official image does (KAFKA_ dropped,
# "___" -> "-", "__" -> "_", "_" -> ".", lower case), formats the log directory once, runs the broker.
set -eu
DATA=/var/lib/kafka/data
CONF=/var/lib/kafka/server.properties
: "${CLUSTER_ID:=5L6g3nShT-eMCtK--X86sw}"
env | grep '^KAFKA_' | grep -v -E '^KAFKA_(HEAP_OPTS|OPTS|JVM_PERFORMANCE_OPTS|LOG4J_OPTS)=' \
  | while IFS='=' read -r name value; do
      key=$(printf '%s' "${name#KAFKA_}" | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g' | tr 'A-Z' 'a-z')
      printf '%s=%s\n' "$key" "$value"
    done > "$CONF"
grep -q '^log.dirs=' "$CONF" || echo "log.dirs=$DATA" >> "$CONF"
CP="/opt/kafka/libs/*"
if [ ! -f "$DATA/meta.properties" ]; then
  java -cp "$CP" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$CONF" --ignore-formatted
fi
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp "$CP" kafka.Kafka "$CONF"
