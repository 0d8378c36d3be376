package sqlite

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// open returns a migrated store in a fresh file, closed when t ends.
func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// allVersions is every migration version, 1 to the number of migration
// files: versions are numbered without gaps.
func allVersions(t *testing.T) []int64 {
	t.Helper()
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	vs := make([]int64, len(files))
	for i := range vs {
		vs[i] = int64(i + 1)
	}
	return vs
}

func TestMigrate(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	got, err := s.Migrate(t.Context())
	if want := allVersions(t); err != nil || !slices.Equal(got, want) {
		t.Fatalf("first Migrate = %v, %v; want %v, nil", got, err, want)
	}
	got, err = s.Migrate(t.Context())
	if err != nil || len(got) != 0 {
		t.Fatalf("second Migrate = %v, %v; want [], nil", got, err)
	}
}

// TestPragmas checks the DSN settings the concurrency guarantees rest on
// reach every pooled connection.
func TestPragmas(t *testing.T) {
	s := open(t)
	want := map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	}
	// Hold several connections at once so more than one is checked.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := s.db.Conn(t.Context())
		if err != nil {
			t.Fatalf("Conn: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	for i, c := range conns {
		for pragma, v := range want {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if !strings.EqualFold(got, v) {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, v)
			}
		}
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		"",
		":memory:",
		"file:x.db?mode=memory",
		filepath.Join(dir, "a?b.db"),
		filepath.Join(dir, "missing-dir", "gatehouse.db"),
	} {
		s, err := Open(t.Context(), path)
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) = nil error, want an error", path)
		}
	}
}

// TestReadThenWriteTransactions covers what _txlock=immediate is for: a
// transaction that reads before it writes (compare-and-set) must wait for
// the write lock rather than fail with SQLITE_BUSY when another writer
// commits between its read and its write.
func TestReadThenWriteTransactions(t *testing.T) {
	s := open(t)
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			errs <- func() error {
				tx, err := s.db.BeginTx(t.Context(), nil)
				if err != nil {
					return err
				}
				defer func() { _ = tx.Rollback() }()
				var count int
				if err := tx.QueryRowContext(t.Context(), "SELECT count(*) FROM signing_keys").Scan(&count); err != nil {
					return err
				}
				if _, err := tx.ExecContext(t.Context(),
					`INSERT INTO signing_keys (id, algorithm, state, public_jwk, sealed_private, created_at)
					 VALUES ($1, 'ES256', 'retired', x'00', x'00', $2)`, fmt.Sprint("k", i), count+1); err != nil {
					return err
				}
				return tx.Commit()
			}()
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("read-then-write transaction: %v", err)
		}
	}
}

// walCheckpointSeq reads the checkpoint sequence number from the WAL
// header, which SQLite increments every time a checkpoint lets the WAL
// restart from its beginning.
func walCheckpointSeq(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatalf("read WAL header: %v", err)
	}
	return binary.BigEndian.Uint32(h[12:16])
}

