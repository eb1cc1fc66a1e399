CREATE TABLE accounts (
    account_id             text PRIMARY KEY,
    name                   text NOT NULL,
    tier                   text NOT NULL CHECK (tier IN ('enterprise', 'team')),
    owner_user_id          text NOT NULL,
    owner_email            text NOT NULL,
    owner_first_name       text NOT NULL,
    owner_last_name        text NOT NULL,
    enterprise_instance_id text NOT NULL UNIQUE,
    opt_in_enabled         boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now()
);

-- Every account has one instance of its own; private instances (PI*) are added to this table.
CREATE TABLE instances (
    instance_id   text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (account_id),
    kind          text NOT NULL CHECK (kind IN ('enterprise', 'private')),
    owner_user_id text NOT NULL,
    package       text NOT NULL,
    name          text NOT NULL,
    parsing_email text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
