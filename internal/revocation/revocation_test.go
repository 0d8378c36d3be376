package revocation

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

func openStore(t *testing.T) *sqlite.Store { return testsvc.SQLite(t) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRevokeIsSeenByAnotherNode(t *testing.T) {
	st := openStore(t)
	c := &clock{t: time.Now()}
	nodeA := New(Config{Store: st, Now: c.now})
	nodeB := New(Config{Store: st, Now: c.now})
	for _, l := range []*List{nodeA, nodeB} {
		if err := l.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	iat := c.now().Add(-time.Minute)
	exp := c.now().Add(time.Hour)
	err := nodeA.Revoke(t.Context(),
		store.Revocation{Kind: store.RevokeJTI, Value: "jti-1", ExpiresAt: exp},
		store.Revocation{Kind: store.RevokeSID, Value: "sid-1", ExpiresAt: exp},
		store.Revocation{Kind: store.RevokeSubject, Value: "alice", NotBefore: SubjectNotBefore(c.now()), ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	check := func(l *List, jti, sid, sub string, iat time.Time, want bool) {
		t.Helper()
		got, err := l.IsRevoked(t.Context(), jti, sid, sub, iat)
		if err != nil || got != want {
			t.Fatalf("IsRevoked(%q,%q,%q) = %v, %v; want %v", jti, sid, sub, got, err, want)
		}
	}
	check(nodeA, "jti-1", "", "bob", iat, true)
	// Node B answers from its (fresh) copy until it follows the feed.
	check(nodeB, "jti-1", "", "bob", iat, false)
	if err := nodeB.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	check(nodeB, "jti-1", "", "bob", iat, true)
	check(nodeB, "other", "sid-1", "bob", iat, true)
	check(nodeB, "other", "", "alice", iat, true)
	// A subject entry covers tokens issued in its second, not after.
	check(nodeB, "other", "", "alice", SubjectNotBefore(c.now()), false)
	check(nodeB, "other", "sid-2", "bob", iat, false)

	// Entries lapse with their expiry.
	c.add(2 * time.Hour)
	_ = nodeB.Sync(t.Context())
	check(nodeB, "jti-1", "sid-1", "alice", iat, false)
}

func TestRunFollowsTheFeed(t *testing.T) {
	st := openStore(t)
	writer := New(Config{Store: st})
	reader := New(Config{Store: st, PollInterval: 20 * time.Millisecond})
	_ = reader.Sync(t.Context())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go reader.Run(ctx)
	if err := writer.Revoke(t.Context(), store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, _ := reader.IsRevoked(t.Context(), "j", "", "", time.Now()); r {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower never saw the revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failingStore fails every call, to show checks fail closed.
type failingStore struct{ Store }

var errDown = errors.New("store down")

func (failingStore) IsRevoked(context.Context, string, string, string, time.Time, time.Time) (bool, error) {
	return false, errDown
}

func (failingStore) RevocationsSince(context.Context, int64, time.Time, int) ([]store.Revocation, error) {
	return nil, errDown
}

func (failingStore) AddRevocations(context.Context, []store.Revocation, time.Time) ([]store.Revocation, error) {
	return nil, errDown
}

func TestFailsClosed(t *testing.T) {
	st := openStore(t)
	c := &clock{t: time.Now()}
	l := New(Config{Store: st, Now: c.now, StaleAfter: time.Second})
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.cfg.Store = failingStore{}
	// Fresh copy: answers from memory.
	if r, err := l.IsRevoked(t.Context(), "x", "", "", c.now()); r || err != nil {
		t.Fatalf("fresh copy: %v %v", r, err)
	}
	// Stale copy and the store down: an error, never "not revoked".
	c.add(2 * time.Second)
	if _, err := l.IsRevoked(t.Context(), "x", "", "", c.now()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stale copy with the store down: %v, want ErrUnavailable", err)
	}
	if l.Healthy() {
		t.Fatal("Healthy with a stale copy")
	}
	// A revocation that cannot be recorded is an error.
	if err := l.Revoke(t.Context(), store.Revocation{Kind: store.RevokeJTI, Value: "y", ExpiresAt: c.now().Add(time.Hour)}); err == nil {
		t.Fatal("Revoke succeeded with the store down")
	}
}

// TestRedisMirror: entries written on one node and entries followed from
// the feed on another both land in Redis with their expiry, where the SDK
// reads them.
func TestRedisMirror(t *testing.T) {
	addr := testsvc.RedisAddr(t)
	mirror, err := NewRedisMirror("redis://"+addr+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mirror.Close) // after the lists stop (cleanups run last first)
	st := openStore(t)
	writer := New(Config{Store: st, Mirror: mirror})
	follower := New(Config{Store: st, Mirror: mirror})
	runLists(t, writer, follower)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	exp := time.Now().Add(time.Minute)
	nb := SubjectNotBefore(time.Now())
	if err := writer.Revoke(t.Context(),
		store.Revocation{Kind: store.RevokeJTI, Value: "j-" + suffix, ExpiresAt: exp},
		store.Revocation{Kind: store.RevokeSubject, Value: "u-" + suffix, NotBefore: nb, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	// An entry written straight to the store (as a grant transaction does)
	// reaches Redis through a follower's Sync.
	if _, err := st.AddRevocations(t.Context(), []store.Revocation{{Kind: store.RevokeSID, Value: "s-" + suffix, ExpiresAt: exp}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := mirror.client
	want := map[string]string{
		RedisKey("jti", "j-"+suffix): "1",
		RedisKey("sid", "s-"+suffix): "1",
		RedisKey("sub", "u-"+suffix): strconv.FormatInt(nb.Unix(), 10),
	}
	eventually(t, "the entries reach Redis", func() bool { return len(missingKeys(t, c, slices.Collect(maps.Keys(want)))) == 0 })
	for key, want := range want {
		got, err := c.Do(t.Context(), c.B().Get().Key(key).Build()).ToString()
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, err, want)
		}
		ttl, err := c.Do(t.Context(), c.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil || ttl <= 0 || ttl > time.Minute.Milliseconds() {
			t.Errorf("%s: TTL %d ms, want the entry's expiry", key, ttl)
		}
		_ = c.Do(t.Context(), c.B().Del().Key(key).Build()).Error()
	}
}

// A lagging node mirroring an older version of a subject entry never moves
// Redis back: the later not-before and the later expiry stay.
func TestRedisMirrorNeverMovesBack(t *testing.T) {
	mirror, err := NewRedisMirror("redis://"+testsvc.RedisAddr(t)+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mirror.Close()
	sub := "u-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	now := time.Now()
	newer := store.Revocation{Kind: store.RevokeSubject, Value: sub, NotBefore: now.Truncate(time.Second).Add(time.Second), ExpiresAt: now.Add(time.Hour)}
	older := store.Revocation{Kind: store.RevokeSubject, Value: sub, NotBefore: now.Truncate(time.Second).Add(-time.Minute), ExpiresAt: now.Add(time.Minute)}
	for _, r := range []store.Revocation{newer, older} {
		if err := mirror.Put(t.Context(), []store.Revocation{r}); err != nil {
			t.Fatal(err)
		}
	}
	c := mirror.client
	got, err := c.Do(t.Context(), c.B().Get().Key(RedisKey("sub", sub)).Build()).ToString()
	if err != nil || got != strconv.FormatInt(newer.NotBefore.Unix(), 10) {
		t.Errorf("not-before = %q (%v), want the newer %d", got, err, newer.NotBefore.Unix())
	}
	ttl, err := c.Do(t.Context(), c.B().Pttl().Key(RedisKey("sub", sub)).Build()).AsInt64()
	if err != nil || ttl < int64(50*time.Minute/time.Millisecond) {
		t.Errorf("expiry moved back: %d ms left (%v)", ttl, err)
	}
}
