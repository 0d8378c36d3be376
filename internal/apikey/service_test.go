package apikey

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/throttle"
)

// TestKEY01_CreateReturnsKeyOnceListShowsMetadata: the plaintext comes back
// from Create only; Get, List and Verify return Key, which has no field for
// the hash or the key, and the store holds a hash that is not the key.
func TestKEY01_CreateReturnsKeyOnceListShowsMetadata(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	plain, k := f.create(t, CreateRequest{Name: "ci", Roles: []string{"deployer"}, Scopes: []string{"api:write"}, ExpiresIn: time.Hour})
	if !strings.HasPrefix(plain, "sk_"+k.Prefix) || len(k.Prefix) != PrefixLen {
		t.Fatalf("key %q does not start with sk_ + its prefix %q", plain, k.Prefix)
	}
	want := Key{ID: k.ID, Prefix: k.Prefix, Name: "ci", HashAlg: "argon2id", Roles: []string{"deployer"},
		Scopes: []string{"api:write"}, CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}
	got, err := f.svc.Get(t.Context(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]Key{"Create": k, "Get": got} {
		if !equalKeys(g, want) {
			t.Errorf("%s = %+v, want %+v", name, g, want)
		}
	}
	list, err := f.svc.List(t.Context())
	if err != nil || len(list) != 1 || !equalKeys(list[0], want) {
		t.Errorf("List = %+v, %v; want [%+v]", list, err, want)
	}
	rec, err := f.st.GetAPIKey(t.Context(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(rec.Hash), "$argon2id$") || strings.Contains(string(rec.Hash), plain[3:]) {
		t.Errorf("stored hash %q is not an argon2id hash of the key", rec.Hash)
	}
	if v := f.mustVerify(t, f.svc, plain); !equalKeys(v, want) {
		t.Errorf("Verify = %+v, want %+v", v, want)
	}
}

func equalKeys(a, b Key) bool {
	return a.ID == b.ID && a.Prefix == b.Prefix && a.Name == b.Name && a.HashAlg == b.HashAlg &&
		strings.Join(a.Roles, ",") == strings.Join(b.Roles, ",") && strings.Join(a.Scopes, ",") == strings.Join(b.Scopes, ",") &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.LastUsedAt.Equal(b.LastUsedAt) && a.RevokedAt.Equal(b.RevokedAt)
}

// TestKEY02_EveryFailureIsTheSameError: malformed, unknown prefix, wrong
// secret, expired and revoked keys all get exactly ErrInvalidKey.
func TestKEY02_EveryFailureIsTheSameError(t *testing.T) {
	for _, h := range []func() Hasher{
		func() Hasher { return cheapArgon2() },
		func() Hasher { hm, _ := NewHMACSHA256(testPepper()); return hm },
	} {
		f := newFixture(t, h())
		t.Run(f.hasher.Alg(), func(t *testing.T) {
			good, _ := f.create(t, CreateRequest{})
			expiring, _ := f.create(t, CreateRequest{ExpiresIn: time.Minute})
			revoked, rk := f.create(t, CreateRequest{})
			if err := f.svc.Revoke(t.Context(), rk.ID); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
			unknown, _ := generate()
			cases := map[string]string{
				"unknown prefix":                unknown,
				"wrong secret":                  good[:len(good)-5] + "AAAAA",
				"right secret, other prefix":    "sk_" + unknown[3:3+PrefixLen] + good[3+PrefixLen:],
				"expired":                       expiring,
				"revoked":                       revoked,
				"malformed":                     "sk_",
				"upper-case SK_":                "SK_" + good[3:],
				"key with surrounding space":    " " + good + " ",
				"truncated":                     good[:len(good)-1],
				"extended":                      good + "A",
				"prefix of a real key, no more": "sk_" + good[3:3+PrefixLen],
			}
			for name, key := range cases {
				mustFail(t, f.svc, key, name)
			}
			f.mustVerify(t, f.svc, good)
		})
	}
}

// TestKEY02_UnknownPrefixAndWrongSecretCostOneHash: both run exactly one
// hash verification, so they take about the same time; a malformed key
// runs none (its format is public).
func TestKEY02_UnknownPrefixAndWrongSecretCostOneHash(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	good, _ := f.create(t, CreateRequest{})
	unknown, _ := generate()
	for _, c := range []struct {
		name, key string
		hashes    int64
	}{
		{"unknown prefix", unknown, 1},
		{"wrong secret", good[:len(good)-4] + "AAAA", 1},
		{"malformed", "sk_short", 0},
		{"valid", good, 1},
		{"valid again (cached)", good, 0},
	} {
		before := f.hasher.verifies.Load()
		_, _ = f.svc.Verify(t.Context(), c.key, "192.0.2.9")
		if n := f.hasher.verifies.Load() - before; n != c.hashes {
			t.Errorf("%s: %d hash verifications, want %d", c.name, n, c.hashes)
		}
	}
}

// TestKEY02_ExpiredKeyFails: a key works until the instant of its expiry,
// and a cached success does not outlive it.
func TestKEY02_ExpiredKeyFails(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	plain, _ := f.create(t, CreateRequest{ExpiresIn: 10 * time.Second})
	f.clock.Advance(10*time.Second - 300*time.Millisecond)
	f.mustVerify(t, f.svc, plain) // cached until the expiry, not for a full second
	f.clock.Advance(300 * time.Millisecond)
	mustFail(t, f.svc, plain, "key at its expiry instant")
	f.clock.Advance(time.Hour)
	mustFail(t, f.svc, plain, "key an hour after expiry")
}

// TestKEY02_RevokeTakesEffectImmediatelyHereAndWithinTTLElsewhere: two
// services over one store stand for two nodes. The revoking node rejects
// the key at once although it had cached it; the other node, which had
// cached it too, rejects it once its entry (at most MaxCacheTTL old) ends.
func TestKEY02_RevokeTakesEffectImmediatelyHereAndWithinTTLElsewhere(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	nodeB := f.service(t)
	plain, k := f.create(t, CreateRequest{})
	f.mustVerify(t, f.svc, plain)
	f.clock.Advance(300 * time.Millisecond)
	f.mustVerify(t, nodeB, plain) // cached on B until +1.3 s

	if err := f.svc.Revoke(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	mustFail(t, f.svc, plain, "revoked key on the revoking node")

	f.clock.Advance(MaxCacheTTL - time.Nanosecond)
	// Still within B's cache entry: the documented bound, not a leak.
	f.mustVerify(t, nodeB, plain)
	f.clock.Advance(time.Nanosecond)
	mustFail(t, nodeB, plain, "revoked key on another node after MaxCacheTTL")

	// A node that had not cached it rejects it at once.
	mustFail(t, f.service(t), plain, "revoked key on a fresh node")
	got, err := f.svc.Get(t.Context(), k.ID)
	if err != nil || got.RevokedAt.IsZero() {
		t.Errorf("Get after Revoke = %+v, %v; want RevokedAt set", got, err)
	}
}

// blockingStore pauses GetAPIKeyByPrefix after its read until released.
type blockingStore struct {
	Store
	read, release chan struct{}
	once          sync.Once
}

func (b *blockingStore) GetAPIKeyByPrefix(ctx context.Context, p string) (store.APIKey, error) {
	k, err := b.Store.GetAPIKeyByPrefix(ctx, p)
	b.once.Do(func() {
		close(b.read)
		<-b.release
	})
	return k, err
}

// TestKEY02_RevokeDuringVerifyIsNotUndoneByCache: a verification that read
// the key before a local revocation may still answer (it started first),
// but must not cache the key past the revocation.
func TestKEY02_RevokeDuringVerifyIsNotUndoneByCache(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	plain, k := f.create(t, CreateRequest{})
	bs := &blockingStore{Store: f.st, read: make(chan struct{}), release: make(chan struct{})}
	svc, err := New(Config{Store: bs, Hasher: f.hasher, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := svc.Verify(context.Background(), plain, "192.0.2.1")
		done <- err
	}()
	<-bs.read
	if err := svc.Revoke(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight Verify = %v, want success (it read the key before the revocation)", err)
	}
	mustFail(t, svc, plain, "revoked key after an in-flight verification")
}

// TestRotateOverlap: Rotate returns a working new key with the same roles,
// scopes and lifetime; the old key works until now+overlap and not after,
// on this node and on another.
func TestRotateOverlap(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	nodeB := f.service(t)
	old, ok := f.create(t, CreateRequest{Name: "deploy", Roles: []string{"deployer", "reader"}, Scopes: []string{"a", "b"}, ExpiresIn: 30 * 24 * time.Hour})
	f.clock.Advance(time.Hour)
	f.mustVerify(t, nodeB, old) // cached on B with no early expiry

	next, nk, err := f.svc.Rotate(t.Context(), ok.ID, 10*time.Second)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if next == old || nk.ID == ok.ID || nk.Prefix == ok.Prefix {
		t.Fatal("Rotate returned the old key")
	}
	if nk.Name != "deploy" || strings.Join(nk.Roles, ",") != "deployer,reader" || strings.Join(nk.Scopes, ",") != "a,b" ||
		!nk.ExpiresAt.Equal(f.clock.Now().Add(30*24*time.Hour)) {
		t.Errorf("rotated key = %+v, want the old key's name, roles, scopes and lifetime", nk)
	}
	f.mustVerify(t, f.svc, next)
	f.mustVerify(t, f.svc, old)
	got, _ := f.svc.Get(t.Context(), ok.ID)
	if want := f.clock.Now().Add(10 * time.Second); !got.ExpiresAt.Equal(want) {
		t.Errorf("old key expires at %v, want %v", got.ExpiresAt, want)
	}

	f.clock.Advance(10*time.Second - time.Millisecond)
	f.mustVerify(t, f.svc, old)
	f.mustVerify(t, nodeB, old)
	f.clock.Advance(time.Millisecond)
	mustFail(t, f.svc, old, "old key at the end of the overlap")
	mustFail(t, nodeB, old, "old key at the end of the overlap on another node")
	f.mustVerify(t, f.svc, next)
	f.mustVerify(t, nodeB, next)

	// The old key cannot be rotated again once expired, nor a revoked key.
	if _, _, err := f.svc.Rotate(t.Context(), ok.ID, time.Minute); !errors.Is(err, store.ErrExpired) {
		t.Errorf("Rotate(expired key) = %v, want ErrExpired", err)
	}
	if err := f.svc.Revoke(t.Context(), nk.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Rotate(t.Context(), nk.ID, time.Minute); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("Rotate(revoked key) = %v, want ErrRevoked", err)
	}
	if _, _, err := f.svc.Rotate(t.Context(), "missing", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rotate(missing) = %v, want ErrNotFound", err)
	}
}

// TestRotateNeverExtends: a zero overlap ends the old key at once, and an
// overlap beyond the old key's own expiry does not extend it.
func TestRotateNeverExtends(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	a, ak := f.create(t, CreateRequest{})
	if _, _, err := f.svc.Rotate(t.Context(), ak.ID, 0); err != nil {
		t.Fatal(err)
	}
	mustFail(t, f.svc, a, "old key after a rotation without overlap")

	b, bk := f.create(t, CreateRequest{ExpiresIn: time.Minute})
	if _, _, err := f.svc.Rotate(t.Context(), bk.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	mustFail(t, f.svc, b, "old key past its own expiry after a long overlap")
	if _, _, err := f.svc.Rotate(t.Context(), bk.ID, -time.Second); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Rotate(negative overlap) = %v, want ErrInvalidRequest", err)
	}
}

// TestThrottle: failures lock the prefix and the client address with a
// Retry-After; other prefixes and addresses are unaffected; the lock ends
// by itself (no permanent lockout), and a cached valid key is unaffected.
func TestThrottle(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	pol := throttle.Policy{Free: 3, BaseLock: 2 * time.Second, MaxLock: time.Minute, Forget: time.Hour}
	svc, err := New(Config{Store: f.st, Hasher: f.hasher, Now: f.clock.Now,
		PrefixLimiter: throttle.New(pol, f.clock.Now), IPLimiter: throttle.New(pol, f.clock.Now)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	victim, _ := f.create(t, CreateRequest{})
	other, _ := f.create(t, CreateRequest{})
	wrong := victim[:len(victim)-4] + "AAAA"

	// Per prefix: wrong secrets from changing addresses.
	for i := range 4 {
		if _, err := svc.Verify(ctx, wrong, "198.51.100."+string(rune('1'+i))); err != ErrInvalidKey { //nolint:errorlint
			t.Fatalf("attempt %d = %v, want ErrInvalidKey", i, err)
		}
	}
	_, err = svc.Verify(ctx, victim, "203.0.113.7")
	var te *ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) || te.RetryAfter != 2*time.Second {
		t.Fatalf("Verify(locked prefix) = %v, want a ThrottledError with RetryAfter 2s", err)
	}
	if _, err := svc.Verify(ctx, other, "203.0.113.7"); err != nil {
		t.Errorf("another key from another address = %v, want success", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := svc.Verify(ctx, victim, "203.0.113.7"); err != nil {
		t.Errorf("after the lock, the right key = %v, want success", err)
	}

	// Per address: unknown keys and malformed input from one address.
	for range 4 {
		unknown, _ := generate()
		_, _ = svc.Verify(ctx, unknown, "192.0.2.66")
	}
	before := f.hasher.verifies.Load()
	if _, err := svc.Verify(ctx, other+"x", "192.0.2.66"); !errors.Is(err, ErrThrottled) {
		t.Errorf("Verify from a locked address = %v, want ErrThrottled", err)
	}
	if f.hasher.verifies.Load() != before {
		t.Error("a throttled attempt ran a hash")
	}
	// The cache answers a key verified in the last second even from a
	// locked address: holding the whole key is proof enough.
	f.mustVerify(t, svc, other) // from another address, fills the cache
	if _, err := svc.Verify(ctx, other, "192.0.2.66"); err != nil {
		t.Errorf("cached key from a locked address = %v, want success", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := svc.Verify(ctx, other, "192.0.2.66"); err != nil {
		t.Errorf("after the lock, a valid key from the address = %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	for name, req := range map[string]CreateRequest{
		"no name":          {Name: ""},
		"control in name":  {Name: "a\nb"},
		"long name":        {Name: strings.Repeat("n", 201)},
		"unknown role":     {Name: "x", Roles: []string{"admin"}},
		"bad role name":    {Name: "x", Roles: []string{"Deployer"}},
		"duplicate role":   {Name: "x", Roles: []string{"reader", "reader"}},
		"space in scope":   {Name: "x", Scopes: []string{"a b"}},
		"empty scope":      {Name: "x", Scopes: []string{""}},
		"quote in scope":   {Name: "x", Scopes: []string{`a"`}},
		"negative expiry":  {Name: "x", ExpiresIn: -time.Second},
		"duplicate scopes": {Name: "x", Scopes: []string{"a", "a"}},
	} {
		if _, _, err := f.svc.Create(t.Context(), req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Create(%s) = %v, want ErrInvalidRequest", name, err)
		}
	}
	if list, _ := f.svc.List(t.Context()); len(list) != 0 {
		t.Errorf("refused creates stored %d keys", len(list))
	}
}

// collidingStore reports a prefix collision for the first n creates.
type collidingStore struct {
	Store
	n        int
	prefixes []string
}

func (c *collidingStore) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	c.prefixes = append(c.prefixes, k.Prefix)
	if len(c.prefixes) <= c.n {
		return store.ErrConflict
	}
	return c.Store.CreateAPIKey(ctx, k)
}

func TestCreateRetriesOnPrefixCollision(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	cs := &collidingStore{Store: f.st, n: 2}
	svc, _ := New(Config{Store: cs, Hasher: f.hasher, Now: f.clock.Now})
	plain, k, err := svc.Create(t.Context(), CreateRequest{Name: "x"})
	if err != nil {
		t.Fatalf("Create after 2 collisions = %v", err)
	}
	if len(cs.prefixes) != 3 || cs.prefixes[0] == cs.prefixes[2] || k.Prefix != cs.prefixes[2] {
		t.Errorf("attempted prefixes %v, want 3 different ones ending with %q", cs.prefixes, k.Prefix)
	}
	f.mustVerify(t, svc, plain)

	cs = &collidingStore{Store: f.st, n: 100}
	svc, _ = New(Config{Store: cs, Hasher: f.hasher, Now: f.clock.Now})
	if _, _, err := svc.Create(t.Context(), CreateRequest{Name: "x"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Create with endless collisions = %v, want ErrConflict", err)
	}
	if len(cs.prefixes) != maxCreateAttempts {
		t.Errorf("%d attempts, want %d", len(cs.prefixes), maxCreateAttempts)
	}
}

// TestHashModeChange: keys keep verifying with the algorithm they were
// stored under when the default changes, as long as a hasher for it is
// configured; without one the failure is an error, not ErrInvalidKey.
func TestHashModeChange(t *testing.T) {
	hm, _ := NewHMACSHA256(testPepper())
	f := newFixture(t, hm)
	plain, _ := f.create(t, CreateRequest{})

	argon := cheapArgon2()
	svc, _ := New(Config{Store: f.st, Hasher: argon, Verifiers: []Hasher{hm}, Now: f.clock.Now})
	f.mustVerify(t, svc, plain)
	newPlain, nk, err := svc.Create(t.Context(), CreateRequest{Name: "new"})
	if err != nil || nk.HashAlg != "argon2id" {
		t.Fatalf("Create = %+v, %v; want an argon2id key", nk, err)
	}
	f.mustVerify(t, svc, newPlain)

	noPepper, _ := New(Config{Store: f.st, Hasher: argon, Now: f.clock.Now})
	if _, err := noPepper.Verify(t.Context(), plain, "192.0.2.1"); err == nil || errors.Is(err, ErrInvalidKey) {
		t.Errorf("Verify(HMAC key without the pepper) = %v, want a configuration error", err)
	}
}

func TestNewRejectsLongCacheTTL(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	if _, err := New(Config{Store: f.st, Hasher: f.hasher, CacheTTL: MaxCacheTTL + time.Nanosecond}); err == nil {
		t.Error("New accepted a cache TTL above MaxCacheTTL")
	}
	if _, err := New(Config{Hasher: f.hasher}); err == nil {
		t.Error("New accepted a nil store")
	}
	// A disabled cache hashes on every call.
	svc, _ := New(Config{Store: f.st, Hasher: f.hasher, CacheTTL: -1, Now: f.clock.Now})
	plain, _ := f.create(t, CreateRequest{})
	before := f.hasher.verifies.Load()
	f.mustVerify(t, svc, plain)
	f.mustVerify(t, svc, plain)
	if n := f.hasher.verifies.Load() - before; n != 2 {
		t.Errorf("uncached service ran %d hashes for 2 verifications, want 2", n)
	}
}

// TestCacheIsBounded: the cache never holds more than its size, and what
// it returns cannot be changed through a previous answer.
func TestCacheIsBounded(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	svc, _ := New(Config{Store: f.st, Hasher: f.hasher, CacheSize: 3, Now: f.clock.Now})
	for range 6 {
		plain, _ := f.create(t, CreateRequest{Roles: []string{"reader"}})
		k := f.mustVerify(t, svc, plain)
		k.Roles[0] = "admin"
		if again := f.mustVerify(t, svc, plain); again.Roles[0] != "reader" {
			t.Fatalf("cached roles changed through a returned Key: %v", again.Roles)
		}
	}
	if n := len(svc.cache.entries); n > 3 {
		t.Errorf("cache holds %d entries, want at most 3", n)
	}
}

// KEY-01: listings show when a key was last used; a busy key writes that
// time at most once per TouchInterval.
func TestLastUsedIsRecorded(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	plain, k := f.create(t, CreateRequest{})
	lastUsed := func() time.Time {
		got, err := f.svc.Get(t.Context(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}
	waitFor := func(want time.Time) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !lastUsed().Equal(want); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("last used = %v, want %v", lastUsed(), want)
			}
		}
	}
	first := f.clock.Now()
	f.mustVerify(t, f.svc, plain)
	waitFor(first)
	f.clock.Advance(2 * time.Second) // past the success cache, within TouchInterval
	f.mustVerify(t, f.svc, plain)
	time.Sleep(50 * time.Millisecond)
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last used written again within TouchInterval: %v", got)
	}
	f.clock.Advance(TouchInterval)
	f.mustVerify(t, f.svc, plain)
	waitFor(f.clock.Now())
}

// Whoever knows a key's prefix (listings show it) cannot lock out a holder
// whose key verified recently: failures lock the prefix for everyone else,
// and the exemption ends after KnownGoodFor.
func TestKnownGoodKeyIsNotLockedOutByItsPrefix(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	pol := throttle.Policy{Free: 3, BaseLock: time.Minute, MaxLock: time.Hour, Forget: 2 * time.Hour}
	svc, err := New(Config{Store: f.st, Hasher: f.hasher, Now: f.clock.Now, CacheTTL: -1,
		PrefixLimiter: throttle.New(pol, f.clock.Now), IPLimiter: throttle.New(pol, f.clock.Now)})
	if err != nil {
		t.Fatal(err)
	}
	victim, _ := f.create(t, CreateRequest{})
	if _, err := svc.Verify(t.Context(), victim, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	wrong := victim[:len(victim)-4] + "AAAA"
	for i := range 6 {
		_, _ = svc.Verify(t.Context(), wrong, "198.51.100."+string(rune('1'+i)))
	}
	if _, err := svc.Verify(t.Context(), wrong, "198.51.100.99"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("the attacker is not throttled: %v", err)
	}
	if _, err := svc.Verify(t.Context(), victim, "203.0.113.7"); err != nil {
		t.Fatalf("the holder of a recently verified key is locked out: %v", err)
	}
	f.clock.Advance(KnownGoodFor + time.Second)
	for i := range 6 {
		_, _ = svc.Verify(t.Context(), wrong, "198.51.100."+string(rune('a'+i)))
	}
	if _, err := svc.Verify(t.Context(), victim, "203.0.113.7"); !errors.Is(err, ErrThrottled) {
		t.Errorf("past KnownGoodFor the exemption still holds: %v", err)
	}
}

// A flood of made-up keys costs a node at most its budget of hashes a
// second, whoever asks; keys in use keep working through it. Checks made
// for a resource server (no client address) never lock a prefix.
func TestNewKeyBudget(t *testing.T) {
	f := newFixture(t, cheapArgon2())
	svc, err := New(Config{Store: f.st, Hasher: f.hasher, Now: f.clock.Now, CacheTTL: -1, NewKeyRate: 5})
	if err != nil {
		t.Fatal(err)
	}
	inUse, _ := f.create(t, CreateRequest{})
	if _, err := svc.Verify(t.Context(), inUse, ""); err != nil {
		t.Fatal(err)
	}
	before := f.hasher.verifies.Load()
	throttled := 0
	for range 50 {
		unknown, _ := generate()
		if _, err := svc.Verify(t.Context(), unknown, ""); errors.Is(err, ErrThrottled) {
			throttled++
		}
	}
	if hashed := f.hasher.verifies.Load() - before; hashed > 10 || throttled < 40 {
		t.Errorf("50 made-up keys: %d hashed, %d throttled; want at most the burst (10) hashed", hashed, throttled)
	}
	if _, err := svc.Verify(t.Context(), inUse, ""); err != nil {
		t.Errorf("a key in use during the flood: %v", err)
	}
	f.clock.Advance(time.Second)
	unknown, _ := generate()
	if _, err := svc.Verify(t.Context(), unknown, ""); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("a second later the budget has refilled: %v", err)
	}

	// No prefix lock without a client address.
	victim, _ := f.create(t, CreateRequest{})
	wide, err := New(Config{Store: f.st, Hasher: f.hasher, Now: f.clock.Now, CacheTTL: -1, NewKeyRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		_, _ = wide.Verify(t.Context(), victim[:len(victim)-4]+"AAAA", "")
	}
	if _, err := wide.Verify(t.Context(), victim, ""); err != nil {
		t.Errorf("after 30 wrong secrets through a resource server the key is refused: %v", err)
	}
}
