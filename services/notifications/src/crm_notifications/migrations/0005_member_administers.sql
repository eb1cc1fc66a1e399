-- Whether a member administers the account, as identity publishes it (`administers_account` on
-- identity.member.added), replacing the role notifications used to interpret itself. Rows kept
-- before the field existed take identity's rule as it stood: the roles admin and owner.
ALTER TABLE account_members ADD COLUMN administers boolean NOT NULL DEFAULT false;
UPDATE account_members SET administers = lower(trim(role)) IN ('admin', 'owner') WHERE role IS NOT NULL;
ALTER TABLE account_members DROP COLUMN role;
DROP INDEX account_members_admins;
CREATE INDEX account_members_admins ON account_members (account_id) WHERE status = 'active' AND administers;
