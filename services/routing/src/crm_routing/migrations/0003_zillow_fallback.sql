-- Why a user's Zillow leads go where they go: `chosen` by the user, or `left_instance` when they
-- stopped being a member of `from_instance_id` and their leads fell back to the Enterprise instance.
ALTER TABLE zillow_targets ADD COLUMN reason text NOT NULL DEFAULT 'chosen',
                           ADD COLUMN from_instance_id text;

-- Targets kept by members who had already left the instance fall back now.
UPDATE zillow_targets z
SET instance_id = e.instance_id, reason = 'left_instance', from_instance_id = z.instance_id
FROM instances e
WHERE e.account_id = z.account_id AND e.kind = 'enterprise' AND z.instance_id <> e.instance_id
  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.instance_id = z.instance_id AND m.user_id = z.user_id);
