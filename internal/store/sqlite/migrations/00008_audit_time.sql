-- +goose Up
-- Audit events are pruned by age (retention): find the old ones by time.
CREATE INDEX audit_events_time ON audit_events (time);

-- +goose Down
DROP INDEX audit_events_time;
