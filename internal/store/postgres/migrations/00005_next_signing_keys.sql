-- +goose Up
-- A rotation first stores the next key (state 'next'): every node publishes
-- it in the JWKS and accepts it, but nothing signs with it until
-- activate_at (Unix microseconds), when it becomes the active key and the
-- previous one retires. At most one next key per algorithm.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retired', 'next'));
ALTER TABLE signing_keys ADD COLUMN activate_at BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (algorithm) WHERE state = 'next';

-- +goose Down
DROP INDEX signing_keys_one_next;
DELETE FROM signing_keys WHERE state = 'next';
ALTER TABLE signing_keys DROP COLUMN activate_at;
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retired'));
