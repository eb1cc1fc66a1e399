-- Packages, add-ons and calling packages recur: charged pro-rated at purchase, then in full at
-- every renewal until the instance is cancelled. A package is charged once per instance and
-- period (a redelivered creation still charges nothing twice).
DROP INDEX charges_one_per_package;
CREATE UNIQUE INDEX charges_one_per_package_period ON charges (instance_id, period_start) WHERE item LIKE 'package:%';

-- The item a renewal charge renews (`package:<instance>`, `addon:<instance>:<addon>`,
-- `calling:<purchase>`); null for purchases and seats. One renewal of an item per period.
ALTER TABLE charges ADD COLUMN renews text;
CREATE UNIQUE INDEX charges_one_renewal_per_period ON charges (renews, period_start) WHERE renews IS NOT NULL;

-- The account's billing day an instance was cancelled on (by the handler's clock, in the account's
-- time zone): it is billed for the periods that began before that day, none after.
ALTER TABLE instances ADD COLUMN cancelled_on date;
UPDATE instances SET cancelled_on = cancelled_at::date WHERE cancelled_at IS NOT NULL;
