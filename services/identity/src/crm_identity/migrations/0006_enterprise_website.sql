-- An account's own (Enterprise) instance has a website like an IDX private instance: its id is
-- derived from the instance id exactly as crm_identity.domain.accounts.website_id derives it.
UPDATE instances
SET website_id = 'web_' || substr(encode(sha256(convert_to('website/' || instance_id, 'UTF8')), 'hex'), 1, 16)
WHERE kind = 'enterprise' AND website_id IS NULL;
