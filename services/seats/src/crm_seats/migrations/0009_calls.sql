-- A user's bridge number (the same on every instance) and their call settings per instance.
CREATE TABLE bridge_numbers (
    number     text PRIMARY KEY,
    account_id text NOT NULL,
    user_id    text NOT NULL,
    given_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, user_id)
);

CREATE TABLE call_settings (
    instance_id text NOT NULL,
    user_id     text NOT NULL,
    account_id  text NOT NULL,
    settings    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, user_id)
);
