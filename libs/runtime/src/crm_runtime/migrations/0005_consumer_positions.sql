-- Where each consumer group of this service had committed, per partition, copied from Kafka every
-- few seconds. Kafka forgets an idle group's offsets after `offsets.retention.minutes`; a group
-- that then finds none where this table says it had one stops instead of re-reading history
-- (docs/operations.md, "Offsets"), and `crm offsets` can start it again from here.
CREATE TABLE consumer_positions (
    group_id    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
