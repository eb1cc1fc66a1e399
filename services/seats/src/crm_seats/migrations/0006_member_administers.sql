-- Whether a member administers the account, as identity publishes it (`administers_account` on
-- identity.member.added), replacing the role seats used to interpret itself. Rows kept before the
-- field existed take identity's rule as it stood: the roles admin and owner.
ALTER TABLE member_statuses ADD COLUMN administers boolean NOT NULL DEFAULT false;
UPDATE member_statuses SET administers = lower(trim(role)) IN ('admin', 'owner') WHERE role IS NOT NULL;
ALTER TABLE member_statuses DROP COLUMN role;
