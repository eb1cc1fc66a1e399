-- An instance's life after purchase: `active`; `frozen` while its owner is deactivated in the
-- Enterprise account (routing goes on for the members; no invitations) until an account admin
-- hands it to another member or cancels it; `cancelled` (no further charges, leads read-only
-- until `read_only_until`). A cancelled instance no longer counts as its owner's one instance.
ALTER TABLE instances ADD COLUMN status text NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'frozen', 'cancelled')),
                      ADD COLUMN read_only_until timestamptz;
DROP INDEX instances_one_private_per_owner;
CREATE UNIQUE INDEX instances_one_private_per_owner ON instances (account_id, owner_user_id)
    WHERE kind = 'private' AND status <> 'cancelled';