// TestCheckpointsInBackground: with SQLite's automatic checkpoint off, the
// store's own checkpointer keeps restarting the WAL while writes go on,
// and Close leaves every commit in the database file and an empty WAL.
func TestCheckpointsInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var autockpt int
	if err := s.db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&autockpt); err != nil || autockpt != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", autockpt, err)
	}
	before := walCheckpointSeq(t, path)
	const commits = 400
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < commits || (walCheckpointSeq(t, path)-before < 3 && time.Now().Before(deadline)); i++ {
		if err := s.AppendAuditEvents(t.Context(), []store.AuditEvent{{Time: time.Now(), Type: "test", Details: map[string]string{"i": strconv.Itoa(i)}}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if got := walCheckpointSeq(t, path) - before; got < 3 {
		t.Errorf("the WAL restarted %d times during the writes, want at least 3", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after Close, want empty", fi.Size())
	}
	s = open2(t, path)
	es, err := s.ListAuditEvents(t.Context(), store.AuditQuery{Type: "test", Limit: 1000})
	if err != nil || len(es) < commits {
		t.Fatalf("after reopening: %d events, %v; want at least %d", len(es), err, commits)
	}
}

// TestWALStartsOverUnderSteadyWrites: with writes that never pause, the
// checkpointer still brings the WAL back to its start once it holds
// finishFrames pages (by finishing its checkpoint between two group
// commits), long before restartFrames, where it would hold every writer
// while it waits for a RESTART checkpoint.
func TestWALStartsOverUnderSteadyWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := open2(t, path)
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	const (
		finishBytes = finishFrames * 4096
		written     = finishBytes * 7 / 4 // well past finishFrames, far from restartFrames
	)
	var (
		wg    sync.WaitGroup
		total atomic.Int64
		stop  = make(chan struct{})
	)
	detail := strings.Repeat("x", 3000)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				es := make([]store.AuditEvent, 8)
				for j := range es {
					es[j] = store.AuditEvent{Time: time.Now(), Type: "test", Details: map[string]string{"w": strconv.Itoa(w), "i": strconv.Itoa(i), "x": detail}}
				}
				if err := s.AppendAuditEvents(t.Context(), es); err != nil {
					t.Error(err)
					return
				}
				total.Add(int64(len(es) * len(detail)))
			}
		})
	}
	before := walCheckpointSeq(t, path)
	var maxWAL int64
	deadline := time.Now().Add(60 * time.Second)
	for total.Load() < written && time.Now().Before(deadline) {
		if fi, err := os.Stat(path + "-wal"); err == nil {
			maxWAL = max(maxWAL, fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	restarts := walCheckpointSeq(t, path) - before
	t.Logf("wrote %d MB in steady writes: the WAL started over %d times, its file reached %d MB",
		total.Load()>>20, restarts, maxWAL>>20)
	if total.Load() < written {
		t.Fatalf("wrote only %d of %d bytes before the deadline", total.Load(), written)
	}
	// Without the finishing step the WAL holds every frame written (it
	// would start over only at restartFrames, beyond what is written here).
	if restarts == 0 {
		t.Errorf("the WAL never started over while %d MB were written (its file reached %d MB)", written>>20, maxWAL>>20)
	}
}

// open2 reopens an existing database, closed when t ends.
func open2(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPanicInTransactionReachesCaller: a function that panics inside a
// write transaction (here a rotation plan, which runs on the writer
// goroutine) panics in its caller's goroutine, as it would without the
// writer, and the store keeps working.
func TestPanicInTransactionReachesCaller(t *testing.T) {
	s := open(t)
	now := time.Now()
	g := store.Grant{ID: "g1", ClientID: "web", UserID: "u1", AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	iss := store.Issue{RefreshToken: &store.RefreshToken{Hash: []byte("rt0"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		AccessToken: store.IssuedAccessToken{JTI: "at0", ExpiresAt: now.Add(time.Hour)}}
	if err := s.CreateGrant(t.Context(), g, iss); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "plan bug" {
				t.Errorf("recovered %v, want the plan's panic", p)
			}
		}()
		_, _, _ = s.RotateRefreshTokenWith(t.Context(), []byte("rt0"), now, 0, func(store.RefreshToken, store.Grant, store.User) (store.Issue, error) {
			panic("plan bug")
		})
	}()
	if rt, _, err := s.GetRefreshToken(t.Context(), []byte("rt0")); err != nil || !rt.UsedAt.IsZero() {
		t.Errorf("after the panic: token %+v, %v; want it unused", rt, err)
	}
	if err := s.CreateClient(t.Context(), store.Client{ID: "c1", Name: "c1", TokenEndpointAuthMethod: store.AuthNone, Public: true}); err != nil {
		t.Errorf("a write after the panic: %v", err)
	}
}

// TestTokenTablesKeepTheirRowsWithoutRowid upgrades a database that holds
// tokens across migration 10 (refresh_tokens and access_tokens rebuilt
// WITHOUT ROWID) and back: every row survives each way, and a refresh token
// written before the upgrade still rotates after it.
func TestTokenTablesKeepTheirRowsWithoutRowid(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	const rebuilt = 10
	if _, err := p.UpTo(ctx, rebuilt-1); err != nil {
		t.Fatalf("migrate up to %d: %v", rebuilt-1, err)
	}
	now := time.Now().Truncate(time.Microsecond)
	exp := now.Add(time.Hour).UnixMicro()
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO grants (id, client_id, user_id, session_id, scopes, audiences, auth_time, created_at, expires_at)
			VALUES ('g1', 'web', '', '', '["openid"]', '[]', 0, %d, %d)`, now.UnixMicro(), exp),
		fmt.Sprintf(`INSERT INTO refresh_tokens (hash, grant_id, created_at, expires_at) VALUES (x'01', 'g1', 0, %d), (x'02', 'g1', 0, %d)`, exp, exp),
		fmt.Sprintf(`INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES ('j1', 'g1', %d), ('j2', 'g1', %d)`, exp, exp),
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows := func(stage string, wantRowid bool) {
		t.Helper()
		for _, table := range []string{"refresh_tokens", "access_tokens"} {
			var n int
			var ddl string
			if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 2 {
				t.Errorf("%s: %s holds %d rows (%v), want 2", stage, table, n, err)
			}
			if err := s.db.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE name = $1", table).Scan(&ddl); err != nil {
				t.Fatal(err)
			}
			if got := !strings.Contains(ddl, "WITHOUT ROWID"); got != wantRowid {
				t.Errorf("%s: %s has a rowid: %v, want %v", stage, table, got, wantRowid)
			}
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	rows("after the upgrade", false)
	if _, err := p.DownTo(ctx, rebuilt-1); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	rows("after the downgrade", true)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrate up again: %v", err)
	}
	rows("after upgrading again", false)
	iss := store.Issue{RefreshToken: &store.RefreshToken{Hash: []byte{3}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		AccessToken: store.IssuedAccessToken{JTI: "j3", ExpiresAt: now.Add(time.Hour)}}
	if _, _, err := s.RotateRefreshToken(ctx, []byte{1}, now, 0, iss); err != nil {
		t.Fatalf("rotating a token written before the upgrade: %v", err)
	}
	revs, err := s.RevokeGrant(ctx, "g1", now)
	if err != nil || len(revs) != 3 {
		t.Errorf("RevokeGrant = %d entries, %v; want the 3 access tokens", len(revs), err)
	}
}

// TestGroupCommitOnOneCore: with one P, as on the one pinned core of the
// embedded deployment, transactions from goroutines that do work of their
// own between them (request parsing, signing) still commit in groups. A
// writer that closed each group as soon as its queue looked empty would
// commit nearly each one alone there.
func TestGroupCommitOnOneCore(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := open(t)
	const workers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				busy(50 * time.Microsecond) // a request's own work
				now := time.Now()
				err := s.CreateAuthCode(t.Context(), store.AuthCode{Hash: []byte(fmt.Sprint(w, "/", i)), ClientID: "web",
					UserID: "u1", RedirectURI: "https://app.example/cb", CreatedAt: now, ExpiresAt: now.Add(time.Minute)})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commits, txs := s.GroupCommits()
	if txs != workers*each {
		t.Fatalf("GroupCommits counted %d transactions, want %d", txs, workers*each)
	}
	if mean := float64(txs) / float64(commits); mean < 4 {
		t.Errorf("%d transactions in %d commits: %.1f per commit, want at least 4", txs, commits, mean)
	}
}

// busy spins for d without blocking, as CPU-bound work does.
func busy(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}
