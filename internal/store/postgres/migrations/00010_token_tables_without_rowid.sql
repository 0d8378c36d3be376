-- +goose Up
-- SQLite's migration 10 rebuilds refresh_tokens and access_tokens WITHOUT
-- ROWID; PostgreSQL tables have no rowid, so there is nothing to do here.
-- The version exists to keep both backends' migration numbers in step.
SELECT 1;

-- +goose Down
SELECT 1;
