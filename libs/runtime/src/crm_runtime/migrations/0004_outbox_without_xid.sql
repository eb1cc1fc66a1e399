-- The relay publishes every committed row not yet published, in id order, on each pass: a row of
-- a transaction that commits after a higher id was published is picked up by the next pass. The
-- writing transaction's id (xid) is not read by anything, so it is no longer written.
ALTER TABLE outbox DROP COLUMN IF EXISTS xid;
