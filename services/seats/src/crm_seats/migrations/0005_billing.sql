-- Periods that renew from an anchor, limits on automatic upgrades, reductions at renewal.
ALTER TABLE subscriptions ADD COLUMN anchor date;
ALTER TABLE subscriptions ADD COLUMN billing_interval text NOT NULL DEFAULT 'month'
    CHECK (billing_interval IN ('month', 'year'));
ALTER TABLE subscriptions ADD COLUMN auto_upgrade_mode text NOT NULL DEFAULT 'on'
    CHECK (auto_upgrade_mode IN ('on', 'off', 'limit'));
ALTER TABLE subscriptions ADD COLUMN auto_upgrade_max int CHECK (auto_upgrade_max >= 0);
ALTER TABLE subscriptions ADD COLUMN scheduled_seats_total int CHECK (scheduled_seats_total >= 0);
UPDATE subscriptions SET anchor = period_start WHERE anchor IS NULL;

-- Every period an account has been in, with the seats paid for at its start: the recurring line
-- of its invoice. Written when a subscription is set and at each renewal.
CREATE TABLE billing_periods (
    account_id       text NOT NULL,
    period_start     date NOT NULL,
    period_end       date NOT NULL,
    seats_total      int  NOT NULL,
    seat_price_cents int  NOT NULL,
    currency         text NOT NULL,
    cause_event_id   text NOT NULL,
    PRIMARY KEY (account_id, period_start)
);

-- The day a charge was made (the handler's clock), and the period it pays for.
ALTER TABLE charges ADD COLUMN charged_on date;
ALTER TABLE charges ADD COLUMN period_start date;
CREATE INDEX charges_account_period ON charges (account_id, period_end);

-- When a seat was got, by the handler's clock, for finding seats nobody uses.
ALTER TABLE seat_holders ADD COLUMN reserved_on date;
UPDATE seat_holders SET reserved_on = reserved_at::date WHERE reserved_on IS NULL;
