CREATE TABLE subscriptions (
    account_id       text PRIMARY KEY,
    tier             text,
    owner_user_id    text,
    owner_email      text,
    seats_total      int  NOT NULL DEFAULT 0 CHECK (seats_total >= 0),
    seats_used       int  NOT NULL DEFAULT 0 CHECK (seats_used >= 0),
    seat_price_cents int  NOT NULL DEFAULT 0,
    currency         text NOT NULL DEFAULT 'USD',
    period_start     date,
    period_end       date,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (seats_used <= seats_total)
);

-- Every change to an account's seats, with its cause: the history people and billing read.
CREATE TABLE seat_ledger (
    id             bigserial PRIMARY KEY,
    account_id     text NOT NULL,
    change         text NOT NULL,
    user_id        text,
    seats_total    int  NOT NULL,
    seats_used     int  NOT NULL,
    cause_event_id text NOT NULL,
    cause_type     text NOT NULL,
    actor          text NOT NULL,
    charge_id      text,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seat_ledger_account ON seat_ledger (account_id, id);
