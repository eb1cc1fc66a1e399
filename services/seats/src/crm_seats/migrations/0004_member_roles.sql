-- Account roles as identity publishes them, so account admins may read the seat ledger.
ALTER TABLE member_statuses ADD COLUMN role text;
