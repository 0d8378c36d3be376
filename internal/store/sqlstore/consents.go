package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/store"
)

const (
	selectConsent = `SELECT user_id, client_id, scopes, created_at FROM consents
WHERE user_id = $1 AND client_id = $2`

	upsertConsent = `INSERT INTO consents (user_id, client_id, scopes, created_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`

	deleteConsent = `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`
)

// GetConsent implements store.Consents.
func (s *DB) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	if !store.ValidText(userID) || !store.ValidText(clientID) {
		return store.Consent{}, fmt.Errorf("sqlstore: get consent %q: %w", userID, store.ErrNotFound)
	}
	var (
		c         store.Consent
		scopes    string
		createdAt int64
	)
	err := s.q.QueryRowContext(ctx, selectConsent, userID, clientID).Scan(&c.UserID, &c.ClientID, &scopes, &createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err == nil {
		c.Scopes, err = decodeList(scopes)
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("sqlstore: get consent of user %q for client %q: %w", userID, clientID, err)
	}
	c.CreatedAt = fromMicros(createdAt)
	return c, nil
}

// SaveConsent implements store.Consents. A replaced consent takes every
// field from c, CreatedAt included.
func (s *DB) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := s.q.ExecContext(ctx, upsertConsent, c.UserID, c.ClientID, encodeList(c.Scopes), toMicros(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: save consent of user %q for client %q: %w", c.UserID, c.ClientID, err)
	}
	return nil
}

// DeleteConsent implements store.Consents.
func (s *DB) DeleteConsent(ctx context.Context, userID, clientID string) error {
	if !store.ValidText(userID) || !store.ValidText(clientID) {
		return fmt.Errorf("sqlstore: delete consent %q: %w", userID, store.ErrNotFound)
	}
	n, err := exec(ctx, s.db, deleteConsent, userID, clientID)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete consent of user %q for client %q: %w", userID, clientID, err)
	}
	return nil
}
