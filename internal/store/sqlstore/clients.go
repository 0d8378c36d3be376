package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const clientColumns = `id, name, secret_hash, public, token_endpoint_auth_method,
redirect_uris, post_logout_redirect_uris, grant_types, scopes, audiences, roles,
skip_consent, refresh_grace, created_at, updated_at, id_token_alg, omit_refresh_id_token`

const (
	insertClient = `INSERT INTO clients (` + clientColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

	selectClient = `SELECT ` + clientColumns + ` FROM clients WHERE id = $1`

	listClients = `SELECT ` + clientColumns + ` FROM clients ORDER BY id`

	updateClient = `UPDATE clients SET name = $2, secret_hash = $3, public = $4,
token_endpoint_auth_method = $5, redirect_uris = $6, post_logout_redirect_uris = $7,
grant_types = $8, scopes = $9, audiences = $10, roles = $11, skip_consent = $12,
refresh_grace = $13, created_at = $14, updated_at = $15, id_token_alg = $16,
omit_refresh_id_token = $17
WHERE id = $1`

	deleteClient         = `DELETE FROM clients WHERE id = $1`
	deleteClientConsents = `DELETE FROM consents WHERE client_id = $1`
	deleteClientCodes    = `DELETE FROM auth_codes WHERE client_id = $1`
)

func clientArgs(c store.Client) []any {
	return []any{
		c.ID, c.Name, nilIfEmpty(c.SecretHash), c.Public, c.TokenEndpointAuthMethod,
		encodeList(c.RedirectURIs), encodeList(c.PostLogoutRedirectURIs), encodeList(c.GrantTypes),
		encodeList(c.Scopes), encodeList(c.Audiences), encodeList(c.Roles),
		c.SkipConsent, int64(c.RefreshGrace), toMicros(c.CreatedAt), toMicros(c.UpdatedAt), c.IDTokenAlg,
		c.OmitRefreshIDToken,
	}
}

// CreateClient implements store.Clients.
func (s *DB) CreateClient(ctx context.Context, c store.Client) error {
	if _, err := s.q.ExecContext(ctx, insertClient, clientArgs(c)...); err != nil {
		err = s.conflict(err)
		return fmt.Errorf("sqlstore: create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient implements store.Clients.
func (s *DB) GetClient(ctx context.Context, id string) (store.Client, error) {
	if !store.ValidText(id) {
		return store.Client{}, fmt.Errorf("sqlstore: get client %q: %w", id, store.ErrNotFound)
	}
	c, err := scanClient(s.q.QueryRowContext(ctx, selectClient, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients implements store.Clients. IDs are ordered bytewise.
func (s *DB) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.q.QueryContext(ctx, listClients)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	defer rows.Close()
	var cs []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list clients: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	return cs, nil
}

// UpdateClient implements store.Clients. fn runs inside the transaction
// with the row locked, so it must be quick and must not call the store.
// The store does not touch UpdatedAt; fn sets it. An fn that changes the
// ID gets an error and nothing is written.
func (s *DB) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	if !store.ValidText(id) {
		return store.Client{}, fmt.Errorf("sqlstore: update client %q: %w", id, store.ErrNotFound)
	}
	var updated store.Client
	var fnErr error
	err := s.inTx(ctx, func(tx cachedTx) error {
		old, err := scanClient(tx.QueryRowContext(ctx, selectClient+s.dialect.ForUpdate, id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		if c.ID != id {
			return fmt.Errorf("the update function changed the ID to %q", c.ID)
		}
		if _, err := tx.ExecContext(ctx, updateClient, clientArgs(c)...); err != nil {
			return err
		}
		updated = c
		return nil
	})
	if fnErr != nil {
		return store.Client{}, fnErr
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: update client %q: %w", id, err)
	}
	return updated, nil
}

// DeleteClient implements store.Clients. In the same transaction it
// deletes the client's consents and codes and revokes its grants as
// RevokeGrant does, so that a client later registered under the same ID
// inherits neither consent nor refresh tokens. The RevokeJTI entries this
// writes are not returned (the method has none to return); followers see
// them through RevocationsSince. Their times come from the system clock,
// since the method takes no now.
func (s *DB) DeleteClient(ctx context.Context, id string) error {
	if !store.ValidText(id) {
		return fmt.Errorf("sqlstore: delete client %q: %w", id, store.ErrNotFound)
	}
	now := time.Now()
	err := s.inTx(ctx, func(tx cachedTx) error {
		n, err := exec(ctx, tx, deleteClient, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, deleteClientConsents, id); err != nil {
			return fmt.Errorf("consents: %w", err)
		}
		if _, err := tx.ExecContext(ctx, deleteClientCodes, id); err != nil {
			return fmt.Errorf("codes: %w", err)
		}
		if _, err := tx.ExecContext(ctx, deleteClientDeviceCodes, id); err != nil {
			return fmt.Errorf("device codes: %w", err)
		}
		_, err = s.revokeGrantsTx(ctx, tx, selectGrantIDsByClient, id, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete client %q: %w", id, err)
	}
	return nil
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                                              store.Client
		redirect, postLogout, grantTypes, scopes, auds string
		roles                                          string
		grace, createdAt, updatedAt                    int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &c.TokenEndpointAuthMethod,
		&redirect, &postLogout, &grantTypes, &scopes, &auds, &roles,
		&c.SkipConsent, &grace, &createdAt, &updatedAt, &c.IDTokenAlg, &c.OmitRefreshIDToken); err != nil {
		return store.Client{}, err
	}
	var err error
	for _, f := range []struct {
		dst *[]string
		src string
	}{
		{&c.RedirectURIs, redirect}, {&c.PostLogoutRedirectURIs, postLogout},
		{&c.GrantTypes, grantTypes}, {&c.Scopes, scopes}, {&c.Audiences, auds}, {&c.Roles, roles},
	} {
		if *f.dst, err = decodeList(f.src); err != nil {
			return store.Client{}, err
		}
	}
	c.SecretHash = nilIfEmpty(c.SecretHash)
	c.RefreshGrace = time.Duration(grace)
	c.CreatedAt = fromMicros(createdAt)
	c.UpdatedAt = fromMicros(updatedAt)
	return c, nil
}
