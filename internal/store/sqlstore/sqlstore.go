// Package sqlstore is the database/sql implementation of store.Store that the
// sqlite and postgres backends share.
//
// Queries are hand-written with $1-style placeholders, which both
// modernc.org/sqlite and pgx accept, so one SQL text serves both databases
// wherever they agree; the few places they differ are supplied by the backend
// through a Dialect. Times are stored as BIGINT Unix microseconds in both
// schemas so that scanning code is shared and no driver time conversion is
// involved; the zero time.Time is stored as 0. String lists and maps are
// JSON text; booleans are BOOLEAN on PostgreSQL and 0/1 INTEGER on SQLite,
// which both drivers convert from and to Go bool.
//
// Read-modify-write operations run in one transaction that locks what it
// reads (Dialect.ForUpdate on PostgreSQL; SQLite's BEGIN IMMEDIATE
// serializes writers), so concurrent redemptions, rotations and
// revocations of one grant run one after another; see grants.go for the
// lock order that keeps them free of deadlocks.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Dialect holds what differs between the databases sqlstore runs on.
type Dialect struct {
	// SerializeWrites makes one goroutine of this process run every write,
	// several transactions to a commit (writer.go), instead of writers
	// meeting in the database. SQLite allows one writer at a time and
	// makes the others retry with sleeps of up to 100 ms, which under load
	// turns into second-long tail latencies; and each commit writes every
	// page it changed to the WAL, so a commit shared by several
	// transactions writes the pages they share once.
	SerializeWrites bool

	// IsUniqueViolation reports whether err, as returned by the driver,
	// is a unique or primary key constraint violation. Such errors become
	// store.ErrConflict so that no caller ever has to know the driver.
	// Required.
	IsUniqueViolation func(err error) bool

	// NotifyRevocations, when not empty, is executed in every transaction
	// that writes revocation entries, after the writes, to tell other
	// nodes at commit (PostgreSQL: pg_notify). Empty means followers
	// learn of entries by polling only.
	NotifyRevocations string

	// LockSigningKeys, when not empty, is executed first inside the
	// RotateSigningKey transaction. It must block until no other rotation
	// holds it, so that a rotation always sees the key the previous one
	// inserted: without it, two concurrent rotations on PostgreSQL both
	// retire the same old key and the second insert then fails the
	// one-active-key index. Backends whose write transactions are already
	// serialized (SQLite with BEGIN IMMEDIATE) leave it empty.
	LockSigningKeys string

	// ForUpdate is appended to the SELECT by which a read-modify-write
	// transaction reads a row it is about to change (a code being redeemed,
	// a refresh token being rotated, a grant being revoked, a client or
	// user being updated). It must lock the row until the transaction ends
	// and make a waiting reader see the committed change, so that the
	// second of two concurrent redemptions observes the first: " FOR UPDATE"
	// on PostgreSQL. Backends whose write transactions are already
	// serialized (SQLite with BEGIN IMMEDIATE) leave it empty.
	ForUpdate string

	// ForShare is appended to a SELECT that must keep a row from changing
	// until the statement's transaction ends without excluding other
	// readers that do the same: " FOR SHARE" on PostgreSQL, empty where
	// writers are serialized.
	ForShare string

	// WritableCTEs says the database runs INSERT and UPDATE inside WITH
	// (PostgreSQL). A refresh token is then rotated in one statement, one
	// round trip, whenever it is rotated for the first time.
	WritableCTEs bool

	// LockRoleHolders, when not empty, is executed first inside the
	// DeleteRole transaction. It must keep other transactions from
	// inserting or updating users, clients and API keys until the
	// transaction ends, so that no holder of the role appears between the
	// check for holders and the delete. Backends whose write transactions
	// are already serialized leave it empty.
	LockRoleHolders string

	// TryPruneLock, when not empty, is executed first inside every
	// PruneBatch transaction and must return one boolean: true when this
	// transaction now holds the pruning lock (released at its end), false
	// when another node's does. Backends used by one process leave it
	// empty.
	TryPruneLock string

	// PrepareStatements makes every query prepared once per connection and
	// kept: modernc.org/sqlite otherwise compiles the SQL of each statement
	// anew, which costs more than running it. pgx caches prepared
	// statements itself, so PostgreSQL leaves it off.
	PrepareStatements bool
}

