-- Private instances (PI1–PI4, PI11).
ALTER TABLE instances ADD COLUMN website_id text UNIQUE;
-- PI2: a user owns at most one private instance. Two purchases racing each other: one wins here.
CREATE UNIQUE INDEX instances_one_private_per_owner ON instances (account_id, owner_user_id)
    WHERE kind = 'private';

-- Who belongs to which instance, with the role the owner set. The owner is a member too.
CREATE TABLE instance_members (
    instance_id   text NOT NULL REFERENCES instances (instance_id),
    account_id    text NOT NULL,
    user_id       text NOT NULL,
    role          text NOT NULL,
    sending_email text NOT NULL,
    capture_email text NOT NULL UNIQUE,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX instance_members_user ON instance_members (account_id, user_id);

-- Instance invitations are invitations of kind 'instance' naming the instance and the role.
ALTER TABLE invitations ADD COLUMN instance_id text REFERENCES instances (instance_id);
ALTER TABLE invitations ADD COLUMN role text;

-- Only the SHA-256 of a key is kept; the key is shown once, when it is issued.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    instance_id text NOT NULL REFERENCES instances (instance_id),
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    last_four   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_instance ON api_keys (instance_id);

-- The Enterprise account's owner is not a row of `members` but may be invited into a private
-- instance like any member, so an invitation names a user of the account, not a member row.
ALTER TABLE invitations DROP CONSTRAINT invitations_account_id_user_id_fkey;
