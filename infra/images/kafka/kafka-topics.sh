#!/bin/sh
# The official image's topic tool at the same path, for the compose healthcheck.
exec java -Xmx128m -cp "/opt/kafka/libs/*" org.apache.kafka.tools.TopicCommand "$@"
