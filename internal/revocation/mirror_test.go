package revocation

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// runLists runs each list (feed follower and mirror loop) until the test
// ends.
func runLists(t *testing.T, ls ...*List) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { l.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// eventually waits up to 15 s (a liveness bound on a loaded machine) for
// cond, and returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%s: did not happen within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// missingKeys returns the keys Redis does not hold (all of them when it
// does not answer).
func missingKeys(t *testing.T, c rueidis.Client, keys []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	cmds := make(rueidis.Commands, 0, len(keys))
	for _, k := range keys {
		cmds = append(cmds, c.B().Exists().Key(k).Build())
	}
	var out []string
	for i, res := range c.DoMulti(ctx, cmds...) {
		if n, err := res.AsInt64(); err != nil || n != 1 {
			out = append(out, keys[i])
		}
	}
	return out
}

// privateRedis starts a Redis of the test's own, with a plain client and
// a mirror on it.
func privateRedis(t *testing.T) (*testsvc.RedisServer, rueidis.Client, *RedisMirror) {
	t.Helper()
	rs := testsvc.StartRedis(t)
	m, err := NewRedisMirror("redis://"+rs.Addr+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return rs, c, m
}

// entries returns a jti, a sid and a sub entry named after tag, live for
// an hour, with their Redis keys.
func entries(tag string) ([]store.Revocation, []string) {
	exp := time.Now().Add(time.Hour)
	rs := []store.Revocation{
		{Kind: store.RevokeJTI, Value: "j-" + tag, ExpiresAt: exp},
		{Kind: store.RevokeSID, Value: "s-" + tag, ExpiresAt: exp},
		{Kind: store.RevokeSubject, Value: "u-" + tag, NotBefore: SubjectNotBefore(time.Now()), ExpiresAt: exp},
	}
	keys := make([]string, 0, len(rs))
	for _, r := range rs {
		keys = append(keys, RedisKey(r.Kind, r.Value))
	}
	return rs, keys
}

// TestMirrorNeverHoldsRevokeOrFeed: with Redis down, Revoke returns as
// soon as the store has the entries, and a follower's Sync as soon as it
// has read the feed; neither waits for the mirror (issue 9, item 4).
func TestMirrorNeverHoldsRevokeOrFeed(t *testing.T) {
	rs, _, m := privateRedis(t)
	st := openStore(t)
	writer := New(Config{Store: st, Mirror: m})
	follower := New(Config{Store: st, Mirror: m})
	runLists(t, writer)
	rs.Stop()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	batch, _ := entries("down")
	start := time.Now()
	if err := writer.Revoke(ctx, batch...); err != nil {
		t.Fatalf("Revoke with Redis down: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Revoke with Redis down took %s", took)
	}
	start = time.Now()
	if err := follower.Sync(ctx); err != nil {
		t.Fatalf("Sync with Redis down: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Sync with Redis down took %s", took)
	}
	if r, err := follower.IsRevoked(ctx, "j-down", "", "", time.Now()); !r || err != nil {
		t.Errorf("the follower did not apply the entry: %v %v", r, err)
	}
}

// TestMirrorCopiesBackWhatRedisLost: the mirror loop copies every live
// entry back, and marks Redis synced, after Redis restarted empty, after
// a FLUSHALL, and after writes failed while it was down (issue 9, item 5).
func TestMirrorCopiesBackWhatRedisLost(t *testing.T) {
	rs, c, m := privateRedis(t)
	st := openStore(t)
	l := New(Config{Store: st, Mirror: m})
	runLists(t, l)
	first, keys := entries("first")
	if err := l.Revoke(t.Context(), first...); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, RedisSyncedKey)
	eventually(t, "entries and the synced mark reach Redis", func() bool { return len(missingKeys(t, c, keys)) == 0 })
	before, err := m.Status(t.Context())
	if err != nil || !before.Synced || before.Instance == "" {
		t.Fatalf("Status: %+v %v; want synced, with the run_id", before, err)
	}

	// Restarted empty, with a revocation made while it was down.
	rs.Stop()
	during, more := entries("during")
	if err := l.Revoke(t.Context(), during...); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, more...)
	rs.Start()
	took := eventually(t, "every entry back after a restart", func() bool { return len(missingKeys(t, c, keys)) == 0 })
	t.Logf("restart without persistence: every entry back %s after Redis answered", took.Round(time.Millisecond))
	if after, err := m.Status(t.Context()); err != nil || after.Instance == before.Instance {
		t.Errorf("Status after a restart: %+v %v; want a new instance than %q", after, err, before.Instance)
	}

	// Flushed without a restart: only the missing mark tells. (A fresh
	// client: c's connections may be the ones the restart broke, and
	// FLUSHALL is not retried.)
	fc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if err := fc.Do(t.Context(), fc.B().Flushall().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, "every entry back after FLUSHALL", func() bool { return len(missingKeys(t, c, keys)) == 0 })
	t.Logf("FLUSHALL: every entry back %s after it", took.Round(time.Millisecond))
}

