-- +goose Up
-- The client's id_token_signed_response_alg (OpenID Connect Registration
-- §2); empty means the default, RS256.
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN id_token_alg;
