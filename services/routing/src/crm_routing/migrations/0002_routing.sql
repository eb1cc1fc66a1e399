-- The roster: instances, members and statuses as identity publishes them (never read from its database).
CREATE TABLE instances (
    instance_id   text PRIMARY KEY,
    account_id    text NOT NULL,
    kind          text NOT NULL,
    package       text,
    routing       boolean NOT NULL,
    owner_user_id text NOT NULL,
    name          text,
    website_id    text,
    parsing_email text
);
-- Not unique here: identity keeps them unique; a read model takes the facts it is given.
CREATE INDEX instances_account ON instances (account_id, kind);
CREATE INDEX instances_website ON instances (website_id);
CREATE INDEX instances_parsing_email ON instances (lower(parsing_email));

CREATE TABLE members (
    instance_id text NOT NULL,
    user_id     text NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- A member's own lead-capture address in an instance: leads sent to it belong to that instance.
CREATE TABLE capture_addresses (
    address     text PRIMARY KEY,
    instance_id text NOT NULL,
    user_id     text NOT NULL
);

-- Status in the Enterprise account (active, pending_…, inactive, display_only).
CREATE TABLE statuses (
    account_id text NOT NULL,
    user_id    text NOT NULL,
    status     text NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

CREATE TABLE paused (
    instance_id text NOT NULL,
    user_id     text NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);

CREATE TABLE api_keys (
    key_hash    text PRIMARY KEY,
    instance_id text NOT NULL,
    key_id      text NOT NULL,
    revoked     boolean NOT NULL DEFAULT false
);

CREATE TABLE zillow_targets (
    account_id  text NOT NULL,
    user_id     text NOT NULL,
    instance_id text NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

-- Every version of every instance's rules is kept; decisions name the version they used.
CREATE TABLE rule_sets (
    instance_id text NOT NULL,
    version     int  NOT NULL,
    rules       jsonb NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, version)
);

-- Rotation state per (instance, rule/step): in the database, so it survives restarts and is
-- shared by replicas (the row lock makes them take turns).
CREATE TABLE rotation (
    instance_id text NOT NULL,
    key         text NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (instance_id, key)
);

CREATE TABLE leads (
    lead_id       text PRIMARY KEY,
    instance_id   text NOT NULL,
    account_id    text NOT NULL,
    channel       text NOT NULL,
    lead          jsonb NOT NULL,
    state         text NOT NULL CHECK (state IN ('assigned', 'offered', 'claimed', 'pooled')),
    user_id       text,
    offered_to    text[] NOT NULL DEFAULT '{}',
    tried         text[] NOT NULL DEFAULT '{}',
    rule_id       text,
    step          int,
    rules_version int,
    captured_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_instance ON leads (instance_id, captured_at);

-- Every decision about a lead, with its explanation (R5).
CREATE TABLE lead_log (
    id          bigserial PRIMARY KEY,
    lead_id     text NOT NULL,
    instance_id text NOT NULL,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_log_lead ON lead_log (lead_id, id);

-- Claim timers (R4): stored, so they survive a restart; one per open lead.
CREATE TABLE timers (
    timer_id text PRIMARY KEY,
    lead_id  text NOT NULL UNIQUE,
    due_at   timestamptz NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);

-- When the roster was last rebuilt from the beginning of identity.events.v1.
CREATE TABLE roster_rebuilds (
    id       bigserial PRIMARY KEY,
    events   bigint NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
);
