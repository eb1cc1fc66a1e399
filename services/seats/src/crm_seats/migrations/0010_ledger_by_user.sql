-- Who acted for each seat change: the account admin who added, deactivated or reactivated the
-- member, or the member who accepted their invitation; empty where the platform did (billing, a
-- seat answer) or for rows written before this column.
ALTER TABLE seat_ledger ADD COLUMN by_user_id text;
