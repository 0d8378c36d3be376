-- +goose Up
-- Refresh and access tokens are looked up only by their keys (hash, jti),
-- which are now made in time order (secret.OrderedHash, secret.OrderedID).
-- Without a rowid the table is that key's B-tree: a rotation inserts into
-- one tree per table instead of two (rowid table and key index), and reads
-- and marks the presented token in one tree. The rows are copied as they are.
CREATE TABLE refresh_tokens_new (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    grant_id   TEXT    NOT NULL CHECK (grant_id <> ''),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
INSERT INTO refresh_tokens_new (hash, grant_id, created_at, expires_at, used_at)
SELECT hash, grant_id, created_at, expires_at, used_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE access_tokens_new (
    jti        TEXT    NOT NULL PRIMARY KEY CHECK (jti <> ''),
    grant_id   TEXT    NOT NULL CHECK (grant_id <> ''),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO access_tokens_new (jti, grant_id, expires_at)
SELECT jti, grant_id, expires_at FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_new RENAME TO access_tokens;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id, expires_at);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- +goose Down
CREATE TABLE refresh_tokens_old (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    grant_id   TEXT    NOT NULL CHECK (grant_id <> ''),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO refresh_tokens_old (hash, grant_id, created_at, expires_at, used_at)
SELECT hash, grant_id, created_at, expires_at, used_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_old RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE access_tokens_old (
    jti        TEXT    NOT NULL PRIMARY KEY CHECK (jti <> ''),
    grant_id   TEXT    NOT NULL CHECK (grant_id <> ''),
    expires_at INTEGER NOT NULL
) STRICT;
INSERT INTO access_tokens_old (jti, grant_id, expires_at)
SELECT jti, grant_id, expires_at FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_old RENAME TO access_tokens;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id, expires_at);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