// TestMirrorConnectsWhenRedisComesUp: a mirror built while Redis is down
// is not an error; it reports Redis unreachable, and the mirror loop
// connects once Redis is up and copies what was written meanwhile (issue
// 9, item 6).
func TestMirrorConnectsWhenRedisComesUp(t *testing.T) {
	rs := testsvc.StartRedis(t)
	rs.Stop()
	m, err := NewRedisMirror("redis://"+rs.Addr+"/0", nil)
	if err != nil {
		t.Fatalf("NewRedisMirror with Redis down: %v", err)
	}
	t.Cleanup(m.Close)
	if err := m.Ping(t.Context()); err == nil {
		t.Fatal("Ping succeeded with Redis down")
	}
	l := New(Config{Store: openStore(t), Mirror: m})
	runLists(t, l)
	batch, keys := entries("later")
	if err := l.Revoke(t.Context(), batch...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a few failed attempts, so the backoff grows
	rs.Start()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	keys = append(keys, RedisSyncedKey)
	took := eventually(t, "the mirror connects and copies the entries", func() bool { return len(missingKeys(t, c, keys)) == 0 })
	t.Logf("Redis up -> connected and entries copied in %s", took.Round(time.Millisecond))
	if err := m.Ping(t.Context()); err != nil {
		t.Errorf("Ping once connected: %v", err)
	}
}

// A copy during which Redis lost its data does not mark it synced: the
// mark would vouch for entries written before the loss.
func TestMirrorCopyNotMarkedAfterLoss(t *testing.T) {
	_, c, m := privateRedis(t)
	token, err := m.BeginCopy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(t.Context(), c.B().Flushall().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if marked, err := m.EndCopy(t.Context(), token); err != nil || marked {
		t.Fatalf("EndCopy after a FLUSHALL: marked %v, %v; want not marked", marked, err)
	}
	if st, err := m.Status(t.Context()); err != nil || st.Synced {
		t.Fatalf("Status: %+v %v; want not synced", st, err)
	}
	token, err = m.BeginCopy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if marked, err := m.EndCopy(t.Context(), token); err != nil || !marked {
		t.Fatalf("EndCopy of an undisturbed copy: marked %v, %v; want marked", marked, err)
	}
}

// The queue of entries waiting for the mirror is bounded: past
// mirrorQueueMax entries are dropped and flagged, so the loop copies the
// whole list instead.
func TestMirrorQueueIsBounded(t *testing.T) {
	rs, _, m := privateRedis(t)
	rs.Stop()
	l := New(Config{Store: openStore(t), Mirror: m})
	batch := make([]store.Revocation, 0, mirrorQueueMax)
	for i := range mirrorQueueMax {
		batch = append(batch, store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprint(i), ExpiresAt: time.Now().Add(time.Hour)})
	}
	l.mirror(batch, nil)
	l.mirror(batch[:1], nil)
	queued, _, overflow := l.queue.take()
	if len(queued) != mirrorQueueMax || !overflow {
		t.Fatalf("queued %d entries, overflow %v; want %d and an overflow", len(queued), overflow, mirrorQueueMax)
	}
	if queued, _, overflow := l.queue.take(); len(queued) != 0 || overflow {
		t.Fatalf("after take: %d entries, overflow %v", len(queued), overflow)
	}
}

// While the mirror works, Revoke returns only once its entries are in
// Redis: a client told its token is revoked can count on resource servers
// that read Redis knowing it.
func TestRevokeWaitsForAWorkingMirror(t *testing.T) {
	_, c, m := privateRedis(t)
	l := New(Config{Store: openStore(t), Mirror: m})
	runLists(t, l)
	eventually(t, "the mirror loop's first copy", l.mirrorOK.Load)
	for i := range 20 {
		batch, keys := entries(fmt.Sprint("now-", i))
		if err := l.Revoke(t.Context(), batch...); err != nil {
			t.Fatal(err)
		}
		if missing := missingKeys(t, c, keys); len(missing) > 0 {
			t.Fatalf("right after Revoke, Redis lacks %v", missing)
		}
	}
}
