-- +goose Up
-- Times are Unix microseconds, 0 meaning "not set"; see package sqlstore.
CREATE TABLE signing_keys (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    algorithm      TEXT    NOT NULL CHECK (algorithm <> ''),
    state          TEXT    NOT NULL CHECK (state IN ('active', 'retired')),
    public_jwk     BLOB    NOT NULL,
    sealed_private BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER NOT NULL DEFAULT 0,
    publish_until  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- At most one active key per algorithm, enforced by the database so that no
-- interleaving of writers can break it.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (algorithm) WHERE state = 'active';

-- +goose Down
DROP TABLE signing_keys;
