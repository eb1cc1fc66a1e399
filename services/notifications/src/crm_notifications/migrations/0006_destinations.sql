-- Where clicking a notification takes the user, inside the instance it belongs to.
ALTER TABLE notifications ADD COLUMN path text NOT NULL DEFAULT '/notifications';
