-- +goose Up
-- One-time uses: values that may be used once (a consent approval, a
-- replay-checked assertion id), stored as SHA-256 hashes until expires_at
-- (Unix microseconds), after which the same value may be recorded again.
CREATE TABLE used_once (
    key_hash   BLOB NOT NULL PRIMARY KEY CHECK (length(key_hash) > 0),
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX used_once_expires ON used_once (expires_at);

-- +goose Down
DROP TABLE used_once;
