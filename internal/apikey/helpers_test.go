package apikey

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// fakeClock is a settable clock shared by services and limiters.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingHasher counts Verify calls, so tests can assert that work was
// done without measuring time.
type countingHasher struct {
	Hasher
	verifies atomic.Int64
}

func (h *countingHasher) Verify(ctx context.Context, key string, stored []byte) (bool, error) {
	h.verifies.Add(1)
	return h.Hasher.Verify(ctx, key, stored)
}

// cheapArgon2 keeps tests fast; the benchmarks use OWASPParams.
func cheapArgon2() *Argon2id {
	return NewArgon2id(Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 0)
}

func testPepper() []byte {
	p := make([]byte, 32)
	for i := range p {
		p[i] = byte(i + 1)
	}
	return p
}

type fixture struct {
	st     store.Store
	clock  *fakeClock
	hasher *countingHasher
	svc    *Service
}

// newFixture returns a service over a fresh SQLite store holding the
// roles "deployer" and "reader".
func newFixture(t *testing.T, h Hasher) *fixture {
	t.Helper()
	st := testsvc.SQLite(t)
	for _, r := range []string{"deployer", "reader"} {
		if err := st.CreateRole(t.Context(), store.Role{Name: r, Permissions: []string{r + ":*"}}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{st: st, clock: newFakeClock(), hasher: &countingHasher{Hasher: h}}
	f.svc = f.service(t)
	return f
}

// service returns another Service (another node) over the fixture's store
// and clock.
func (f *fixture) service(t *testing.T) *Service {
	t.Helper()
	s, err := New(Config{Store: f.st, Hasher: f.hasher, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) create(t *testing.T, req CreateRequest) (string, Key) {
	t.Helper()
	if req.Name == "" {
		req.Name = "ci"
	}
	plain, k, err := f.svc.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return plain, k
}

func (f *fixture) mustVerify(t *testing.T, s *Service, key string) Key {
	t.Helper()
	k, err := s.Verify(t.Context(), key, "192.0.2.1")
	if err != nil {
		t.Fatalf("Verify(valid key) = %v", err)
	}
	return k
}

func mustFail(t *testing.T, s *Service, key, what string) {
	t.Helper()
	_, err := s.Verify(t.Context(), key, "192.0.2.1")
	if err != ErrInvalidKey { //nolint:errorlint // the one error, unwrapped, is the contract
		t.Fatalf("Verify(%s) = %v, want exactly ErrInvalidKey", what, err)
	}
}
