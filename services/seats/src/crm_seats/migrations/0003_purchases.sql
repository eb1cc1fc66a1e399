-- Purchases beyond seats (PI1, PI9, PI10) and what entitlements are answered from.

-- An account's own prices; items not listed here cost the documented default (domain/prices.py).
CREATE TABLE prices (
    account_id  text NOT NULL,
    item        text NOT NULL,
    price_cents int  NOT NULL CHECK (price_cents >= 0),
    currency    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, item)
);

-- Instances and their members as identity publishes them (never read from identity's database).
CREATE TABLE instances (
    instance_id   text PRIMARY KEY,
    account_id    text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('enterprise', 'private')),
    owner_user_id text NOT NULL,
    package       text,
    name          text
);
CREATE TABLE instance_members (
    instance_id text NOT NULL,
    user_id     text NOT NULL,
    account_id  text NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX instance_members_user ON instance_members (account_id, user_id);

CREATE TABLE addons (
    instance_id   text NOT NULL,
    addon         text NOT NULL,
    account_id    text NOT NULL,
    buyer_user_id text NOT NULL,
    charge_id     text NOT NULL,
    purchased_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, addon)
);

CREATE TABLE calling_packages (
    purchase_id      text PRIMARY KEY,
    account_id       text NOT NULL,
    package_id       text NOT NULL,
    buyer_user_id    text NOT NULL,
    assigned_user_id text NOT NULL,
    instance_id      text NOT NULL,
    number_kind      text NOT NULL CHECK (number_kind IN ('personal', 'company')),
    charge_id        text NOT NULL,
    purchased_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calling_packages_assigned ON calling_packages (account_id, assigned_user_id);

-- Integrations belong to the user and serve every instance of theirs.
CREATE TABLE integrations (
    account_id   text NOT NULL,
    user_id      text NOT NULL,
    integration  text NOT NULL,
    connected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id, integration)
);

ALTER TABLE charges ADD COLUMN item text;
ALTER TABLE charges ADD COLUMN instance_id text;
-- One package charge per instance, however often its creation is delivered.
CREATE UNIQUE INDEX charges_one_per_package ON charges (instance_id) WHERE item LIKE 'package:%';
