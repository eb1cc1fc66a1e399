"""Settings every service reads from its environment."""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DAY = 24 * 3600.0


def client_args(kafka: str | dict) -> dict:
    """aiokafka arguments from a bootstrap address, or from whole connection settings
    (`ServiceSettings.kafka_args`, `Stack.kafka.args`)."""
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else kafka


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # The service's own Kafka principal. Production: SASL_SSL with SCRAM-SHA-512 (or -256), the
    # cluster's CA file and, for mutual TLS, a client certificate and key.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    database_url: str = "postgresql://crm@127.0.0.1:5433/postgres"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65_535)
    # Where people reach this service's HTTP side, e.g. for links in e-mails.
    public_base_url: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Suffix for consumer group ids, so a second copy of the system can share a broker.
    group_suffix: str = ""
    retry_max_delay_s: float = Field(default=5.0, gt=0, le=300)
    # A handler that keeps failing on the same message (a bug, not an outage) is dead-lettered
    # after this many attempts so that its partition moves on.
    handler_attempts: int = Field(default=3, ge=1, le=100)
    # A record whose own transaction hits the statement or lock timeout this many times, while the
    # database answers other work, is dead-lettered (`timeout`) instead of holding its partition.
    timeout_attempts: int = Field(default=5, ge=1, le=1000)
    outbox_batch: int = Field(default=500, ge=1, le=10_000)
    # The producer gives up on a send after this long (aiokafka's request_timeout_ms). A relay
    # pass is given longer (`relay_pass_timeout_s`), so it never stops while sends it started are
    # still in flight — another replica taking over would publish those rows a second time.
    producer_request_timeout_s: float = Field(default=30.0, ge=1, le=600)
    # Published outbox rows are deleted this long after publishing (the topic holds them).
    outbox_keep_published_s: float = Field(default=600.0, ge=0, le=30 * DAY)
    # Inbox claims are kept a day longer than dead letters (four weeks), which a replay by hand
    # may bring back; older ones are deleted in batches (see crm_runtime.inbox).
    # Shorter than the dead letters' four weeks would let a replay handle a message twice.
    inbox_keep_s: float = Field(default=29 * DAY, ge=28 * DAY, le=366 * DAY)
    # Offsets of finished records are committed together at most this long after they finish
    # (a crash redelivers at most this much, which the inbox makes a no-op).
    offset_commit_interval_s: float = Field(default=0.5, gt=0, le=60)
    # "uvloop" (libuv's loop: socket reads and writes, timers and callbacks in C) or "asyncio"
    # (the standard library's, to compare against).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Trace Python allocations from start for `GET /debug/memory` (slows the service: off by default).
    memory_profile: bool = False
    # Blocks this large or larger are mmapped, and returned to the system when freed (see
    # `crm_runtime.memory.fix_mmap_threshold`); 0 leaves glibc's sliding threshold.
    # glibc takes at most 32 MiB (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit).
    malloc_mmap_threshold: int = Field(default=128 * 1024, ge=0, le=32 * 1024 * 1024)
    # Records taken from Kafka in one fetch (across partitions), and at most in one group.
    fetch_max_records: int = Field(default=500, ge=1, le=10_000)
    # A fetch answers once this many bytes wait or `fetch_max_wait_ms` has passed. Kafka's defaults
    # answer at the first record: latency first. 64 KiB and 50 ms cut an acceptance's CPU by about
    # 15% at 150/s (fewer, larger fetches, batches and transactions) but add up to 50 ms a hop, and
    # p99 at 100-250 commands/s doubled in `make bench` (see docs/operations.md): a knob for
    # capacity, not the default.
    fetch_min_bytes: int = Field(default=1, ge=1, le=64 * 1024 * 1024)
    fetch_max_wait_ms: int = Field(default=500, ge=0, le=60_000)
    # The relay, woken by a commit, waits this long for more commits before its pass; the
    # producer holds a partition's records this long for more (aiokafka's linger_ms).
    relay_gather_ms: int = Field(default=5, ge=0, le=1000)
    producer_linger_ms: int = Field(default=5, ge=0, le=1000)
    # A partition is paused while this many of its records wait behind the batch in flight.
    lane_backlog: int = Field(default=5000, ge=2, le=1_000_000)
    # Groups of partitions' batches processed at the same time (each uses one connection, and a
    # group that splits at most this many); each group is tried as one transaction of up to this
    # many partitions (1: each partition's batch a transaction of its own).
    # A 0 would start nothing, ever: each has a range, so a bad environment fails at start.
    max_concurrent_partitions: int = Field(default=4, ge=1, le=256)
    group_max_partitions: int = Field(default=16, ge=1, le=1024)
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    # How long a batch in flight may take to finish when its partition is revoked or the service
    # stops; after that it is cancelled (rolled back) and redelivered to whoever owns it next.
    revoke_wait_s: float = Field(default=10.0, gt=0, le=300)
    drain_timeout_s: float = Field(default=20.0, gt=0, le=600)
    # /health reports unhealthy when a partition's batch has been failing, or the outbox relay has
    # not advanced with rows waiting, for this long.
    stuck_after_s: float = Field(default=30.0, gt=0, le=3600)

    # Bearer tokens on the HTTP side: the identity provider's public keys (a JWKS file, or a URL
    # fetched and cached), the issuer and audience tokens must name. Without them every endpoint
    # but /health, /metrics and the invitation page answers 503.
    auth_jwks_file: str = ""
    auth_jwks_url: str = ""
    auth_issuer: str = ""
    auth_audience: str = ""
    # Asymmetric only: a shared-secret (HS*) or "none" algorithm would let whoever holds the
    # public key, or nobody, sign tokens.
    auth_algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                                  "EdDSA"]] = Field(default=["RS256", "ES256"], min_length=1, max_length=10)
    # Clock skew tolerated on exp/nbf/iat.
    auth_leeway_s: float = Field(default=30.0, ge=0, le=300)

    def kafka_args(self) -> dict:
        """Connection arguments for every aiokafka client the service makes."""
        args: dict = {"bootstrap_servers": self.kafka_bootstrap_servers,
                      "security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            args.update(sasl_mechanism=self.kafka_sasl_mechanism, sasl_plain_username=self.kafka_sasl_username,
                        sasl_plain_password=self.kafka_sasl_password)
        if "SSL" in self.kafka_security_protocol:
            context = ssl.create_default_context(cafile=self.kafka_ssl_cafile or None)
            if self.kafka_ssl_certfile:
                context.load_cert_chain(self.kafka_ssl_certfile, self.kafka_ssl_keyfile or None)
            args["ssl_context"] = context
        return args

    @property
    def relay_pass_timeout_s(self) -> float:
        return self.producer_request_timeout_s * 1.5 + 5

    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"
