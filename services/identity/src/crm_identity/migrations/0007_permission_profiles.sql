-- A private instance's members hold one of three permission profiles (admin, lead_manager,
-- agent) besides its owner. Roles given before the profiles existed were free text with no
-- meaning: they become `agent`, the profile that grants least.
UPDATE instance_members SET role = 'agent' WHERE role NOT IN ('owner', 'admin', 'lead_manager', 'agent');
UPDATE invitations SET role = 'agent'
WHERE kind = 'instance' AND role IS NOT NULL AND role NOT IN ('admin', 'lead_manager', 'agent');
