// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a constructor for fresh, migrated,
// empty stores; the suite then checks the behaviour the store package
// documents, including the sentinel errors and the guarantees that only
// show under concurrency.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Run runs the suite. newStore must return an empty store that nobody else
// uses and arrange (with t.Cleanup) for it to be closed; each subtest calls it
// once. Close must tolerate a second call, because the suite also closes
// stores itself.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []namedTest{
		{"Ping", testPing},
		{"Close", testClose},
		{"CreateGet", testCreateGet},
		{"BytesRoundTrip", testBytesRoundTrip},
		{"TimesRoundTrip", testTimesRoundTrip},
		{"GetNotFound", testGetNotFound},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateSecondActive", testCreateSecondActive},
		{"ListEmpty", testListEmpty},
		{"ListOldestFirst", testListOldestFirst},
		{"Rotate", testRotate},
		{"RotateWithoutActive", testRotateWithoutActive},
		{"RotateDuplicateID", testRotateDuplicateID},
		{"Prune", testPrune},
		{"ConcurrentRotate", testConcurrentRotate},
		{"ConcurrentCreateSameID", testConcurrentCreateSameID},
		{"ConcurrentCreateActive", testConcurrentCreateActive},
		{"CanceledContext", testCanceledContext},
	}
	tests = append(tests, accountTests...)
	tests = append(tests, grantTests...)
	tests = append(tests, revocationTests...)
	tests = append(tests, rbacTests...)
	tests = append(tests, oneTimeTests...)
	tests = append(tests, nextKeyTests...)
	tests = append(tests, textTests...)
	tests = append(tests, deviceTests...)
	tests = append(tests, federationTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// namedTest is one subtest of the suite; it gets a fresh store.
type namedTest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// base is a fixed instant with sub-microsecond digits, so that every test
// also exercises truncation to the documented microsecond precision.
func base() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC) }

// concurrency is how many goroutines the race tests run; more than any pool
// limit a backend is likely to set, so some must wait for connections too.
const concurrency = 16

func key(id, alg string, state store.KeyState, createdAt time.Time) store.SigningKey {
	k := store.SigningKey{
		ID:            id,
		Algorithm:     alg,
		State:         state,
		PublicJWK:     []byte(fmt.Sprintf(`{"kty":"EC","crv":"P-256","kid":%q}`, id)),
		SealedPrivate: append([]byte{0x00, 0xff, 0x80, '\n'}, id...),
		CreatedAt:     createdAt,
	}
	if state == store.KeyRetired {
		k.RetiredAt = createdAt.Add(time.Hour)
		k.PublishUntil = createdAt.Add(2 * time.Hour)
	}
	return k
}

func mustCreate(t *testing.T, s store.Store, k store.SigningKey) {
	t.Helper()
	if err := s.CreateSigningKey(t.Context(), k); err != nil {
		t.Fatalf("CreateSigningKey(%q): %v", k.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.SigningKey {
	t.Helper()
	k, err := s.GetSigningKey(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSigningKey(%q): %v", id, err)
	}
	return k
}

func mustList(t *testing.T, s store.Store) []store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	return keys
}

// stored is what a backend must return for k: times truncated to the
// microsecond and in UTC.
func stored(k store.SigningKey) store.SigningKey {
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.Truncate(time.Microsecond).UTC()
	}
	k.CreatedAt = norm(k.CreatedAt)
	k.RetiredAt = norm(k.RetiredAt)
	k.PublishUntil = norm(k.PublishUntil)
	k.ActivateAt = norm(k.ActivateAt)
	return k
}

func assertKey(t *testing.T, got, want store.SigningKey) {
	t.Helper()
	want = stored(want)
	if got.ID != want.ID || got.Algorithm != want.Algorithm || got.State != want.State {
		t.Errorf("key = {ID:%q Algorithm:%q State:%q}, want {ID:%q Algorithm:%q State:%q}",
			got.ID, got.Algorithm, got.State, want.ID, want.Algorithm, want.State)
	}
	if !bytes.Equal(got.PublicJWK, want.PublicJWK) {
		t.Errorf("key %q PublicJWK = %x, want %x", want.ID, got.PublicJWK, want.PublicJWK)
	}
	if !bytes.Equal(got.SealedPrivate, want.SealedPrivate) {
		t.Errorf("key %q SealedPrivate = %x, want %x", want.ID, got.SealedPrivate, want.SealedPrivate)
	}
	assertTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	assertTime(t, want.ID+" RetiredAt", got.RetiredAt, want.RetiredAt)
	assertTime(t, want.ID+" PublishUntil", got.PublishUntil, want.PublishUntil)
	assertTime(t, want.ID+" ActivateAt", got.ActivateAt, want.ActivateAt)
}

func assertTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func ids(keys []store.SigningKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClose(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping after Close = nil, want an error")
	}
	_, err := s.GetSigningKey(t.Context(), "k1")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSigningKey after Close = %v, want an error other than ErrNotFound", err)
	}
}

