-- A push says where tapping it leads (its instance and path) and, when it comes from another
-- instance than the one the device is in, that instance's name as its source.
ALTER TABLE pushes ADD COLUMN path text NOT NULL DEFAULT '/notifications';
ALTER TABLE pushes ADD COLUMN device_instance_id text;
