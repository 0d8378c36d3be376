-- +goose Up
-- Clients, users, sessions, consents, audit events, and the grant life cycle
-- (codes, grants, refresh tokens, issued access tokens, revocation list).
-- Conventions as in 00001: times are Unix microseconds with 0 meaning "not
-- set"; string lists are JSON arrays and string maps JSON objects in TEXT
-- columns; booleans are 0 or 1; codes, tokens and secrets are stored only
-- as hashes. SQLite compares and sorts TEXT bytewise.

CREATE TABLE clients (
    id                         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    name                       TEXT    NOT NULL,
    secret_hash                BLOB,
    public                     INTEGER NOT NULL CHECK (public IN (0, 1)),
    token_endpoint_auth_method TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    post_logout_redirect_uris  TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    audiences                  TEXT    NOT NULL,
    roles                      TEXT    NOT NULL,
    skip_consent               INTEGER NOT NULL CHECK (skip_consent IN (0, 1)),
    refresh_grace              INTEGER NOT NULL, -- nanoseconds
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;

-- username_lower and email_lower are the lower-cased copies that uniqueness
-- and lookups use.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    username            TEXT    NOT NULL CHECK (username <> ''),
    username_lower      TEXT    NOT NULL,
    email               TEXT    NOT NULL,
    email_lower         TEXT    NOT NULL,
    email_verified      INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    password_hash       TEXT    NOT NULL,
    roles               TEXT    NOT NULL,
    disabled            INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_username_lower ON users (username_lower);
CREATE UNIQUE INDEX users_email_lower ON users (email_lower) WHERE email_lower <> '';

-- Every login name of every user (lower-cased username and e-mail) in one
-- unique column: the database itself then rejects a username equal to
-- another user's e-mail, and a login is found by primary key.
CREATE TABLE user_logins (
    login   TEXT NOT NULL PRIMARY KEY CHECK (login <> ''),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX user_logins_user ON user_logins (user_id);

CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    token_hash BLOB    NOT NULL CHECK (length(token_hash) > 0),
    user_id    TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL CHECK (user_id <> ''),
    client_id  TEXT    NOT NULL CHECK (client_id <> ''),
    scopes     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
CREATE INDEX consents_client ON consents (client_id);

-- AUTOINCREMENT: ids are never reused, so they increase with insertion
-- order even after the newest events are deleted.
CREATE TABLE audit_events (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    details    TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_events_type ON audit_events (type, id);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_client ON audit_events (client_id, id);

-- Codes live minutes; they are looked up by hash, and by session when the
-- session ends. Deleting a user or client scans them, which is rare and
-- the table small.
CREATE TABLE auth_codes (
    hash           BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    client_id      TEXT    NOT NULL CHECK (client_id <> ''),
    user_id        TEXT    NOT NULL,
    session_id     TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    scopes         TEXT    NOT NULL,
    audiences      TEXT    NOT NULL,
    nonce          TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER NOT NULL DEFAULT 0,
    grant_id       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX auth_codes_session ON auth_codes (session_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE grants (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    client_id  TEXT    NOT NULL CHECK (client_id <> ''),
    user_id    TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    audiences  TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX grants_session ON grants (session_id);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_client ON grants (client_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    grant_id   TEXT    NOT NULL CHECK (grant_id <> ''),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Access tokens minted for a grant, so that revoking the grant can revoke
-- the ones still valid by jti.
CREATE TABLE access_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY CHECK (jti <> ''),
    grant_id   TEXT    NOT NULL CHECK (grant_id <> ''),
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id, expires_at);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE revocations (
    kind       TEXT    NOT NULL CHECK (kind IN ('jti', 'sid', 'sub')),
    value      TEXT    NOT NULL CHECK (value <> ''),
    seq        INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) STRICT;
CREATE UNIQUE INDEX revocations_seq ON revocations (seq);
CREATE INDEX revocations_expires ON revocations (expires_at);

-- The last revocation Seq handed out, incremented inside each writing
-- transaction so that Seqs follow commit order (see the PostgreSQL
-- schema; here the write lock alone would do, but the queries are shared).
CREATE TABLE revocation_seq (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
) STRICT;
INSERT INTO revocation_seq (id, seq) VALUES (1, 0);

-- +goose Down
DROP TABLE revocation_seq;
DROP TABLE revocations;
DROP TABLE access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE grants;
DROP TABLE auth_codes;
DROP TABLE audit_events;
DROP TABLE consents;
DROP TABLE sessions;
DROP TABLE user_logins;
DROP TABLE users;
DROP TABLE clients;
