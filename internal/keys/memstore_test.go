package keys

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// memStore is an in-memory store.SigningKeys with the contract's semantics
// (one active key per algorithm, ErrConflict, atomic rotation), plus an
// outage switch.
type memStore struct {
	mu    sync.Mutex
	keys  []store.SigningKey
	down  error // when set, every call fails with it
	calls atomic.Int64
}

var _ Store = (*memStore)(nil)

func (s *memStore) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
}

func (s *memStore) begin() error {
	s.calls.Add(1)
	return s.down
}

func (s *memStore) CreateSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	return s.insert(k)
}

func (s *memStore) insert(k store.SigningKey) error {
	for _, o := range s.keys {
		if o.ID == k.ID || ((k.State == store.KeyActive || k.State == store.KeyNext) && o.State == k.State && o.Algorithm == k.Algorithm) {
			return fmt.Errorf("memstore: %w", store.ErrConflict)
		}
	}
	s.keys = append(s.keys, cloneKey(k))
	return nil
}

func (s *memStore) GetSigningKey(_ context.Context, id string) (store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return store.SigningKey{}, err
	}
	for _, k := range s.keys {
		if k.ID == id {
			return cloneKey(k), nil
		}
	}
	return store.SigningKey{}, store.ErrNotFound
}

func (s *memStore) ListSigningKeys(_ context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return nil, err
	}
	out := make([]store.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	slices.SortStableFunc(out, func(a, b store.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *memStore) RotateSigningKey(_ context.Context, next store.SigningKey, publishUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	for _, o := range s.keys {
		if o.ID == next.ID {
			return fmt.Errorf("memstore: %w", store.ErrConflict)
		}
	}
	for i, o := range s.keys {
		if o.Algorithm == next.Algorithm && (o.State == store.KeyActive || o.State == store.KeyNext) {
			s.keys[i].State = store.KeyRetired
			s.keys[i].RetiredAt = next.CreatedAt
			s.keys[i].PublishUntil = publishUntil
			s.keys[i].ActivateAt = time.Time{}
		}
	}
	next.State = store.KeyActive
	return s.insert(next)
}

func (s *memStore) ActivateSigningKey(_ context.Context, id string, publishUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	i := slices.IndexFunc(s.keys, func(k store.SigningKey) bool { return k.ID == id })
	switch {
	case i < 0:
		return store.ErrNotFound
	case s.keys[i].State == store.KeyActive:
		return nil
	case s.keys[i].State != store.KeyNext:
		return store.ErrNotFound
	}
	for j, o := range s.keys {
		if o.Algorithm == s.keys[i].Algorithm && o.State == store.KeyActive {
			s.keys[j].State = store.KeyRetired
			s.keys[j].RetiredAt = s.keys[i].ActivateAt
			s.keys[j].PublishUntil = publishUntil
		}
	}
	s.keys[i].State = store.KeyActive
	return nil
}

func (s *memStore) PruneSigningKeys(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return 0, err
	}
	n := len(s.keys)
	s.keys = slices.DeleteFunc(s.keys, func(k store.SigningKey) bool {
		return k.State == store.KeyRetired && !k.PublishUntil.After(now)
	})
	return n - len(s.keys), nil
}

func cloneKey(k store.SigningKey) store.SigningKey {
	k.PublicJWK = slices.Clone(k.PublicJWK)
	k.SealedPrivate = slices.Clone(k.SealedPrivate)
	return k
}

// staleFirstList wraps a store so that its first ListSigningKeys returns
// nothing: the view of a node that read just before another node created
// the first keys.
type staleFirstList struct {
	*memStore
	listed atomic.Bool
}

func (s *staleFirstList) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if !s.listed.Swap(true) {
		return nil, nil
	}
	return s.memStore.ListSigningKeys(ctx)
}

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testMasterKey is a fixed master key for tests.
func testMasterKey() []byte {
	k := make([]byte, MasterKeySize)
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

const testMaxTTL = time.Hour

// newTestManager builds a Manager over st with the fake clock. Extra
// configuration is applied by edit.
func newTestManager(t testing.TB, st Store, clock *fakeClock, edit func(*Config)) *Manager {
	t.Helper()
	cfg := Config{
		Store:       st,
		MasterKey:   testMasterKey(),
		MaxTokenTTL: testMaxTTL,
		Now:         clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	m, err := NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}
