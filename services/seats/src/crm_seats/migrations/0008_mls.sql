-- The one MLS an IDX instance comes with, for its entitlements.
ALTER TABLE instances ADD COLUMN mls_id text;
