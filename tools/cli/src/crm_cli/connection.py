"""Where the Kafka cluster is and how to log in to it: flags, else CRM_KAFKA_* variables.

Locally nothing needs setting (127.0.0.1:9092, plaintext). For a production cluster set, e.g.:
CRM_KAFKA_BOOTSTRAP_SERVERS=kafka-1:9093,kafka-2:9093 CRM_KAFKA_SECURITY_PROTOCOL=SASL_SSL
CRM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 CRM_KAFKA_SASL_USERNAME=… CRM_KAFKA_SASL_PASSWORD=…
CRM_KAFKA_SSL_CAFILE=/etc/ssl/kafka-ca.pem — the names aiokafka takes, with the prefix.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class Cluster:
    bootstrap: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None

    @classmethod
    def from_env(cls, bootstrap: str | None = None) -> Cluster:
        env = os.environ
        return cls(
            bootstrap=bootstrap or env.get("CRM_KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap),
            security_protocol=env.get("CRM_KAFKA_SECURITY_PROTOCOL", cls.security_protocol),
            sasl_mechanism=env.get("CRM_KAFKA_SASL_MECHANISM"),
            sasl_username=env.get("CRM_KAFKA_SASL_USERNAME"),
            sasl_password=env.get("CRM_KAFKA_SASL_PASSWORD"),
            ssl_cafile=env.get("CRM_KAFKA_SSL_CAFILE"),
        )

    def client_args(self) -> dict:
        """Keyword arguments for any aiokafka client."""
        args: dict = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            args.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                        sasl_plain_password=self.sasl_password)
        if "SSL" in self.security_protocol:
            args["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        return args
