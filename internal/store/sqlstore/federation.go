package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const (
	insertFederationPolicy = `INSERT INTO federation_policies (name, issuer, spec, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5)`
	selectFederationPolicy = `SELECT name, spec, created_at, updated_at FROM federation_policies WHERE name = $1`
	listFederationPolicies = `SELECT name, spec, created_at, updated_at FROM federation_policies ORDER BY name`
	updateFederationPolicy = `UPDATE federation_policies SET issuer = $2, spec = $3, updated_at = $4 WHERE name = $1`
	deleteFederationPolicy = `DELETE FROM federation_policies WHERE name = $1`
)

// CreateFederationPolicy implements store.FederationPolicies.
func (s *DB) CreateFederationPolicy(ctx context.Context, p store.FederationPolicy) error {
	spec, err := encodeFederationSpec(p)
	if err == nil {
		_, err = s.q.ExecContext(ctx, insertFederationPolicy, p.Name, p.Issuer, spec, toMicros(p.CreatedAt), toMicros(p.UpdatedAt))
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create federation policy %q: %w", p.Name, s.conflict(err))
	}
	return nil
}

// GetFederationPolicy implements store.FederationPolicies.
func (s *DB) GetFederationPolicy(ctx context.Context, name string) (store.FederationPolicy, error) {
	if !store.ValidText(name) {
		return store.FederationPolicy{}, fmt.Errorf("sqlstore: get federation policy %q: %w", name, store.ErrNotFound)
	}
	p, err := scanFederationPolicy(s.q.QueryRowContext(ctx, selectFederationPolicy, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.FederationPolicy{}, fmt.Errorf("sqlstore: get federation policy %q: %w", name, err)
	}
	return p, nil
}

// ListFederationPolicies implements store.FederationPolicies.
func (s *DB) ListFederationPolicies(ctx context.Context) ([]store.FederationPolicy, error) {
	rows, err := s.q.QueryContext(ctx, listFederationPolicies)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list federation policies: %w", err)
	}
	defer rows.Close()
	var out []store.FederationPolicy
	for rows.Next() {
		p, err := scanFederationPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list federation policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list federation policies: %w", err)
	}
	return out, nil
}

// UpdateFederationPolicy implements store.FederationPolicies.
func (s *DB) UpdateFederationPolicy(ctx context.Context, name string, fn func(store.FederationPolicy) (store.FederationPolicy, error)) (store.FederationPolicy, error) {
	if !store.ValidText(name) {
		return store.FederationPolicy{}, fmt.Errorf("sqlstore: update federation policy %q: %w", name, store.ErrNotFound)
	}
	var updated store.FederationPolicy
	var fnErr error
	err := s.inTx(ctx, func(tx cachedTx) error {
		old, err := scanFederationPolicy(tx.QueryRowContext(ctx, selectFederationPolicy+s.dialect.ForUpdate, name))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if updated, fnErr = fn(old); fnErr != nil {
			return fnErr
		}
		if updated.Name != old.Name {
			return errors.New("the name of a federation policy cannot change")
		}
		spec, err := encodeFederationSpec(updated)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, updateFederationPolicy, name, updated.Issuer, spec, toMicros(updated.UpdatedAt))
		return err
	})
	if fnErr != nil {
		return store.FederationPolicy{}, fnErr
	}
	if err != nil {
		return store.FederationPolicy{}, fmt.Errorf("sqlstore: update federation policy %q: %w", name, err)
	}
	return updated, nil
}

// DeleteFederationPolicy implements store.FederationPolicies.
func (s *DB) DeleteFederationPolicy(ctx context.Context, name string) error {
	if !store.ValidText(name) {
		return fmt.Errorf("sqlstore: delete federation policy %q: %w", name, store.ErrNotFound)
	}
	n, err := exec(ctx, s.db, deleteFederationPolicy, name)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete federation policy %q: %w", name, err)
	}
	return nil
}

// encodeFederationSpec is the policy as stored: JSON without the columns
// kept beside it.
func encodeFederationSpec(p store.FederationPolicy) (string, error) {
	p.CreatedAt, p.UpdatedAt = time.Time{}, time.Time{}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode federation policy: %w", err)
	}
	return string(b), nil
}

func scanFederationPolicy(row scanner) (store.FederationPolicy, error) {
	var (
		p                store.FederationPolicy
		name, spec       string
		created, updated int64
	)
	if err := row.Scan(&name, &spec, &created, &updated); err != nil {
		return store.FederationPolicy{}, err
	}
	if err := json.Unmarshal([]byte(spec), &p); err != nil {
		return store.FederationPolicy{}, fmt.Errorf("decode federation policy %q: %w", name, err)
	}
	p.Name, p.CreatedAt, p.UpdatedAt = name, fromMicros(created), fromMicros(updated)
	return p, nil
}
