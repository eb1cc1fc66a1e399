-- A cancelled instance takes no new lead and no change; its leads are readable until then.
ALTER TABLE instances ADD COLUMN read_only_until timestamptz;