// DB implements store.Store on a *sql.DB.
type DB struct {
	db *sql.DB
	// q runs statements outside transactions, prepared when the dialect
	// asks for it.
	q       pool
	dialect Dialect
	// sql holds the statements built from the dialect.
	sql struct{ markRotated, rotateFirstUse string }
	// w runs every transaction when Dialect.SerializeWrites is set.
	w *writer
	// stmts maps query text to its *sql.Stmt (Dialect.PrepareStatements);
	// nstmts counts them, to bound the cache.
	stmts  sync.Map
	nstmts atomic.Int32
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
	s := &DB{db: db, dialect: d}
	s.q = pool{s}
	s.sql.markRotated = markRotated(d)
	if d.WritableCTEs {
		s.sql.rotateFirstUse = rotateFirstUse(d)
	}
	if d.SerializeWrites {
		s.w = newWriter(s)
	}
	return s, nil
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
	if s.w != nil {
		s.w.close()
	}
	s.stmts.Range(func(_, st any) bool {
		_ = st.(*sql.Stmt).Close()
		return true
	})
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

// querier is the part of *sql.DB and *sql.Tx that reads and writes need.
type querier interface {
	execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// maxPrepared bounds the statement cache. The store's queries are
// constant strings (a few hundred at most); the bound only matters if a
// query text were ever built from data.
const maxPrepared = 512

// prepared returns the cached prepared statement for query, preparing it on
// first use, or nil when statements are not prepared (or the cache is full,
// or preparing failed: the caller then runs query directly and gets the
// error there).
func (s *DB) prepared(ctx context.Context, query string) *sql.Stmt {
	if !s.dialect.PrepareStatements {
		return nil
	}
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	if s.nstmts.Load() >= maxPrepared {
		return nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt)
	}
	s.nstmts.Add(1)
	return st
}

// pool runs statements on the connection pool, through the statement
// cache.
type pool struct{ s *DB }

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if p.s.w != nil {
		// A write outside a transaction would take SQLite's write lock
		// beside the writer and wait in the busy handler: it queues with
		// the transactions instead.
		var res sql.Result
		err := p.s.inTx(ctx, func(tx cachedTx) error {
			var err error
			res, err = tx.ExecContext(ctx, query, args...)
			return err
		})
		return res, err
	}
	if st := p.s.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.s.db.ExecContext(ctx, query, args...)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.s.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.s.db.QueryContext(ctx, query, args...)
}

func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.s.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.s.db.QueryRowContext(ctx, query, args...)
}

// cachedTx is a transaction whose statements come from the statement
// cache: database/sql reuses a statement already prepared on the
// transaction's connection. In a group commit (see writer.go) ctx replaces
// the context of every statement: one caller's cancellation must not
// interrupt a transaction that others share.
type cachedTx struct {
	*sql.Tx
	s   *DB
	ctx context.Context
}

func (t cachedTx) context(ctx context.Context) context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return ctx
}

