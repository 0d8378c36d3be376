package secret

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPHCRoundTripAndBounds(t *testing.T) {
	p := OWASPArgon2()
	salt, key := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)
	s := EncodePHC(p, salt, key)
	if s != "$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI" {
		t.Fatalf("EncodePHC = %s", s)
	}
	gp, gs, gk, err := DecodePHC(s)
	if err != nil || gp != p || !bytes.Equal(gs, salt) || !bytes.Equal(gk, key) {
		t.Fatalf("DecodePHC = %v %x %x %v", gp, gs, gk, err)
	}
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=16$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=4194304,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=99,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=2,p=0$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=2,p=1$AQE$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgI",
		"$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI$",
	} {
		if _, _, _, err := DecodePHC(bad); !errors.Is(err, ErrBadPHC) {
			t.Errorf("DecodePHC(%q) = %v, want ErrBadPHC", bad, err)
		}
	}
}

// The hasher runs at most its concurrency of hashes at once, and a caller
// waiting for a slot gives up when its context ends.
func TestArgon2CapsConcurrency(t *testing.T) {
	h := NewArgon2(Argon2Params{MemoryKiB: 2048, Time: 1, Threads: 1}, 2)
	var inFlight, peak atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			// Observe the semaphore directly: len(slots) is the number of
			// hashes running.
			_ = h.acquire(context.Background())
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			inFlight.Add(-1)
			h.release()
		})
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Fatalf("%d hashes ran at once, cap is 2", peak.Load())
	}
	ctx, cancel := context.WithCancel(t.Context())
	_ = h.acquire(ctx)
	_ = h.acquire(ctx)
	cancel()
	if _, err := h.Hash(ctx, "correct horse battery"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with full slots and canceled ctx = %v", err)
	}
}

// A hash verifies its own secret only; a missing hash never matches; an
// unreadable one is ErrBadPHC.
func TestArgon2HashAndVerify(t *testing.T) {
	h := NewArgon2(Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	stored, err := h.Hash(t.Context(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for plain, want := range map[string]bool{"correct horse battery": true, "correct horse batterx": false, "": false} {
		if ok, err := h.Verify(t.Context(), plain, stored); ok != want || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want %v", plain, ok, err, want)
		}
	}
	if again, _ := h.Hash(t.Context(), "correct horse battery"); again == stored {
		t.Error("the same hash twice: the salt is not random")
	}
	if ok, err := h.Verify(t.Context(), "", ""); ok || err != nil {
		t.Errorf("Verify against no hash = %v, %v; want false, nil", ok, err)
	}
	if ok, err := h.Verify(t.Context(), "x", "plaintext"); ok || !errors.Is(err, ErrBadPHC) {
		t.Errorf("Verify against garbage = %v, %v; want ErrBadPHC", ok, err)
	}
}
