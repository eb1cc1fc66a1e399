-- Members' roles are identity's permission profiles (admin, lead_manager, agent) besides the
-- owner; free-text roles given before the profiles existed grant least, as identity mapped them.
UPDATE members SET role = 'agent' WHERE role NOT IN ('owner', 'admin', 'lead_manager', 'agent');
