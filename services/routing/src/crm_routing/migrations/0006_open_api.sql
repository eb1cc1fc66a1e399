-- The Open API acts as a key: commands name it by id.
CREATE INDEX api_keys_key_id ON api_keys (key_id);
