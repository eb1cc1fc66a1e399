-- The one MLS an IDX package comes with, named at purchase.
ALTER TABLE instances ADD COLUMN mls_id text;
