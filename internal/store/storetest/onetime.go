package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var oneTimeTests = []namedTest{
	{"UseOnce", testUseOnce},
	{"UseOnceConcurrent", testUseOnceConcurrent},
}

func testUseOnce(t *testing.T, s store.Store) {
	ctx, now := t.Context(), base()
	key, other := []byte("approval-1"), []byte("approval-2")
	if err := s.UseOnce(ctx, key, now.Add(time.Minute), now); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.UseOnce(ctx, key, now.Add(time.Minute), now.Add(time.Second)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second use before expiry: got %v, want ErrConflict", err)
	}
	if err := s.UseOnce(ctx, other, now.Add(time.Minute), now); err != nil {
		t.Fatalf("another key: %v", err)
	}
	// Once the first use has expired the key may be recorded again, and
	// that new use blocks in turn.
	later := now.Add(time.Minute)
	if err := s.UseOnce(ctx, key, later.Add(time.Minute), later); err != nil {
		t.Fatalf("use after expiry: %v", err)
	}
	if err := s.UseOnce(ctx, key, later.Add(time.Minute), later.Add(time.Second)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second use of the renewed key: got %v, want ErrConflict", err)
	}
	if err := s.UseOnce(ctx, nil, now.Add(time.Minute), now); err == nil {
		t.Fatal("empty key accepted")
	}
}

func testUseOnceConcurrent(t *testing.T, s store.Store) {
	ctx, now := t.Context(), base()
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			switch err := s.UseOnce(ctx, []byte("race"), now.Add(time.Minute), now); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("UseOnce: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != concurrency-1 {
		t.Fatalf("%d uses succeeded and %d conflicted, want 1 and %d", wins.Load(), conflicts.Load(), concurrency-1)
	}
}
