-- Lookups by user across accounts (a user's instances) and a pending invitation into an instance,
-- each served by an index instead of a scan of the whole table.
CREATE INDEX instance_members_by_user ON instance_members (user_id);
CREATE INDEX members_by_user ON members (user_id);
CREATE INDEX accounts_by_owner ON accounts (owner_user_id);
CREATE INDEX instances_enterprise ON instances (account_id) WHERE kind = 'enterprise';
CREATE INDEX invitations_instance_pending ON invitations (instance_id, user_id) WHERE state = 'pending';
