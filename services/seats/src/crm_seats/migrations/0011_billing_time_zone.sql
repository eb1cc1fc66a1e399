-- The account's time zone (IANA name): its billing day, the day a charge is made and a period
-- renews, ends at its own midnight. Accounts set before this column bill in UTC, as they did.
ALTER TABLE subscriptions ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
