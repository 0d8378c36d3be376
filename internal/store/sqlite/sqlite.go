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
	"sync"
	"time"

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

// Checkpointing (see Store.checkpoints). SQLite's automatic checkpoint
// runs inside the commit that crosses 1,000 WAL pages, with two fsyncs,
// while that transaction still holds the write lock: every writer waits
// behind it, which costs a busy server about 40% of its write throughput
// and its tail latency. The store turns it off and checkpoints from a
// goroutine instead; PASSIVE checkpoints run beside readers and writers.
//
// Under steady writes a PASSIVE checkpoint never catches up (frames
// arrive while it copies), and SQLite only starts the WAL over from its
// beginning once every frame is copied: the WAL would grow until a
// RESTART checkpoint, which holds every writer (measured: 30 ms every
// 1.3 s at 1,400 refreshes a second, a 70 ms p99). So once the WAL holds
// finishFrames, the checkpointer copies the few frames left while the
// writer pauses between two group commits (a few ms), and the next write
// starts the WAL over.
const (
	// checkpointEvery is the pause between checkpoints. At a few thousand
	// commits a second the WAL grows by a few MB in that time.
	checkpointEvery = 100 * time.Millisecond
	// restartFrames is the WAL size (in pages) after a passive checkpoint
	// at which the checkpointer waits for readers and writers to let it
	// restart the WAL: a WAL that readers never leave would otherwise grow
	// without bound.
	restartFrames = 16384
	// finishFrames is the WAL size (in pages) from which a checkpoint is
	// finished between writes; walSizeLimit in pages.
	finishFrames = walSizeLimit / 4096
	// walSizeLimit is what the WAL file is truncated to when it restarts,
	// so that one burst does not leave a large file behind.
	walSizeLimit = 16 << 20
	// checkpointTimeout bounds one checkpoint.
	checkpointTimeout = 5 * time.Second
)

// Store is a SQLite-backed store.Store.
type Store struct {
	*sqlstore.DB
	db *sql.DB
	// stop ends the checkpointer, which closes done when it has.
	stop, done chan struct{}
	closeOnce  sync.Once
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
// A goroutine checkpoints the WAL every 100 ms until Close. With
// synchronous=NORMAL a commit survives a crash of the process at once and
// a power failure from the next checkpoint on.
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
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
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
	s, err := sqlstore.New(db, sqlstore.Dialect{IsUniqueViolation: isUniqueViolation, SerializeWrites: true, PrepareStatements: true})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	st := &Store{DB: s, db: db, stop: make(chan struct{}), done: make(chan struct{})}
	// The checkpointer outlives Open's ctx: it runs until Close.
	go st.checkpoints(context.WithoutCancel(ctx))
	return st, nil
}

// checkpoints copies the WAL back into the database file every
// checkpointEvery until Close; see checkpointEvery and restartFrames.
// Failures (a busy or closing database) are retried at the next tick.
func (s *Store) checkpoints(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		frames, err := s.checkpoint(ctx, "PASSIVE")
		switch {
		case err != nil:
		case frames >= restartFrames:
			_, _ = s.checkpoint(ctx, "RESTART")
		case frames >= finishFrames:
			_ = s.BetweenWrites(ctx, func() error {
				_, err := s.checkpoint(ctx, "PASSIVE")
				return err
			})
		}
	}
}

// checkpoint runs one checkpoint of the given mode and returns the WAL's
// size in pages.
func (s *Store) checkpoint(ctx context.Context, mode string) (frames int, err error) {
	// A checkpoint waits for no lock (PASSIVE) or for readers and the writer
	// to finish (RESTART, TRUNCATE); bound it so Close cannot hang on one.
	ctx, cancel := context.WithTimeout(ctx, checkpointTimeout)
	defer cancel()
	var busy, done int
	err = s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done)
	return frames, err
}

// GroupCommits returns how many commits the store's writer has run and
// how many write transactions they held (see sqlstore.DB.WriterCommits).
func (s *Store) GroupCommits() (commits, transactions uint64) { return s.WriterCommits() }

// Close stops the checkpointer, checkpoints what is left and truncates the
// WAL, and closes the database. Calling it again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		_, _ = s.checkpoint(context.Background(), "TRUNCATE")
	})
	return s.DB.Close()
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
