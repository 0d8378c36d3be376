package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const sessionColumns = `id, token_hash, user_id, auth_time, created_at, expires_at`

const (
	insertSession = `INSERT INTO sessions (` + sessionColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`

	selectSessionByTokenHash = `SELECT ` + sessionColumns + ` FROM sessions
WHERE token_hash = $1 AND expires_at > $2`

	listUserSessions = `SELECT ` + sessionColumns + ` FROM sessions
WHERE user_id = $1 AND expires_at > $2
ORDER BY created_at DESC, id DESC`
)

// CreateSession implements store.Sessions.
func (s *DB) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.q.ExecContext(ctx, insertSession, se.ID, se.TokenHash, se.UserID,
		toMicros(se.AuthTime), toMicros(se.CreatedAt), toMicros(se.ExpiresAt))
	if err != nil {
		err = s.conflict(err)
		return fmt.Errorf("sqlstore: create session: %w", err)
	}
	return nil
}

// GetSessionByTokenHash implements store.Sessions. A session expires at
// its ExpiresAt: at that instant it is no longer returned.
func (s *DB) GetSessionByTokenHash(ctx context.Context, h []byte, now time.Time) (store.Session, error) {
	se, err := scanSession(s.q.QueryRowContext(ctx, selectSessionByTokenHash, h, toMicros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlstore: get session by token hash: %w", err)
	}
	return se, nil
}

// ListUserSessions implements store.Sessions.
func (s *DB) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	rows, err := s.q.QueryContext(ctx, listUserSessions, userID, toMicros(now))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list sessions of user %q: %w", userID, err)
	}
	defer rows.Close()
	var ss []store.Session
	for rows.Next() {
		se, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list sessions of user %q: %w", userID, err)
		}
		ss = append(ss, se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list sessions of user %q: %w", userID, err)
	}
	return ss, nil
}

func scanSession(row scanner) (store.Session, error) {
	var (
		se                             store.Session
		authTime, createdAt, expiresAt int64
	)
	if err := row.Scan(&se.ID, &se.TokenHash, &se.UserID, &authTime, &createdAt, &expiresAt); err != nil {
		return store.Session{}, err
	}
	se.AuthTime = fromMicros(authTime)
	se.CreatedAt = fromMicros(createdAt)
	se.ExpiresAt = fromMicros(expiresAt)
	return se, nil
}
