-- +goose Up
-- Device authorizations (RFC 8628). Both codes are stored only as SHA-256
-- hashes. A user code is unique among live codes: an expired row with the
-- same user code is deleted before a new one is inserted. Times are Unix
-- microseconds, 0 meaning "not set"; poll_interval is in microseconds.
CREATE TABLE device_codes (
    hash           BLOB NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    user_code_hash BLOB NOT NULL CHECK (length(user_code_hash) > 0),
    client_id      TEXT NOT NULL CHECK (client_id <> ''),
    scopes         TEXT NOT NULL,
    audiences      TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    poll_interval  INTEGER NOT NULL,
    last_polled_at INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id        TEXT NOT NULL DEFAULT '',
    session_id     TEXT NOT NULL DEFAULT '',
    auth_time      INTEGER NOT NULL DEFAULT 0,
    decided_at     INTEGER NOT NULL DEFAULT 0,
    used_at        INTEGER NOT NULL DEFAULT 0,
    grant_id       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (user_code_hash);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
CREATE INDEX device_codes_user ON device_codes (user_id);
CREATE INDEX device_codes_session ON device_codes (session_id);
CREATE INDEX device_codes_client ON device_codes (client_id);

-- +goose Down
DROP TABLE device_codes;
