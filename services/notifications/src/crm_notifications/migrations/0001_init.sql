-- Read models built from identity's events: instance names, who belongs where, account owners.
CREATE TABLE accounts (
    account_id             text PRIMARY KEY,
    name                   text,
    owner_user_id          text NOT NULL,
    owner_email            text,
    owner_first_name       text,
    enterprise_instance_id text NOT NULL
);

CREATE TABLE instances (
    instance_id text PRIMARY KEY,
    account_id  text NOT NULL,
    name        text NOT NULL
);

CREATE TABLE instance_members (
    instance_id text NOT NULL,
    user_id     text NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX instance_members_user ON instance_members (user_id);

-- Per-account e-mail templates; absent rows mean the shipped default.
CREATE TABLE templates (
    account_id text NOT NULL,
    template   text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, template)
);

-- E-mails to send: written in the consuming transaction, sent by the delivery worker.
CREATE TABLE emails (
    message_id      text PRIMARY KEY,
    account_id      text NOT NULL,
    template        text NOT NULL,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    html            text NOT NULL,
    cause_event_id  text NOT NULL,
    cause           jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        int  NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending';

-- seats.account.upgraded by cause, so the charge that follows can be mailed with it.
CREATE TABLE upgrades (
    causation_id text PRIMARY KEY,
    data         jsonb NOT NULL
);

-- Which instance each device of a user is logged into.
CREATE TABLE sessions (
    user_id     text NOT NULL,
    device_id   text NOT NULL,
    device      text NOT NULL CHECK (device IN ('web', 'mobile')),
    instance_id text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, device_id)
);

-- The notification center.
CREATE TABLE notifications (
    notification_id text PRIMARY KEY,
    account_id      text NOT NULL,
    user_id         text NOT NULL,
    instance_id     text NOT NULL,
    kind            text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    cause_event_id  text NOT NULL,
    read_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);

-- Pushes to hand to the push provider, written with their notification.
CREATE TABLE pushes (
    push_id         text PRIMARY KEY,
    notification_id text NOT NULL REFERENCES notifications (notification_id),
    user_id         text NOT NULL,
    device_id       text NOT NULL,
    device          text NOT NULL,
    instance_id     text NOT NULL,
    instance_name   text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    cause           jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pushes_pending ON pushes (created_at) WHERE status = 'pending';
