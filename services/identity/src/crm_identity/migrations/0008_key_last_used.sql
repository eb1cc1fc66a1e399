-- When each Open API key was last used, as routing reports it (at most once a minute).
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
