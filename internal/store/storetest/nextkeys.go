package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var nextKeyTests = []namedTest{
	{"NextKeyCreate", testNextKeyCreate},
	{"NextKeyActivate", testNextKeyActivate},
	{"NextKeyActivateConcurrent", testNextKeyActivateConcurrent},
	{"RotateRetiresNextKey", testRotateRetiresNextKey},
}

func nextKey(id, alg string, createdAt, activateAt time.Time) store.SigningKey {
	k := key(id, alg, store.KeyNext, createdAt)
	k.ActivateAt = activateAt
	return k
}

func testNextKeyCreate(t *testing.T, s store.Store) {
	active := key("es-1", "ES256", store.KeyActive, base())
	next := nextKey("es-2", "ES256", base().Add(time.Hour), base().Add(2*time.Hour))
	mustCreate(t, s, active)
	mustCreate(t, s, next)
	assertKey(t, mustGet(t, s, next.ID), next)
	// One next key per algorithm; other algorithms are independent.
	if err := s.CreateSigningKey(t.Context(), nextKey("es-3", "ES256", base(), base())); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second next ES256 key: got %v, want ErrConflict", err)
	}
	mustCreate(t, s, nextKey("rs-2", "RS256", base(), base().Add(time.Hour)))
}

func testNextKeyActivate(t *testing.T, s store.Store) {
	ctx := t.Context()
	active := key("es-1", "ES256", store.KeyActive, base())
	other := key("rs-1", "RS256", store.KeyActive, base())
	next := nextKey("es-2", "ES256", base().Add(time.Hour), base().Add(2*time.Hour))
	mustCreate(t, s, active)
	mustCreate(t, s, other)
	mustCreate(t, s, next)

	publishUntil := next.ActivateAt.Add(time.Hour)
	if err := s.ActivateSigningKey(ctx, next.ID, publishUntil); err != nil {
		t.Fatalf("ActivateSigningKey: %v", err)
	}
	wantOld := active
	wantOld.State, wantOld.RetiredAt, wantOld.PublishUntil = store.KeyRetired, next.ActivateAt, publishUntil
	assertKey(t, mustGet(t, s, active.ID), wantOld)
	wantNext := next
	wantNext.State = store.KeyActive
	assertKey(t, mustGet(t, s, next.ID), wantNext)
	assertKey(t, mustGet(t, s, other.ID), other)

	// Again (another node, later): nothing changes.
	if err := s.ActivateSigningKey(ctx, next.ID, publishUntil.Add(time.Hour)); err != nil {
		t.Fatalf("activating an active key: %v", err)
	}
	assertKey(t, mustGet(t, s, active.ID), wantOld)
	assertKey(t, mustGet(t, s, next.ID), wantNext)

	for _, id := range []string{"missing", active.ID} {
		if err := s.ActivateSigningKey(ctx, id, publishUntil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ActivateSigningKey(%s): got %v, want ErrNotFound", id, err)
		}
	}
}

func testNextKeyActivateConcurrent(t *testing.T, s store.Store) {
	mustCreate(t, s, key("es-1", "ES256", store.KeyActive, base()))
	next := nextKey("es-2", "ES256", base().Add(time.Hour), base().Add(2*time.Hour))
	mustCreate(t, s, next)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			if err := s.ActivateSigningKey(t.Context(), next.ID, base().Add(3*time.Hour)); err != nil {
				t.Errorf("ActivateSigningKey: %v", err)
			}
		})
	}
	wg.Wait()
	active := 0
	for _, k := range mustList(t, s) {
		if k.State == store.KeyActive {
			active++
			if k.ID != next.ID {
				t.Errorf("active key %s, want %s", k.ID, next.ID)
			}
		}
	}
	if active != 1 {
		t.Errorf("%d active keys after concurrent activations, want 1", active)
	}
}

func testRotateRetiresNextKey(t *testing.T, s store.Store) {
	mustCreate(t, s, key("es-1", "ES256", store.KeyActive, base()))
	next := nextKey("es-2", "ES256", base().Add(time.Hour), base().Add(2*time.Hour))
	mustCreate(t, s, next)
	now := key("es-3", "ES256", store.KeyActive, base().Add(90*time.Minute))
	publishUntil := now.CreatedAt.Add(time.Hour)
	if err := s.RotateSigningKey(t.Context(), now, publishUntil); err != nil {
		t.Fatalf("RotateSigningKey: %v", err)
	}
	// The pending key must not activate over the emergency one later; it
	// stays published like any retired key.
	got := mustGet(t, s, next.ID)
	if got.State != store.KeyRetired || !got.PublishUntil.Equal(stored(store.SigningKey{PublishUntil: publishUntil}).PublishUntil) || !got.ActivateAt.IsZero() {
		t.Errorf("next key after an immediate rotation: %+v", got)
	}
	assertKey(t, mustGet(t, s, now.ID), now)
}
