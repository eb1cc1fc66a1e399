-- One role and one database per service (docker-compose; `make up` creates the same ones): each
-- role owns its database and nothing else, is no superuser, and no other role may connect to it.
DO $$
DECLARE s text;
BEGIN
  FOREACH s IN ARRAY ARRAY['identity', 'seats', 'notifications', 'routing'] LOOP
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', 'crm_' || s);
  END LOOP;
END $$;
CREATE DATABASE crm_identity OWNER crm_identity;
CREATE DATABASE crm_seats OWNER crm_seats;
CREATE DATABASE crm_notifications OWNER crm_notifications;
CREATE DATABASE crm_routing OWNER crm_routing;
REVOKE ALL ON DATABASE crm_identity, crm_seats, crm_notifications, crm_routing FROM PUBLIC;