func testCreateGet(t *testing.T, s store.Store) {
	active := key("es-1", "ES256", store.KeyActive, base())
	retired := key("rs-0", "RS256", store.KeyRetired, base().Add(-time.Hour))
	mustCreate(t, s, active)
	mustCreate(t, s, retired)
	assertKey(t, mustGet(t, s, active.ID), active)
	assertKey(t, mustGet(t, s, retired.ID), retired)
}

func testBytesRoundTrip(t *testing.T, s store.Store) {
	// Every byte value, NULs and invalid UTF-8 included, and a sealed blob
	// larger than any page or inline-storage threshold.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat(all, 256) // 64 KiB
	k := key("bytes", "EdDSA", store.KeyActive, base())
	k.PublicJWK = all
	k.SealedPrivate = big
	mustCreate(t, s, k)
	assertKey(t, mustGet(t, s, k.ID), k)
}

func testTimesRoundTrip(t *testing.T, s store.Store) {
	// A zone east of UTC with nanoseconds: the store must return the same
	// instant, truncated to the microsecond, in UTC.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := time.Date(2031, 6, 7, 8, 9, 10, 999999999, zone)
	k := key("times", "ES256", store.KeyRetired, at)
	k.RetiredAt = at.Add(time.Nanosecond)
	k.PublishUntil = at.Add(1500 * time.Nanosecond)
	mustCreate(t, s, k)
	got := mustGet(t, s, k.ID)
	assertKey(t, got, k)
	if want := at.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
	}

	// Zero times (an active key) stay zero.
	a := key("zero-times", "ES256", store.KeyActive, base())
	mustCreate(t, s, a)
	got = mustGet(t, s, a.ID)
	if !got.RetiredAt.IsZero() || !got.PublishUntil.IsZero() {
		t.Errorf("active key RetiredAt = %v, PublishUntil = %v, want zero times", got.RetiredAt, got.PublishUntil)
	}
}

func testGetNotFound(t *testing.T, s store.Store) {
	_, err := s.GetSigningKey(t.Context(), "missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSigningKey(missing) = %v, want ErrNotFound", err)
	}
}

func testCreateDuplicateID(t *testing.T, s store.Store) {
	orig := key("dup", "ES256", store.KeyRetired, base())
	mustCreate(t, s, orig)

	// Retired, other algorithm, other bytes: only the id collides.
	again := key("dup", "RS256", store.KeyRetired, base().Add(time.Minute))
	again.PublicJWK = []byte("other")
	if err := s.CreateSigningKey(t.Context(), again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSigningKey(duplicate id) = %v, want ErrConflict", err)
	}
	assertKey(t, mustGet(t, s, "dup"), orig)
}

func testCreateSecondActive(t *testing.T, s store.Store) {
	mustCreate(t, s, key("es-1", "ES256", store.KeyActive, base()))
	err := s.CreateSigningKey(t.Context(), key("es-2", "ES256", store.KeyActive, base().Add(time.Second)))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSigningKey(second active ES256) = %v, want ErrConflict", err)
	}
	if _, err := s.GetSigningKey(t.Context(), "es-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSigningKey(rejected key) = %v, want ErrNotFound", err)
	}
	// The rule is per algorithm and only for active keys.
	mustCreate(t, s, key("rs-1", "RS256", store.KeyActive, base()))
	mustCreate(t, s, key("es-0", "ES256", store.KeyRetired, base().Add(-time.Hour)))
	mustCreate(t, s, key("es-00", "ES256", store.KeyRetired, base().Add(-2*time.Hour)))
}

func testListEmpty(t *testing.T, s store.Store) {
	if keys := mustList(t, s); len(keys) != 0 {
		t.Fatalf("ListSigningKeys on an empty store = %v, want none", ids(keys))
	}
}

