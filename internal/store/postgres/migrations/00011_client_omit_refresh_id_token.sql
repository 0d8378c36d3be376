-- +goose Up
-- Whether the client's refresh responses leave out the id_token (OpenID
-- Connect Core §12.2 allows it); by default they carry one.
ALTER TABLE clients ADD COLUMN omit_refresh_id_token BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE clients DROP COLUMN omit_refresh_id_token;
