package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var deviceTests = []namedTest{
	{"DeviceCodeCreateGet", testDeviceCodeCreateGet},
	{"DeviceCodeDecide", testDeviceCodeDecide},
	{"DeviceCodePoll", testDeviceCodePoll},
	{"DeviceCodeRedeem", testDeviceCodeRedeem},
	{"DeviceCodeRedeemConcurrent", testDeviceCodeRedeemConcurrent},
	{"DeviceCodeEndsWithSessionAndUser", testDeviceCodeEndsWithSessionAndUser},
}

func deviceCode(hash, userCode, clientID string) store.DeviceCode {
	return store.DeviceCode{
		Hash: []byte(hash), UserCodeHash: []byte(userCode), ClientID: clientID,
		Scopes: []string{"openid", "offline_access"}, Audiences: []string{"https://api.example"},
		CreatedAt: base(), ExpiresAt: at(10 * time.Minute), Interval: 5 * time.Second,
	}
}

func mustCreateDevice(t *testing.T, s store.Store, d store.DeviceCode) {
	t.Helper()
	if err := s.CreateDeviceCode(t.Context(), d, d.CreatedAt); err != nil {
		t.Fatalf("CreateDeviceCode: %v", err)
	}
}

func testDeviceCodeCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := deviceCode("dc1", "UC1", "tv")
	mustCreateDevice(t, s, d)
	got, err := s.GetDeviceCodeByUserCode(ctx, d.UserCodeHash, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Hash) != "dc1" || got.ClientID != "tv" || got.Status != store.DevicePending ||
		got.Interval != d.Interval || !got.ExpiresAt.Equal(d.ExpiresAt.Truncate(time.Microsecond)) ||
		len(got.Scopes) != 2 || len(got.Audiences) != 1 || !got.LastPolledAt.IsZero() {
		t.Fatalf("GetDeviceCodeByUserCode = %+v", got)
	}
	// A live user code is unique; an expired one is replaced.
	if err := s.CreateDeviceCode(ctx, deviceCode("dc2", "UC1", "tv"), at(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second live code with one user code: %v, want ErrConflict", err)
	}
	if err := s.CreateDeviceCode(ctx, deviceCode("dc1", "UC9", "tv"), at(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate device code: %v, want ErrConflict", err)
	}
	if _, err := s.GetDeviceCodeByUserCode(ctx, d.UserCodeHash, d.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired code: %v, want ErrNotFound", err)
	}
	next := deviceCode("dc3", "UC1", "tv")
	next.CreatedAt, next.ExpiresAt = d.ExpiresAt, d.ExpiresAt.Add(10*time.Minute)
	if err := s.CreateDeviceCode(ctx, next, d.ExpiresAt); err != nil {
		t.Fatalf("reusing an expired code's user code: %v", err)
	}
	if got, err := s.GetDeviceCodeByUserCode(ctx, next.UserCodeHash, next.CreatedAt); err != nil || string(got.Hash) != "dc3" {
		t.Fatalf("user code now names %+v, %v", got, err)
	}
	if err := s.CreateDeviceCode(ctx, store.DeviceCode{Hash: []byte("x"), UserCodeHash: []byte("y"), ClientID: "tv",
		ExpiresAt: at(time.Minute)}, base()); err == nil {
		t.Fatal("a code without a poll interval was stored")
	}
}

func testDeviceCodeDecide(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := deviceCode("dc1", "UC1", "tv")
	mustCreateDevice(t, s, d)
	now := at(time.Minute)
	if err := s.DecideDeviceCode(ctx, []byte("nope"), true, "u1", "s1", base(), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("absent code: %v", err)
	}
	if err := s.DecideDeviceCode(ctx, d.UserCodeHash, true, "u1", "s1", base(), now); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetDeviceCodeByUserCode(ctx, d.UserCodeHash, now)
	if got.Status != store.DeviceApproved || got.UserID != "u1" || got.SessionID != "s1" || !got.DecidedAt.Equal(now.Truncate(time.Microsecond)) {
		t.Fatalf("approved code = %+v", got)
	}
	for _, approve := range []bool{true, false} {
		if err := s.DecideDeviceCode(ctx, d.UserCodeHash, approve, "u2", "s2", base(), now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second decision: %v, want ErrConflict", err)
		}
	}
	late := deviceCode("dc2", "UC2", "tv")
	mustCreateDevice(t, s, late)
	if err := s.DecideDeviceCode(ctx, late.UserCodeHash, true, "u1", "s1", base(), late.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("decision on an expired code: %v, want ErrNotFound", err)
	}
	if err := s.DecideDeviceCode(ctx, late.UserCodeHash, false, "u1", "s1", base(), now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDeviceCodeByUserCode(ctx, late.UserCodeHash, now); got.Status != store.DeviceDenied {
		t.Fatalf("denied code = %+v", got)
	}
}

func testDeviceCodePoll(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := deviceCode("dc1", "UC1", "tv")
	mustCreateDevice(t, s, d)
	if _, err := s.PollDeviceCode(ctx, d.Hash, "other", at(time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("poll by another client: %v, want ErrNotFound", err)
	}
	got, err := s.PollDeviceCode(ctx, d.Hash, "tv", at(time.Second))
	if err != nil || got.Status != store.DevicePending {
		t.Fatalf("first poll: %+v, %v", got, err)
	}
	// Sooner than the interval: slow_down, and the interval grows.
	got, err = s.PollDeviceCode(ctx, d.Hash, "tv", at(3*time.Second))
	if !errors.Is(err, store.ErrSlowDown) || got.Interval != d.Interval+store.SlowDownStep {
		t.Fatalf("fast poll: %+v, %v; want ErrSlowDown and interval %s", got, err, d.Interval+store.SlowDownStep)
	}
	// The new interval counts from the last poll.
	if _, err := s.PollDeviceCode(ctx, d.Hash, "tv", at(10*time.Second)); !errors.Is(err, store.ErrSlowDown) {
		t.Fatalf("poll 7 s later with a 10 s interval: %v, want ErrSlowDown", err)
	}
	if got, err := s.PollDeviceCode(ctx, d.Hash, "tv", at(26*time.Second)); err != nil || got.Interval != d.Interval+2*store.SlowDownStep {
		t.Fatalf("patient poll: %+v, %v", got, err)
	}
	// An approved code is answered at once, however fast the poll.
	if err := s.DecideDeviceCode(ctx, d.UserCodeHash, true, "u1", "s1", base(), at(27*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PollDeviceCode(ctx, d.Hash, "tv", at(27*time.Second)); err != nil || got.Status != store.DeviceApproved {
		t.Fatalf("poll of an approved code: %+v, %v", got, err)
	}
	if _, err := s.PollDeviceCode(ctx, d.Hash, "tv", d.ExpiresAt); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("poll of an expired code: %v, want ErrExpired", err)
	}
	if _, err := s.PollDeviceCode(ctx, []byte("nope"), "tv", at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("poll of an absent code: %v, want ErrNotFound", err)
	}
}

func testDeviceCodeRedeem(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := deviceCode("dc1", "UC1", "tv")
	mustCreateDevice(t, s, d)
	now := at(time.Minute)
	g := grant("g1", "tv", "u1", "s1")
	if _, err := s.RedeemDeviceCode(ctx, d.Hash, now, g, issue("rt1", "at1", at(20*time.Minute))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeeming a pending code: %v, want ErrNotFound", err)
	}
	if err := s.DecideDeviceCode(ctx, d.UserCodeHash, true, "u1", "s1", base(), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemDeviceCode(ctx, d.Hash, now, g, issue("rt1", "at1", at(20*time.Minute))); err != nil {
		t.Fatalf("redeem: %v", err)
	}
	if _, err := s.GetGrant(ctx, "g1"); err != nil {
		t.Fatalf("grant of the redemption: %v", err)
	}
	revs, err := s.RedeemDeviceCode(ctx, d.Hash, now, grant("g2", "tv", "u1", "s1"), issue("rt2", "at2", at(20*time.Minute)))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("second redemption: %v, want ErrReused", err)
	}
	if g, _ := s.GetGrant(ctx, "g1"); g.RevokedAt.IsZero() || len(revs) != 1 || revs[0].Value != "at1" {
		t.Fatalf("after reuse: grant %+v, revocations %+v", g, revs)
	}
	if _, err := s.GetGrant(ctx, "g2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the replay created a grant: %v", err)
	}

	late := deviceCode("dc2", "UC2", "tv")
	mustCreateDevice(t, s, late)
	if err := s.DecideDeviceCode(ctx, late.UserCodeHash, true, "u1", "s1", base(), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemDeviceCode(ctx, late.Hash, late.ExpiresAt, grant("g3", "tv", "u1", "s1"), issue("", "at3", at(time.Hour))); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("redeeming an expired code: %v, want ErrExpired", err)
	}
}

func testDeviceCodeRedeemConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := deviceCode("dc1", "UC1", "tv")
	mustCreateDevice(t, s, d)
	now := at(time.Minute)
	if err := s.DecideDeviceCode(ctx, d.UserCodeHash, true, "u1", "s1", base(), now); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			id := fmt.Sprint(i)
			_, err := s.RedeemDeviceCode(ctx, d.Hash, now, grant("g-"+id, "tv", "u1", "s1"), issue("rt-"+id, "at-"+id, at(20*time.Minute)))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrReused):
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent redemptions succeeded, want 1", wins.Load())
	}
}

func testDeviceCodeEndsWithSessionAndUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	for _, d := range []store.DeviceCode{deviceCode("dc1", "UC1", "tv"), deviceCode("dc2", "UC2", "tv")} {
		mustCreateDevice(t, s, d)
	}
	if err := s.DecideDeviceCode(ctx, []byte("UC1"), true, "u1", "s1", base(), now); err != nil {
		t.Fatal(err)
	}
	if err := s.DecideDeviceCode(ctx, []byte("UC2"), true, "u2", "s2", base(), now); err != nil {
		t.Fatal(err)
	}
	// Approved but not redeemed: the session's end takes the approval
	// with it, as it does the session's unused authorization codes.
	if _, err := s.EndSession(ctx, "s1", now, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemDeviceCode(ctx, []byte("dc1"), now, grant("g1", "tv", "u1", "s1"), issue("", "at1", at(time.Hour))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeeming after the approving session ended: %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeUserGrants(ctx, "u2", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemDeviceCode(ctx, []byte("dc2"), now, grant("g2", "tv", "u2", "s2"), issue("", "at2", at(time.Hour))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeeming after the user was signed out everywhere: %v, want ErrNotFound", err)
	}
	// Expired codes are pruned.
	mustCreateDevice(t, s, deviceCode("dc3", "UC3", "tv"))
	if _, err := s.PruneExpired(ctx, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PollDeviceCode(ctx, []byte("dc3"), "tv", at(time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired code after pruning: %v, want ErrNotFound", err)
	}
}