func testListOldestFirst(t *testing.T, s store.Store) {
	// Inserted out of order, and with ids that sort differently from their
	// creation times, so neither insertion order nor id order passes.
	want := []store.SigningKey{
		key("c", "RS256", store.KeyRetired, base().Add(-3*time.Hour)),
		key("a", "ES256", store.KeyRetired, base().Add(-2*time.Hour)),
		key("d", "ES256", store.KeyActive, base().Add(-time.Microsecond)),
		key("b", "RS256", store.KeyActive, base()),
	}
	for _, i := range []int{2, 0, 3, 1} {
		mustCreate(t, s, want[i])
	}
	got := mustList(t, s)
	if len(got) != len(want) {
		t.Fatalf("ListSigningKeys = %v, want %v", ids(got), ids(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("ListSigningKeys = %v, want %v (oldest first)", ids(got), ids(want))
		}
		assertKey(t, got[i], want[i])
	}
}

func testRotate(t *testing.T, s store.Store) {
	old := key("es-old", "ES256", store.KeyActive, base())
	other := key("rs-1", "RS256", store.KeyActive, base())
	mustCreate(t, s, old)
	mustCreate(t, s, other)

	next := key("es-new", "ES256", store.KeyActive, base().Add(24*time.Hour))
	publishUntil := next.CreatedAt.Add(time.Hour)
	if err := s.RotateSigningKey(t.Context(), next, publishUntil); err != nil {
		t.Fatalf("RotateSigningKey: %v", err)
	}

	wantOld := old
	wantOld.State = store.KeyRetired
	wantOld.RetiredAt = next.CreatedAt
	wantOld.PublishUntil = publishUntil
	assertKey(t, mustGet(t, s, old.ID), wantOld)
	assertKey(t, mustGet(t, s, next.ID), next)
	assertKey(t, mustGet(t, s, other.ID), other) // other algorithms untouched

	// next is stored as active whatever state the caller left in it.
	third := key("es-third", "ES256", "", base().Add(48*time.Hour))
	if err := s.RotateSigningKey(t.Context(), third, third.CreatedAt.Add(time.Hour)); err != nil {
		t.Fatalf("RotateSigningKey(state unset): %v", err)
	}
	if got := mustGet(t, s, third.ID); got.State != store.KeyActive {
		t.Errorf("rotated-in key state = %q, want %q", got.State, store.KeyActive)
	}
	if got := mustGet(t, s, next.ID); got.State != store.KeyRetired {
		t.Errorf("previous key state = %q, want %q", got.State, store.KeyRetired)
	}
}

func testRotateWithoutActive(t *testing.T, s store.Store) {
	retired := key("es-0", "ES256", store.KeyRetired, base().Add(-time.Hour))
	mustCreate(t, s, retired)
	next := key("es-1", "ES256", store.KeyActive, base())
	if err := s.RotateSigningKey(t.Context(), next, base().Add(time.Hour)); err != nil {
		t.Fatalf("RotateSigningKey with no active key: %v", err)
	}
	assertKey(t, mustGet(t, s, next.ID), next)
	assertKey(t, mustGet(t, s, retired.ID), retired) // already retired: untouched
}

func testRotateDuplicateID(t *testing.T, s store.Store) {
	active := key("es-1", "ES256", store.KeyActive, base())
	mustCreate(t, s, active)
	for _, dup := range []string{"es-1", "rs-0"} {
		if dup == "rs-0" {
			mustCreate(t, s, key("rs-0", "RS256", store.KeyRetired, base().Add(-time.Hour)))
		}
		next := key(dup, "ES256", store.KeyActive, base().Add(time.Hour))
		err := s.RotateSigningKey(t.Context(), next, base().Add(2*time.Hour))
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("RotateSigningKey(existing id %q) = %v, want ErrConflict", dup, err)
		}
		// Atomic: the failed insert must not leave the old key retired.
		assertKey(t, mustGet(t, s, active.ID), active)
	}
}

func testPrune(t *testing.T, s store.Store) {
	now := base()
	keys := []struct {
		k    store.SigningKey
		gone bool
	}{
		{retiredUntil("past", now.Add(-time.Hour)), true},
		{retiredUntil("now", now), true},
		{retiredUntil("now-sub-us", now.Add(-time.Nanosecond)), true},
		{retiredUntil("future", now.Add(time.Microsecond)), false},
		{retiredUntil("later", now.Add(time.Hour)), false},
		// Active keys are never pruned, however old.
		{key("ancient-active", "ES256", store.KeyActive, now.Add(-24*365*time.Hour)), false},
	}
	for _, c := range keys {
		mustCreate(t, s, c.k)
	}
	n, err := s.PruneSigningKeys(t.Context(), now)
	if err != nil {
		t.Fatalf("PruneSigningKeys: %v", err)
	}
	if n != 3 {
		t.Errorf("PruneSigningKeys = %d, want 3", n)
	}
	for _, c := range keys {
		_, err := s.GetSigningKey(t.Context(), c.k.ID)
		switch {
		case c.gone && !errors.Is(err, store.ErrNotFound):
			t.Errorf("after prune GetSigningKey(%q) = %v, want ErrNotFound", c.k.ID, err)
		case !c.gone && err != nil:
			t.Errorf("after prune GetSigningKey(%q) = %v, want the key kept", c.k.ID, err)
		}
	}
	if n, err := s.PruneSigningKeys(t.Context(), now); err != nil || n != 0 {
		t.Errorf("second PruneSigningKeys = %d, %v; want 0, nil", n, err)
	}
}

