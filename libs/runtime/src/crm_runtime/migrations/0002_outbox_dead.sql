-- Outbox rows the broker can never take (too large, a topic that does not exist or is not ours
-- to write). They are moved here, counted and logged, so the rows behind them keep flowing.
CREATE TABLE outbox_dead (
    id           bigint PRIMARY KEY,  -- the outbox id it had
    event_id     text NOT NULL,
    topic        text NOT NULL,
    key          text NOT NULL,
    type         text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    error        text NOT NULL,
    set_aside_at timestamptz NOT NULL DEFAULT now()
);
