package throttle

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLockGrowsAndIsNeverPermanent(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Policy{Free: 3, BaseLock: time.Second, MaxLock: 30 * time.Second, Forget: 10 * time.Minute}, c.now)
	for i := range 3 {
		l.Fail("k")
		if w := l.Wait("k"); w != 0 {
			t.Fatalf("locked after %d failures (free allowance 3): %s", i+1, w)
		}
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		l.Fail("k")
		if got := l.Wait("k"); got != w*time.Second && !(w == 30 && got == 30*time.Second) {
			t.Fatalf("failure %d beyond allowance: lock %s, want %s", i+1, got, w*time.Second)
		}
	}
	if l.Wait("other") != 0 {
		t.Fatal("an unrelated key is locked")
	}
	c.advance(31 * time.Second)
	if w := l.Wait("k"); w != 0 {
		t.Fatalf("still locked after the max lock passed: %s", w)
	}
	l.Succeed("k")
	l.Fail("k")
	if w := l.Wait("k"); w != 0 {
		t.Fatal("success did not reset the count")
	}
}

func TestForgetsOldFailures(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Policy{Free: 1, BaseLock: time.Second, MaxLock: time.Minute, Forget: time.Minute}, c.now)
	l.Fail("k")
	c.advance(2 * time.Minute)
	l.Fail("k")
	if w := l.Wait("k"); w != 0 {
		t.Fatalf("failures older than Forget still counted: %s", w)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l := New(Policy{Free: 1, BaseLock: time.Second, MaxLock: time.Minute, Forget: time.Hour, MaxKeys: 100}, nil)
	for i := range 1000 {
		l.Fail(fmt.Sprint(i))
	}
	if n := len(l.keys); n > 100 {
		t.Fatalf("%d keys kept, bound is 100", n)
	}
}
