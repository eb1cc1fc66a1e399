"""Settings every service reads from its environment."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://crm@127.0.0.1:5433/postgres"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Where people reach this service's HTTP side, e.g. for links in e-mails.
    public_base_url: str = ""
    log_level: str = "INFO"
    # Suffix for consumer group ids, so a second copy of the system can share a broker.
    group_suffix: str = ""
    retry_max_delay_s: float = 5.0
    # A handler that keeps failing on the same message (a bug, not an outage) is dead-lettered
    # after this many attempts so that its partition moves on.
    handler_attempts: int = 3
    outbox_batch: int = 500
    # Offsets of finished records are committed together at most this long after they finish
    # (a crash redelivers at most this much, which the inbox makes a no-op).
    offset_commit_interval_s: float = 0.5
    # Records taken from Kafka in one fetch (across partitions); a partition's share is one batch,
    # handled in one transaction.
    fetch_max_records: int = 500
    # A partition is paused while this many of its records wait behind the batch in flight.
    lane_backlog: int = 5000
    # Partitions whose batches are processed at the same time (each uses one connection).
    max_concurrent_partitions: int = 4
    db_pool_size: int = 10
    # How long a batch in flight may take to finish when its partition is revoked or the service
    # stops; after that it is cancelled (rolled back) and redelivered to whoever owns it next.
    revoke_wait_s: float = 10.0
    drain_timeout_s: float = 20.0
    # /health reports unhealthy when a partition's batch has been failing, or the outbox relay has
    # not advanced with rows waiting, for this long.
    stuck_after_s: float = 30.0

    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"