// retiredUntil returns a retired key that leaves the JWKS at publishUntil.
func retiredUntil(id string, publishUntil time.Time) store.SigningKey {
	k := key(id, "ES256", store.KeyRetired, publishUntil.Add(-48*time.Hour))
	k.RetiredAt = publishUntil.Add(-24 * time.Hour)
	k.PublishUntil = publishUntil
	return k
}

// runConcurrently runs fn(i) for i in [0, n) from n goroutines released at
// once, and returns their errors by index.
func runConcurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentRotate(t *testing.T, s store.Store) {
	initial := key("es-initial", "ES256", store.KeyActive, base())
	mustCreate(t, s, initial)
	other := key("rs-1", "RS256", store.KeyActive, base())
	mustCreate(t, s, other)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	next := make([]store.SigningKey, concurrency)
	for i := range next {
		next[i] = key(fmt.Sprintf("es-%02d", i), "ES256", store.KeyActive, base().Add(time.Duration(i+1)*time.Second))
	}
	errs := runConcurrently(concurrency, func(i int) error {
		return s.RotateSigningKey(ctx, next[i], next[i].CreatedAt.Add(time.Hour))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("RotateSigningKey(%q) = %v, want nil", next[i].ID, err)
		}
	}

	// Rotations must have run one after another: each retired exactly the
	// key its predecessor inserted, so every rotation's CreatedAt shows up
	// exactly once as some key's RetiredAt, and one key remains active.
	byID := map[string]store.SigningKey{}
	for _, k := range mustList(t, s) {
		byID[k.ID] = k
	}
	if len(byID) != concurrency+2 {
		t.Errorf("ListSigningKeys has %d keys, want %d", len(byID), concurrency+2)
	}
	retiredAt := map[int64]int{}
	var active []string
	for _, k := range append([]store.SigningKey{initial}, next...) {
		got, ok := byID[k.ID]
		switch {
		case !ok:
			t.Errorf("key %q missing after concurrent rotations", k.ID)
		case got.State == store.KeyActive:
			active = append(active, got.ID)
		default:
			retiredAt[got.RetiredAt.UnixMicro()]++
		}
	}
	if len(active) != 1 {
		t.Fatalf("active ES256 keys = %v, want exactly one", active)
	}
	for _, k := range next {
		if n := retiredAt[stored(k).CreatedAt.UnixMicro()]; n != 1 {
			t.Errorf("rotation to %q retired %d keys, want 1", k.ID, n)
		}
	}
	assertKey(t, byID[other.ID], other)
}

func testConcurrentCreateSameID(t *testing.T, s store.Store) {
	errs := runConcurrently(concurrency, func(i int) error {
		// Retired so that only the id can collide.
		return s.CreateSigningKey(t.Context(), key("same", "ES256", store.KeyRetired, base().Add(time.Duration(i)*time.Second)))
	})
	assertOneWinner(t, errs)
	if keys := mustList(t, s); len(keys) != 1 {
		t.Errorf("ListSigningKeys = %v, want one key", ids(keys))
	}
}

func testConcurrentCreateActive(t *testing.T, s store.Store) {
	errs := runConcurrently(concurrency, func(i int) error {
		return s.CreateSigningKey(t.Context(), key(fmt.Sprintf("es-%02d", i), "ES256", store.KeyActive, base()))
	})
	assertOneWinner(t, errs)
	if keys := mustList(t, s); len(keys) != 1 {
		t.Errorf("ListSigningKeys = %v, want one key", ids(keys))
	}
}

func assertOneWinner(t *testing.T, errs []error) {
	t.Helper()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("goroutine %d: CreateSigningKey = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent creates succeeded, want exactly 1", wins)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	existing := key("es-1", "ES256", store.KeyActive, base())
	mustCreate(t, s, existing)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"CreateSigningKey", func() error {
			return s.CreateSigningKey(ctx, key("rs-1", "RS256", store.KeyActive, base()))
		}},
		{"GetSigningKey", func() error { _, err := s.GetSigningKey(ctx, existing.ID); return err }},
		{"ListSigningKeys", func() error { _, err := s.ListSigningKeys(ctx); return err }},
		{"RotateSigningKey", func() error {
			return s.RotateSigningKey(ctx, key("es-2", "ES256", store.KeyActive, base().Add(time.Hour)), base())
		}},
		{"PruneSigningKeys", func() error { _, err := s.PruneSigningKeys(ctx, base().Add(time.Hour)); return err }},
	}
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context = %v, want an error wrapping context.Canceled", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s with a canceled context did not return within 10s", c.name)
		}
	}

	// Nothing the canceled calls attempted may have happened.
	keys := mustList(t, s)
	if len(keys) != 1 {
		t.Fatalf("ListSigningKeys = %v, want only %q", ids(keys), existing.ID)
	}
	assertKey(t, keys[0], existing)
}
