// Package sqlite is the embedded SQLite backend of store.Store, built on the
// pure-Go modernc.org/sqlite driver so the gatehouse binary needs no cgo.
//
// Open returns a *Store, which is a *sqlstore.DB (all store.Store methods)
// plus Migrate. The schema lives in migrations/ and is applied only when the
// caller runs Migrate.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxOpenConns bounds the pool. WAL lets readers run alongside the single
// writer, but writers queue on the database lock anyway, so a large pool
// only adds connections spinning in the busy handler.
const maxOpenConns = 8

// Store is a SQLite-backed store.Store.
type Store struct {
	*sqlstore.DB
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database file at path and checks
// that it is usable. The directory must already exist. path must be a file
// name, not a URI, and may not contain '?'; ":memory:" is not supported
// because every pooled connection would see its own empty database.
//
// Every connection runs in WAL mode with synchronous=NORMAL, foreign keys
// on, a 5 s busy timeout, and BEGIN IMMEDIATE for write transactions, so a
// transaction takes the write lock up front and waits for it under the busy
// timeout instead of failing with SQLITE_BUSY when it later tries to write.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	if strings.Contains(path, "?") || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a plain file path", path)
	}
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	// Keep every connection: opening one re-runs the pragmas.
	db.SetMaxIdleConns(maxOpenConns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	s, err := sqlstore.New(db, sqlstore.Dialect{IsUniqueViolation: isUniqueViolation, SerializeWrites: true})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	return &Store{DB: s, db: db}, nil
}

// Migrate brings the schema up to date and returns the versions it applied.
// SQLite has no advisory locks; concurrent migrators are serialized by the
// write lock each migration's transaction takes.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	return sqlstore.Migrate(ctx, s.db, goose.DialectSQLite3, fsys)
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}
