-- +goose Up
-- Roles and API keys. Conventions as in 00001 and 00002: times are Unix
-- microseconds with 0 meaning "not set"; string lists are JSON arrays in
-- TEXT columns; text that queries sort by is COLLATE "C" (bytewise, as in
-- SQLite). Users, clients and API keys hold roles by name in their roles
-- lists, so there is no foreign key: DeleteRole checks holders itself,
-- under a lock on their tables. An API key is stored only as a hash;
-- prefix is a few characters of the key's random part that find its row.

CREATE TABLE roles (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (name <> ''),
    description TEXT   NOT NULL,
    permissions TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (id <> ''),
    prefix       TEXT   NOT NULL CHECK (prefix <> ''),
    name         TEXT   NOT NULL,
    hash         BYTEA  NOT NULL CHECK (length(hash) > 0),
    hash_alg     TEXT   NOT NULL CHECK (hash_alg IN ('argon2id', 'hmac-sha256')),
    roles        TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_created ON api_keys (created_at, id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE roles;
