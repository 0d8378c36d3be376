package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const (
	// bumpRevocationSeq reserves n Seqs. The row it updates stays locked
	// until the transaction ends, which is what makes Seqs follow commit
	// order; every writer takes it last (see the lock order in grants.go).
	bumpRevocationSeq = `UPDATE revocation_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq`

	// upsertRevocation keeps the later NotBefore and ExpiresAt and the
	// original CreatedAt of an existing entry, and gives it the new Seq.
	upsertRevocation = `INSERT INTO revocations (kind, value, seq, not_before, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (kind, value) DO UPDATE SET
    seq = excluded.seq,
    not_before = CASE WHEN excluded.not_before > revocations.not_before
        THEN excluded.not_before ELSE revocations.not_before END,
    expires_at = CASE WHEN excluded.expires_at > revocations.expires_at
        THEN excluded.expires_at ELSE revocations.expires_at END
RETURNING seq, kind, value, not_before, expires_at, created_at`

	selectRevocationsSince = `SELECT seq, kind, value, not_before, expires_at, created_at
FROM revocations
WHERE seq > $1 AND expires_at > $2
ORDER BY seq
LIMIT $3`

	// isRevoked is three primary-key lookups; an empty sid or jti matches
	// nothing, since no entry has an empty value.
	isRevoked = `SELECT EXISTS (
    SELECT 1 FROM revocations WHERE kind = 'jti' AND value = $1 AND expires_at > $5
    UNION ALL
    SELECT 1 FROM revocations WHERE kind = 'sid' AND value = $2 AND expires_at > $5
    UNION ALL
    SELECT 1 FROM revocations WHERE kind = 'sub' AND value = $3 AND not_before > $4 AND expires_at > $5
)`
)

// pruneQueries delete what has expired at $1, grants before codes and
// refresh tokens. Used codes and used refresh tokens stay while their
// grant exists, so that a late replay is still recognised as reuse and
// revokes the grant; they go with it.
var pruneQueries = []struct{ what, query string }{
	{"revocations", `DELETE FROM revocations WHERE expires_at <= $1`},
	{"access tokens", `DELETE FROM access_tokens WHERE expires_at <= $1`},
	{"grants", `DELETE FROM grants WHERE expires_at <= $1`},
	{"refresh tokens", `DELETE FROM refresh_tokens WHERE expires_at <= $1
AND (used_at = 0 OR NOT EXISTS (SELECT 1 FROM grants WHERE grants.id = refresh_tokens.grant_id))`},
	{"auth codes", `DELETE FROM auth_codes WHERE expires_at <= $1
AND (grant_id = '' OR NOT EXISTS (SELECT 1 FROM grants WHERE grants.id = auth_codes.grant_id))`},
	{"device codes", `DELETE FROM device_codes WHERE expires_at <= $1
AND (grant_id = '' OR NOT EXISTS (SELECT 1 FROM grants WHERE grants.id = device_codes.grant_id))`},
	{"sessions", `DELETE FROM sessions WHERE expires_at <= $1`},
	{"one-time uses", `DELETE FROM used_once WHERE expires_at <= $1`},
}

// AddRevocations implements store.Grants. Every entry needs a known Kind,
// a Value and an ExpiresAt (an entry without expiry would be dropped at
// once); otherwise nothing is written. Upserted entries keep their
// original CreatedAt; the returned entries are as stored. Entries are
// written in order, each with its own Seq.
func (s *DB) AddRevocations(ctx context.Context, rs []store.Revocation, now time.Time) ([]store.Revocation, error) {
	if err := validateRevocations(rs); err != nil {
		return nil, fmt.Errorf("sqlstore: add revocations: %w", err)
	}
	var out []store.Revocation
	err := s.inTx(ctx, func(tx cachedTx) error {
		var err error
		out, err = s.addRevocationsTx(ctx, tx, rs, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: add revocations: %w", err)
	}
	return out, nil
}

func validateRevocations(rs []store.Revocation) error {
	for i, r := range rs {
		switch {
		case r.Kind != store.RevokeJTI && r.Kind != store.RevokeSID && r.Kind != store.RevokeSubject:
			return fmt.Errorf("revocation %d: unknown kind %q", i, r.Kind)
		case r.Value == "":
			return fmt.Errorf("revocation %d: empty value", i)
		case r.ExpiresAt.IsZero():
			return fmt.Errorf("revocation %d (%s): no expiry", i, r.Kind)
		}
	}
	return nil
}

// addRevocationsTx upserts rs in tx, with CreatedAt now for new entries,
// and returns them as stored.
func (s *DB) addRevocationsTx(ctx context.Context, tx cachedTx, rs []store.Revocation, now time.Time) ([]store.Revocation, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	if err := validateRevocations(rs); err != nil {
		return nil, err
	}
	var last int64
	if err := tx.QueryRowContext(ctx, bumpRevocationSeq, int64(len(rs))).Scan(&last); err != nil {
		return nil, fmt.Errorf("revocation seq: %w", err)
	}
	first := last - int64(len(rs)) + 1
	out := make([]store.Revocation, 0, len(rs))
	for i, r := range rs {
		stored, err := scanRevocation(tx.QueryRowContext(ctx, upsertRevocation, r.Kind, r.Value,
			first+int64(i), toMicros(r.NotBefore), toMicros(r.ExpiresAt), toMicros(now)))
		if err != nil {
			return nil, fmt.Errorf("revocation %s %q: %w", r.Kind, r.Value, err)
		}
		out = append(out, stored)
	}
	if n := s.dialect.NotifyRevocations; n != "" {
		if _, err := tx.ExecContext(ctx, n); err != nil {
			return nil, fmt.Errorf("notify revocations: %w", err)
		}
	}
	return out, nil
}

// RevocationsSince implements store.Grants. limit must be positive: a
// follower that asked for nothing by mistake would take "none" for "no
// news".
func (s *DB) RevocationsSince(ctx context.Context, seq int64, now time.Time, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlstore: revocations since %d: limit %d is not positive", seq, limit)
	}
	rows, err := s.q.QueryContext(ctx, selectRevocationsSince, seq, toMicros(now), int64(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: revocations since %d: %w", seq, err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		r, err := scanRevocation(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: revocations since %d: %w", seq, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: revocations since %d: %w", seq, err)
	}
	return out, nil
}

// IsRevoked implements store.Grants in one query.
func (s *DB) IsRevoked(ctx context.Context, jti, sid, sub string, iat, now time.Time) (bool, error) {
	var revoked bool
	err := s.q.QueryRowContext(ctx, isRevoked, jti, sid, sub, toMicros(iat), toMicros(now)).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("sqlstore: is revoked: %w", err)
	}
	return revoked, nil
}

// PruneExpired implements store.Grants; it also deletes the records of
// issued access tokens that have expired. Used codes and refresh tokens
// are kept, past their own expiry, until their grant is gone (see
// pruneQueries). Each table is pruned by its own statement, so a failure
// part-way leaves the earlier deletions done, which is harmless.
func (s *DB) PruneExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, p := range pruneQueries {
		n, err := exec(ctx, s.db, p.query, toMicros(now))
		if err != nil {
			return total, fmt.Errorf("sqlstore: prune expired %s: %w", p.what, err)
		}
		total += int(n)
	}
	return total, nil
}