func (t cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if st := t.s.prepared(ctx, query); st != nil {
		return t.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if st := t.s.prepared(ctx, query); st != nil {
		return t.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if st := t.s.prepared(ctx, query); st != nil {
		return t.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// scanner is the part of *sql.Row and *sql.Rows that scanning needs.
type scanner interface {
	Scan(dest ...any) error
}

// inTx runs fn in a transaction and commits when fn returns nil. Errors
// are returned unwrapped apart from begin and commit failures, so that
// callers add their own "sqlstore: <op>:" prefix and sentinel errors (and
// the errors of update functions) pass through unchanged. Where writes are
// serialized, fn runs on the writer goroutine, in a group commit.
func (s *DB) inTx(ctx context.Context, fn func(tx cachedTx) error) error {
	if s.w != nil {
		return s.w.do(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// After a successful Commit this returns sql.ErrTxDone, which is fine.
	defer func() { _ = tx.Rollback() }()
	if err := fn(cachedTx{Tx: tx, s: s}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// WriterCommits returns how many group commits the writer has run and how
// many transactions they held, where writes are serialized (SQLite); zeros
// elsewhere. Their ratio is the mean group size.
func (s *DB) WriterCommits() (commits, transactions uint64) {
	if s.w == nil {
		return 0, 0
	}
	return s.w.commits.Load(), s.w.txs.Load()
}

// BetweenWrites runs fn while no transaction of this store writes: on the
// writer goroutine between two group commits where writes are serialized
// (writes queue meanwhile), else at once. The SQLite checkpointer uses it
// to finish a checkpoint that concurrent writes kept from completing.
func (s *DB) BetweenWrites(ctx context.Context, fn func() error) error {
	if s.w != nil {
		return s.w.between(ctx, fn)
	}
	return fn()
}

// conflict maps a uniqueness violation anywhere in err's chain to
// store.ErrConflict, dropping the driver error so no driver type leaks.
func (s *DB) conflict(err error) error {
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return store.ErrConflict
	}
	return err
}

// exec runs a statement and returns how many rows it affected.
func exec(ctx context.Context, x execer, query string, args ...any) (int64, error) {
	res, err := x.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// errZeroNow is returned by methods whose now is written as a marker
// (UsedAt, RevokedAt): the zero time is stored as 0, which reads back as
// "not set", so accepting it would silently leave a code unused or a grant
// valid.
var errZeroNow = errors.New("now is the zero time")

// encodeList stores a string list as a JSON array; nil and empty lists
// are both stored as "[]" and read back as nil. Strings that are not
// valid UTF-8 are altered by the JSON encoding (to U+FFFD), which only
// ever makes an exact match such as a redirect URI fail.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		// Unreachable: a []string always marshals.
		panic(fmt.Sprintf("sqlstore: marshal string list: %v", err))
	}
	return string(b)
}

func decodeList(s string) ([]string, error) {
	if l, ok := decodePlainList(s); ok {
		return l, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// decodePlainList decodes, without reflection, the lists that encodeList
// writes for plain strings: a compact JSON array whose strings hold no
// escape, and so no quote or control character either. It reports false
// for anything else, which decodeList then hands to encoding/json. Every
// token refresh reads three lists, so this is on the hot path.
func decodePlainList(s string) ([]string, bool) {
	if s == "[]" {
		return nil, true
	}
	if len(s) < 4 || s[:2] != `["` || s[len(s)-2:] != `"]` || strings.IndexByte(s, '\\') >= 0 || !utf8.ValidString(s) {
		return nil, false
	}
	inner := s[2 : len(s)-2]
	l := make([]string, 0, strings.Count(inner, `","`)+1)
	for e := range strings.SplitSeq(inner, `","`) {
		if strings.IndexByte(e, '"') >= 0 || hasControl(e) {
			return nil, false
		}
		l = append(l, e)
	}
	return l, true
}

// hasControl reports whether s holds a byte JSON forbids unescaped in a
// string.
func hasControl(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

// encodeMap and decodeMap do for string maps what encodeList and
// decodeList do for lists; an empty map reads back as nil.
func encodeMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Unreachable: a map[string]string always marshals.
		panic(fmt.Sprintf("sqlstore: marshal string map: %v", err))
	}
	return string(b)
}

func decodeMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode string map: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// nilIfEmpty stores an empty optional byte string as NULL, so that nil and
// empty read back alike (as nil).
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
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
