-- What the periodic pruning deletes by, so that each pass reads an index range instead of the
-- whole table: published outbox rows by when they were published, inbox rows by when they came.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX inbox_received ON inbox (received_at);
