-- +goose Up
-- Clients, users, sessions, consents, audit events, and the grant life cycle
-- (codes, grants, refresh tokens, issued access tokens, revocation list).
-- Conventions as in 00001: times are Unix microseconds with 0 meaning "not
-- set"; string lists are JSON arrays and string maps JSON objects in TEXT
-- columns; codes, tokens and secrets are stored only as hashes. Text that
-- queries sort by is COLLATE "C" so that PostgreSQL orders it bytewise, as
-- SQLite does, whatever the database's collation.

CREATE TABLE clients (
    id                         TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (id <> ''),
    name                       TEXT    NOT NULL,
    secret_hash                BYTEA,
    public                     BOOLEAN NOT NULL,
    token_endpoint_auth_method TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    post_logout_redirect_uris  TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    audiences                  TEXT    NOT NULL,
    roles                      TEXT    NOT NULL,
    skip_consent               BOOLEAN NOT NULL,
    refresh_grace              BIGINT  NOT NULL, -- nanoseconds
    created_at                 BIGINT  NOT NULL,
    updated_at                 BIGINT  NOT NULL
);

-- username_lower and email_lower are the lower-cased copies that uniqueness
-- and lookups use.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    username            TEXT    NOT NULL CHECK (username <> ''),
    username_lower      TEXT COLLATE "C" NOT NULL,
    email               TEXT    NOT NULL,
    email_lower         TEXT    NOT NULL,
    email_verified      BOOLEAN NOT NULL,
    password_hash       TEXT    NOT NULL,
    roles               TEXT    NOT NULL,
    disabled            BOOLEAN NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    password_changed_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX users_username_lower ON users (username_lower);
CREATE UNIQUE INDEX users_email_lower ON users (email_lower) WHERE email_lower <> '';

-- Every login name of every user (lower-cased username and e-mail) in one
-- unique column: the database itself then rejects a username equal to
-- another user's e-mail, even from concurrent transactions, and a login
-- is found by primary key.
CREATE TABLE user_logins (
    login   TEXT NOT NULL PRIMARY KEY CHECK (login <> ''),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX user_logins_user ON user_logins (user_id);

CREATE TABLE sessions (
    id         TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    token_hash BYTEA  NOT NULL CHECK (length(token_hash) > 0),
    user_id    TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT   NOT NULL CHECK (user_id <> ''),
    client_id  TEXT   NOT NULL CHECK (client_id <> ''),
    scopes     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       BIGINT NOT NULL,
    type       TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    ip         TEXT   NOT NULL,
    request_id TEXT   NOT NULL,
    details    TEXT   NOT NULL
);
CREATE INDEX audit_events_type ON audit_events (type, id);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_client ON audit_events (client_id, id);

-- Codes live minutes; they are looked up by hash, and by session when the
-- session ends. Deleting a user or client scans them, which is rare and
-- the table small.
CREATE TABLE auth_codes (
    hash           BYTEA  NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    client_id      TEXT   NOT NULL CHECK (client_id <> ''),
    user_id        TEXT   NOT NULL,
    session_id     TEXT   NOT NULL,
    redirect_uri   TEXT   NOT NULL,
    scopes         TEXT   NOT NULL,
    audiences      TEXT   NOT NULL,
    nonce          TEXT   NOT NULL,
    code_challenge TEXT   NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT NOT NULL DEFAULT 0,
    grant_id       TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX auth_codes_session ON auth_codes (session_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE grants (
    id         TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    client_id  TEXT   NOT NULL CHECK (client_id <> ''),
    user_id    TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    scopes     TEXT   NOT NULL,
    audiences  TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX grants_session ON grants (session_id);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_client ON grants (client_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA  NOT NULL PRIMARY KEY CHECK (length(hash) > 0),
    grant_id   TEXT   NOT NULL CHECK (grant_id <> ''),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Access tokens minted for a grant, so that revoking the grant can revoke
-- the ones still valid by jti.
CREATE TABLE access_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY CHECK (jti <> ''),
    grant_id   TEXT   NOT NULL CHECK (grant_id <> ''),
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id, expires_at);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE revocations (
    kind       TEXT   NOT NULL CHECK (kind IN ('jti', 'sid', 'sub')),
    value      TEXT   NOT NULL CHECK (value <> ''),
    seq        BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE UNIQUE INDEX revocations_seq ON revocations (seq);
CREATE INDEX revocations_expires ON revocations (expires_at);

-- The last revocation Seq handed out. Writers increment it inside their
-- transaction, which holds the row until commit: Seqs are therefore
-- handed out in commit order, and a follower that has read everything up
-- to some Seq can never later see a smaller one appear (which a SEQUENCE,
-- whose values commit out of order, would allow).
CREATE TABLE revocation_seq (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);
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
