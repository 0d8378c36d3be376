// Package postgres is the PostgreSQL backend of store.Store, the one to use
// when several gatehouse nodes share state. It runs the shared sqlstore
// queries through pgx's database/sql driver.
//
// Open returns a *Store, which is a *sqlstore.DB (all store.Store methods)
// plus Migrate. The schema lives in migrations/ and is applied only when the
// caller runs Migrate. Tables are created in the first schema of the
// connection's search_path, so one database can hold several isolated
// installations (the tests rely on this).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Pool limits. They keep one node well under PostgreSQL's default
// max_connections of 100 even with several nodes, and recycle connections
// so that server-side memory and failovers behind a proxy do not pin them
// forever. Every open connection may stay idle: with fewer idle slots
// than open connections, a busy node closes connections as requests end
// and opens new ones (a forked backend and a handshake each) for the next.
const (
	maxOpenConns    = 20
	maxIdleConns    = maxOpenConns
	connMaxLifetime = 30 * time.Minute
	connMaxIdleTime = 5 * time.Minute
)

// uniqueViolation is the SQLSTATE of unique_violation.
const uniqueViolation = "23505"

// lockSigningKeys serializes rotations. SHARE ROW EXCLUSIVE conflicts with
// itself and with writers but not with plain reads, so JWKS reads continue
// during a rotation. Taken as the transaction's first statement, after
// which each READ COMMITTED statement sees the previous rotation's key.
const lockSigningKeys = `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`

// lockRoleHolders keeps holders of a role from appearing while DeleteRole
// checks for them. SHARE conflicts with the ROW EXCLUSIVE lock every
// INSERT, UPDATE and DELETE takes, but not with reads or with itself.
const lockRoleHolders = `LOCK TABLE users, clients, api_keys IN SHARE MODE`

// tryPruneLock takes the pruning lock for the transaction, if free. It is
// per schema, like the migration lock: nodes of one deployment take turns,
// unrelated schemas of the database do not wait for each other.
const tryPruneLock = `SELECT pg_try_advisory_xact_lock(hashtextextended('gatehouse/prune/' || current_schema(), 0))`

// Store is a PostgreSQL-backed store.Store.
type Store struct {
	*sqlstore.DB
	db    *sql.DB
	cfg   *pgx.ConnConfig // for the revocation listener's own connection
	timer *queryTimer
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string as pgx accepts) and pings it under ctx.
func Open(ctx context.Context, url string) (*Store, error) {
	// ParseConfig reports a malformed URL now rather than at first use, and
	// redacts the password in its errors.
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	timer := &queryTimer{}
	cfg.Tracer = timer
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s, err := sqlstore.New(db, sqlstore.Dialect{
		IsUniqueViolation: isUniqueViolation,
		LockSigningKeys:   lockSigningKeys,
		ForUpdate:         " FOR UPDATE",
		ForShare:          " FOR SHARE",
		WritableCTEs:      true,
		LockRoleHolders:   lockRoleHolders,
		NotifyRevocations: "SELECT pg_notify('" + revocationChannel + "', '')",
		TryPruneLock:      tryPruneLock,
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return &Store{DB: s, db: db, cfg: cfg, timer: timer}, nil
}

// revocationChannel is the LISTEN/NOTIFY channel of revocation entries. It
// is database-wide: nodes of other schemas in the same database only get
// an extra, harmless sync.
const revocationChannel = "gatehouse_revocations"

// WatchRevocations sends on ch (without blocking) soon after any node
// commits revocation entries, through LISTEN/NOTIFY on a connection of its
// own, so that followers need not wait for their next poll. It reconnects
// by itself, and also signals after each (re)connection, since notices
// sent while it was away are lost. It returns when ctx ends.
func (s *Store) WatchRevocations(ctx context.Context, ch chan<- struct{}) {
	signal := func() {
		select {
		case ch <- struct{}{}:
		default: // one pending signal is enough: the follower reads everything new
		}
	}
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+revocationChannel); err == nil {
				backoff = minBackoff
				signal()
				for err == nil {
					if _, err = conn.WaitForNotification(ctx); err == nil {
						signal()
					}
				}
			}
			_ = conn.Close(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Migrate brings the schema up to date and returns the versions it applied.
// Nodes starting together serialize on a session advisory lock; the lock id
// is derived from the target schema so that migrations of unrelated schemas
// in one database (parallel tests) do not wait for each other.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	var schema sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("postgres: migrate: current schema: %w", err)
	}
	if !schema.Valid {
		return nil, errors.New("postgres: migrate: no schema in search_path exists")
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID(schema.String)),
		// Poll every second rather than goose's 5 s; give up after 5 min.
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return sqlstore.Migrate(ctx, s.db, goose.DialectPostgres, fsys, goose.WithSessionLocker(locker))
}

// migrationLockID maps a schema to an advisory lock id. Advisory locks are
// per database, not per schema, hence the schema in the key.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("gatehouse/migrate/" + schema))
	return int64(h.Sum64()) //nolint:gosec // wrapping to a signed id is intended
}

func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == uniqueViolation
}
