-- +goose Up
-- A rotation first stores the next key (state 'next'): every node publishes
-- it in the JWKS and accepts it, but nothing signs with it until
-- activate_at (Unix microseconds), when it becomes the active key and the
-- previous one retires. At most one next key per algorithm. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE signing_keys_v5 (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    algorithm      TEXT    NOT NULL CHECK (algorithm <> ''),
    state          TEXT    NOT NULL CHECK (state IN ('active', 'retired', 'next')),
    public_jwk     BLOB    NOT NULL,
    sealed_private BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER NOT NULL DEFAULT 0,
    publish_until  INTEGER NOT NULL DEFAULT 0,
    activate_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO signing_keys_v5 (id, algorithm, state, public_jwk, sealed_private, created_at, retired_at, publish_until)
    SELECT id, algorithm, state, public_jwk, sealed_private, created_at, retired_at, publish_until FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_v5 RENAME TO signing_keys;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (algorithm) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (algorithm) WHERE state = 'next';

-- +goose Down
CREATE TABLE signing_keys_v1 (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    algorithm      TEXT    NOT NULL CHECK (algorithm <> ''),
    state          TEXT    NOT NULL CHECK (state IN ('active', 'retired')),
    public_jwk     BLOB    NOT NULL,
    sealed_private BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER NOT NULL DEFAULT 0,
    publish_until  INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO signing_keys_v1 (id, algorithm, state, public_jwk, sealed_private, created_at, retired_at, publish_until)
    SELECT id, algorithm, state, public_jwk, sealed_private, created_at, retired_at, publish_until
    FROM signing_keys WHERE state <> 'next';
DROP TABLE signing_keys;
ALTER TABLE signing_keys_v1 RENAME TO signing_keys;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (algorithm) WHERE state = 'active';
