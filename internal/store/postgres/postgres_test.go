package postgres

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// open returns a migrated store in a fresh schema, closed (and the schema
// dropped) when t ends.
func open(t *testing.T) *Store {
	t.Helper()
	url := testsvc.PostgresSchema(t)
	s, err := Open(t.Context(), url)
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
	s, err := Open(t.Context(), testsvc.PostgresSchema(t))
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

// TestMigrateConcurrent starts several migrators on one schema at once, as
// nodes starting together do: the advisory lock must let exactly one apply
// the migrations and the others find nothing to do.
func TestMigrateConcurrent(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	applied := make([][]int64, n)
	errs := make([]error, n)
	done := make(chan int)
	for i, s := range stores {
		go func() {
			applied[i], errs[i] = s.Migrate(t.Context())
			done <- i
		}()
	}
	for range n {
		<-done
	}
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Migrate #%d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if want := allVersions(t); total != len(want) {
		t.Errorf("migrations applied across %d concurrent migrators = %v, want %v once each", n, applied, want)
	}
}

func TestMigrationLockIDPerSchema(t *testing.T) {
	if migrationLockID("a") == migrationLockID("b") {
		t.Error("migrationLockID gives two schemas the same lock")
	}
}

func TestOpenErrors(t *testing.T) {
	if s, err := Open(t.Context(), "postgres://%zz"); err == nil {
		_ = s.Close()
		t.Error("Open(malformed URL) = nil error")
	}
	// Nothing listens on port 1; the ping must fail within the context.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if s, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable"); err == nil {
		_ = s.Close()
		t.Error("Open(unreachable) = nil error")
	}
}

// A node watching for revocations hears of entries another node commits,
// and of nothing before the commit.
func TestWatchRevocations(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	watcher, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watcher.Close() })
	writer, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	if _, err := writer.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { watcher.WatchRevocations(ctx, ch); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wait := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal %s", what)
		}
	}
	wait("on connecting")
	now := time.Now()
	if _, err := writer.AddRevocations(t.Context(), []store.Revocation{{Kind: store.RevokeJTI, Value: "j1",
		ExpiresAt: now.Add(time.Hour)}}, now); err != nil {
		t.Fatal(err)
	}
	wait("after a commit")
}

// TestPruneBatchTakesTurns: nodes sharing a database prune one at a time;
// while another transaction holds the schema's pruning lock, PruneBatch
// answers ErrBusy and deletes nothing.
func TestPruneBatchTakesTurns(t *testing.T) {
	a := open(t)
	ctx := t.Context()
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var locked bool
	if err := tx.QueryRowContext(ctx, tryPruneLock).Scan(&locked); err != nil || !locked {
		t.Fatalf("taking the lock: %v %v", locked, err)
	}
	if _, err := a.PruneBatch(ctx, time.Now(), time.Time{}, 10); !errors.Is(err, store.ErrBusy) {
		t.Fatalf("PruneBatch while another holds the lock: %v, want ErrBusy", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PruneBatch(ctx, time.Now(), time.Time{}, 10); err != nil {
		t.Fatalf("PruneBatch after the lock was released: %v", err)
	}
}

// TestRotateRefreshTokenOneRoundTrip: the first use of a refresh token is
// rotated in one statement (DESIGN.md §8: one round trip per rotation);
// a replay within grace takes the locking transaction and still succeeds.
func TestRotateRefreshTokenOneRoundTrip(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Microsecond)
	g := store.Grant{ID: "g1", ClientID: "web", UserID: "u1", SessionID: "sid", Scopes: []string{"openid"},
		AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	issue := func(rt, jti string) store.Issue {
		return store.Issue{
			RefreshToken: &store.RefreshToken{Hash: []byte(rt), GrantID: "g1", CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)},
			AccessToken:  store.IssuedAccessToken{JTI: jti, ExpiresAt: now.Add(15 * time.Minute)},
		}
	}
	if err := s.CreateGrant(ctx, g, issue("rt0", "at0")); err != nil {
		t.Fatal(err)
	}
	var statements atomic.Int32
	s.ObserveQueries(func(time.Duration, error) { statements.Add(1) })
	got, revs, err := s.RotateRefreshToken(ctx, []byte("rt0"), now, time.Minute, issue("rt1", "at1"))
	if err != nil || got.ID != "g1" || len(revs) != 0 {
		t.Fatalf("RotateRefreshToken = %+v, %v, %v; want g1", got, revs, err)
	}
	if n := statements.Swap(0); n != 1 {
		t.Errorf("first use took %d statements, want 1", n)
	}
	rt, _, err := s.GetRefreshToken(ctx, []byte("rt1"))
	if err != nil || !rt.ExpiresAt.Equal(g.ExpiresAt) || rt.GrantID != "g1" {
		t.Errorf("new refresh token = %+v, %v; want grant g1, expiry clamped to the grant's %v", rt, err, g.ExpiresAt)
	}
	statements.Store(0)
	if _, _, err := s.RotateRefreshToken(ctx, []byte("rt0"), now.Add(time.Second), time.Minute, issue("rt2", "at2")); err != nil {
		t.Fatalf("replay within grace: %v", err)
	}
	if n := statements.Load(); n < 3 {
		t.Errorf("replay within grace took %d statements; want the locking transaction", n)
	}
}
