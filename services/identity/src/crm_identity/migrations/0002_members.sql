CREATE TABLE groups (
    account_id      text NOT NULL REFERENCES accounts (account_id),
    group_id        text NOT NULL,
    name            text NOT NULL,
    parent_group_id text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, group_id),
    FOREIGN KEY (account_id, parent_group_id) REFERENCES groups (account_id, group_id)
);

CREATE TABLE members (
    account_id  text NOT NULL REFERENCES accounts (account_id),
    user_id     text NOT NULL,
    email       text NOT NULL,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    user_type   text NOT NULL CHECK (user_type IN ('platform', 'display_only')),
    -- The mode the member was first activated with; reactivation follows it (AO7).
    activation  text CHECK (activation IN ('immediate', 'opt_in')),
    status      text NOT NULL,
    group_id    text,
    role        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id),
    FOREIGN KEY (account_id, group_id) REFERENCES groups (account_id, group_id)
);
CREATE UNIQUE INDEX members_email ON members (account_id, lower(email));

CREATE TABLE invitations (
    invitation_id text PRIMARY KEY,
    account_id    text NOT NULL,
    user_id       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('standard', 'opt_in', 'instance')),
    -- Only the SHA-256 of the token is kept; the token itself travels once, in the e-mail.
    token_hash    text NOT NULL UNIQUE,
    state         text NOT NULL CHECK (state IN ('pending', 'accepted', 'superseded', 'revoked')),
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    accepted_at   timestamptz,
    FOREIGN KEY (account_id, user_id) REFERENCES members (account_id, user_id)
);
CREATE INDEX invitations_member ON invitations (account_id, user_id);
