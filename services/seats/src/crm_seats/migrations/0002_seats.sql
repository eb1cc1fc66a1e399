-- Who holds a seat; the count of rows per account always equals subscriptions.seats_used.
CREATE TABLE seat_holders (
    account_id     text NOT NULL REFERENCES subscriptions (account_id),
    user_id        text NOT NULL,
    auto_upgraded  boolean NOT NULL,
    cause_event_id text NOT NULL,
    reserved_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id)
);

-- Member statuses as identity publishes them: enough to count pending opt-ins (AO12).
CREATE TABLE member_statuses (
    account_id text NOT NULL,
    user_id    text NOT NULL,
    status     text NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

CREATE TABLE charges (
    charge_id        text PRIMARY KEY,
    account_id       text NOT NULL,
    user_id          text,
    amount_cents     int  NOT NULL,
    currency         text NOT NULL,
    description      text NOT NULL,
    days_remaining   int  NOT NULL,
    days_in_period   int  NOT NULL,
    period_end       date NOT NULL,
    cause_event_id   text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_account ON charges (account_id);
