-- A person's own notifications span accounts: what they may read is decided from their best
-- standing in any account (owner, or an active member), looked up by user.
CREATE INDEX accounts_by_owner ON accounts (owner_user_id);
CREATE INDEX account_members_by_user ON account_members (user_id);
