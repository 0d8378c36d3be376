// Package sqlstore is the database/sql implementation of store.Store that the
// sqlite and postgres backends share.
//
// Queries are hand-written with $1-style placeholders, which both
// modernc.org/sqlite and pgx accept, so one SQL text serves both databases
// wherever they agree; the few places they differ are supplied by the backend
// through a Dialect. Times are stored as BIGINT Unix microseconds in both
// schemas so that scanning code is shared and no driver time conversion is
// involved; the zero time.Time is stored as 0.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Dialect holds what differs between the databases sqlstore runs on.
type Dialect struct {
	// IsUniqueViolation reports whether err, as returned by the driver,
	// is a unique or primary key constraint violation. Such errors become
	// store.ErrConflict so that no caller ever has to know the driver.
	// Required.
	IsUniqueViolation func(err error) bool

	// LockSigningKeys, when not empty, is executed first inside the
	// RotateSigningKey transaction. It must block until no other rotation
	// holds it, so that a rotation always sees the key the previous one
	// inserted: without it, two concurrent rotations on PostgreSQL both
	// retire the same old key and the second insert then fails the
	// one-active-key index. Backends whose write transactions are already
	// serialized (SQLite with BEGIN IMMEDIATE) leave it empty.
	LockSigningKeys string
}

// DB implements store.Store on a *sql.DB.
type DB struct {
	db      *sql.DB
	dialect Dialect
}

var _ store.Store = (*DB)(nil)

// New returns a store using db. It takes ownership of db: Close closes it.
// The schema is not created here; backends apply their migrations first.
func New(db *sql.DB, d Dialect) (*DB, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if d.IsUniqueViolation == nil {
		return nil, errors.New("sqlstore: Dialect.IsUniqueViolation is required")
	}
	return &DB{db: db, dialect: d}, nil
}

// Ping runs a trivial query rather than only checking the connection, since
// readiness means being able to serve queries.
func (s *DB) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// Close closes the underlying *sql.DB. Calling it again is harmless.
func (s *DB) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// execer is the part of *sql.DB and *sql.Tx that writes need, so one insert
// helper serves both plain creates and rotations.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// scanner is the part of *sql.Row and *sql.Rows that scanning needs.
type scanner interface {
	Scan(dest ...any) error
}

// toMicros maps the zero time to 0 rather than to its (large negative) Unix
// microsecond value, so "not set" reads as 0 in the database as well.
func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of toMicros. Times come back in UTC so callers
// get the same value whichever backend and server time zone is in use. The
// one instant that does not survive is the Unix epoch itself, which reads
// back as the zero time; no key is created in 1970.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
