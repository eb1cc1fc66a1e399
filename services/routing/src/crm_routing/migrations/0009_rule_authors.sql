-- Who set each version of an instance's rules (null: a platform service that did not say), and the
-- version a rollback brought back.
ALTER TABLE rule_sets ADD COLUMN set_by text,
                      ADD COLUMN rolled_back_from int;