func scanRevocation(row scanner) (store.Revocation, error) {
	var (
		r                               store.Revocation
		notBefore, expiresAt, createdAt int64
	)
	if err := row.Scan(&r.Seq, &r.Kind, &r.Value, &notBefore, &expiresAt, &createdAt); err != nil {
		return store.Revocation{}, err
	}
	r.NotBefore = fromMicros(notBefore)
	r.ExpiresAt = fromMicros(expiresAt)
	r.CreatedAt = fromMicros(createdAt)
	return r, nil
}

// pruneBatchQueries are pruneQueries a batch at a time: $1 is now, $2 the
// batch size. Each deletes by primary key what a LIMITed subquery picked,
// which both databases accept.
var pruneBatchQueries = []struct{ table, query string }{
	{"revocations", `DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations WHERE expires_at <= $1 LIMIT $2)`},
	{"access_tokens", `DELETE FROM access_tokens WHERE jti IN (SELECT jti FROM access_tokens WHERE expires_at <= $1 LIMIT $2)`},
	{"grants", `DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE expires_at <= $1 LIMIT $2)`},
	{"refresh_tokens", `DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens WHERE expires_at <= $1
AND (used_at = 0 OR NOT EXISTS (SELECT 1 FROM grants WHERE grants.id = refresh_tokens.grant_id)) LIMIT $2)`},
	{"auth_codes", `DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes WHERE expires_at <= $1
AND (grant_id = '' OR NOT EXISTS (SELECT 1 FROM grants WHERE grants.id = auth_codes.grant_id)) LIMIT $2)`},
	{"device_codes", `DELETE FROM device_codes WHERE hash IN (SELECT hash FROM device_codes WHERE expires_at <= $1
AND (grant_id = '' OR NOT EXISTS (SELECT 1 FROM grants WHERE grants.id = device_codes.grant_id)) LIMIT $2)`},
	{"sessions", `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2)`},
	{"used_once", `DELETE FROM used_once WHERE key_hash IN (SELECT key_hash FROM used_once WHERE expires_at <= $1 LIMIT $2)`},
}

const pruneAuditBatch = `DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE time < $1 ORDER BY id LIMIT $2)`

// PruneBatch implements store.Pruning.
func (s *DB) PruneBatch(ctx context.Context, now, auditBefore time.Time, limit int) (map[string]int, error) {
	if limit <= 0 {
		return nil, errors.New("sqlstore: prune batch: the limit must be positive")
	}
	deleted := map[string]int{}
	busy := false
	err := s.inTx(ctx, func(tx cachedTx) error {
		if s.dialect.TryPruneLock != "" {
			var locked bool
			if err := tx.QueryRowContext(ctx, s.dialect.TryPruneLock).Scan(&locked); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if !locked {
				busy = true
				return nil
			}
		}
		for _, q := range pruneBatchQueries {
			n, err := exec(ctx, tx, q.query, toMicros(now), limit)
			if err != nil {
				return fmt.Errorf("%s: %w", q.table, err)
			}
			deleted[q.table] = int(n)
		}
		if !auditBefore.IsZero() {
			n, err := exec(ctx, tx, pruneAuditBatch, toMicros(auditBefore), limit)
			if err != nil {
				return fmt.Errorf("audit_events: %w", err)
			}
			deleted["audit_events"] = int(n)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("sqlstore: prune batch: %w", err)
	case busy:
		return nil, fmt.Errorf("sqlstore: prune batch: %w", store.ErrBusy)
	}
	return deleted, nil
}
