-- +goose Up
-- Roles and API keys. Conventions as in 00001 and 00002: times are Unix
-- microseconds with 0 meaning "not set"; string lists are JSON arrays in
-- TEXT columns. Users, clients and API keys hold roles by name in their
-- roles lists, so there is no foreign key: DeleteRole checks holders
-- itself. An API key is stored only as a hash; prefix is a few characters
-- of the key's random part that find its row.

CREATE TABLE roles (
    name        TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    description TEXT    NOT NULL,
    permissions TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    prefix       TEXT    NOT NULL CHECK (prefix <> ''),
    name         TEXT    NOT NULL,
    hash         BLOB    NOT NULL CHECK (length(hash) > 0),
    hash_alg     TEXT    NOT NULL CHECK (hash_alg IN ('argon2id', 'hmac-sha256')),
    roles        TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    last_used_at INTEGER NOT NULL DEFAULT 0,
    revoked_at   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_created ON api_keys (created_at, id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE roles;
