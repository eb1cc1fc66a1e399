-- Transactional outbox: rows are written in the business transaction and relayed afterwards.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    type         text NOT NULL,
    payload      bytea NOT NULL,
    -- The writing transaction, so the relay can wait for older transactions still in flight
    -- instead of publishing past rows that will commit with a lower id.
    xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Inbox: one row per (consumer, message id) handled, written in the handler's transaction.
CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    text NOT NULL,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
