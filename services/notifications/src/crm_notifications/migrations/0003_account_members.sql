-- Who administers each account (owner aside), as identity publishes members: the people an alert
-- about the account (a member left without a seat, AO10) is e-mailed to.
CREATE TABLE account_members (
    account_id text NOT NULL,
    user_id    text NOT NULL,
    email      text NOT NULL,
    first_name text,
    role       text,
    status     text NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX account_members_admins ON account_members (account_id) WHERE status = 'active';
