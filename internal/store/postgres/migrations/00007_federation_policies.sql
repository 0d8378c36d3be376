-- +goose Up
-- Workload identity federation policies (package federation). The policy
-- itself is a JSON document; name and issuer are columns for lookups.
CREATE TABLE federation_policies (
    name       TEXT NOT NULL PRIMARY KEY CHECK (name <> ''),
    issuer     TEXT NOT NULL CHECK (issuer <> ''),
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX federation_policies_issuer ON federation_policies (issuer);

-- +goose Down
DROP TABLE federation_policies;
