-- Each Open API key's request rate, shared by every routing replica (GCRA: the key's theoretical
-- arrival time; a request is allowed while it stays within the burst of now). One row per key.
CREATE TABLE api_key_rate (
    key_hash text PRIMARY KEY,
    tat      timestamptz NOT NULL
);
