package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// revocationTests cover the revocation list, pruning and cancellation of
// every method added with the accounts and grants.
var revocationTests = []namedTest{
	{"AddRevocations", testAddRevocations},
	{"AddRevocationsInvalid", testAddRevocationsInvalid},
	{"RevocationsSince", testRevocationsSince},
	{"IsRevoked", testIsRevoked},
	{"ConcurrentRevocations", testConcurrentRevocations},
	{"PruneExpired", testPruneExpired},
	{"PruneBatch", testPruneBatch},
	{"PruneAudit", testPruneAudit},
	{"CanceledContextAccountsGrants", testCanceledContextAccountsGrants},
}

func mustAdd(t *testing.T, s store.Store, now time.Time, rs ...store.Revocation) []store.Revocation {
	t.Helper()
	out, err := s.AddRevocations(t.Context(), rs, now)
	if err != nil {
		t.Fatalf("AddRevocations: %v", err)
	}
	if len(out) != len(rs) {
		t.Fatalf("AddRevocations returned %d entries for %d", len(out), len(rs))
	}
	return out
}

func since(t *testing.T, s store.Store, seq int64, now time.Time, limit int) []store.Revocation {
	t.Helper()
	rs, err := s.RevocationsSince(t.Context(), seq, now, limit)
	if err != nil {
		t.Fatalf("RevocationsSince(%d): %v", seq, err)
	}
	return rs
}

func values(rs []store.Revocation) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Kind + ":" + r.Value
	}
	return out
}

func testAddRevocations(t *testing.T, s store.Store) {
	now := base()
	if out, err := s.AddRevocations(t.Context(), nil, now); err != nil || len(out) != 0 {
		t.Errorf("AddRevocations(none) = %v, %v", out, err)
	}
	in := []store.Revocation{
		{Kind: store.RevokeJTI, Value: "x", ExpiresAt: at(time.Hour)},
		{Kind: store.RevokeSID, Value: "x", ExpiresAt: at(2 * time.Hour)},
		{Kind: store.RevokeSubject, Value: "u1", NotBefore: at(-time.Minute), ExpiresAt: at(3 * time.Hour)},
		// Seq and CreatedAt are the store's to assign.
		{Kind: store.RevokeJTI, Value: "y", ExpiresAt: at(time.Hour), Seq: 999, CreatedAt: at(-time.Hour)},
	}
	out := mustAdd(t, s, now, in...)
	want := make([]store.Revocation, len(in))
	for i, r := range in {
		r.Seq, r.CreatedAt = out[i].Seq, now
		want[i] = r
	}
	assertEntries(t, "AddRevocations", out, want)
	assertEqual(t, "AddRevocations (in input order)", out, want)
	assertEqual(t, "RevocationsSince(0)", since(t, s, 0, now, 100), out)

	// Upserting an entry with earlier times keeps the later ones and the
	// original CreatedAt, and moves the entry to a new, higher Seq.
	later := at(time.Minute)
	up := mustAdd(t, s, later, store.Revocation{
		Kind: store.RevokeSubject, Value: "u1", NotBefore: at(-2 * time.Minute), ExpiresAt: at(time.Hour),
	})[0]
	wantUp := want[2]
	wantUp.Seq = up.Seq
	assertEqual(t, "upsert with earlier times", up, wantUp)
	if up.Seq <= out[len(out)-1].Seq {
		t.Errorf("upserted entry Seq %d not after %d", up.Seq, out[len(out)-1].Seq)
	}
	// With later times, the later times are taken.
	up2 := mustAdd(t, s, later, store.Revocation{
		Kind: store.RevokeSubject, Value: "u1", NotBefore: at(5 * time.Minute), ExpiresAt: at(4 * time.Hour),
	})[0]
	wantUp.Seq, wantUp.NotBefore, wantUp.ExpiresAt = up2.Seq, at(5*time.Minute), at(4*time.Hour)
	assertEqual(t, "upsert with later times", up2, wantUp)
	if up2.Seq <= up.Seq {
		t.Errorf("second upsert Seq %d not after %d", up2.Seq, up.Seq)
	}
	// ExpiresAt and NotBefore are kept independently of each other.
	up3 := mustAdd(t, s, later, store.Revocation{
		Kind: store.RevokeSubject, Value: "u1", NotBefore: at(6 * time.Minute), ExpiresAt: at(time.Hour),
	})[0]
	wantUp.Seq, wantUp.NotBefore = up3.Seq, at(6*time.Minute)
	assertEqual(t, "upsert with a later NotBefore only", up3, wantUp)

	// The list holds each (kind, value) once, at its latest Seq.
	got := since(t, s, 0, now, 100)
	assertEqual(t, "RevocationsSince after upserts", got, []store.Revocation{out[0], out[1], out[3], up3})
}

func testAddRevocationsInvalid(t *testing.T, s store.Store) {
	now := base()
	valid := store.Revocation{Kind: store.RevokeJTI, Value: "ok", ExpiresAt: at(time.Hour)}
	for name, bad := range map[string]store.Revocation{
		"unknown kind": {Kind: "email", Value: "x", ExpiresAt: at(time.Hour)},
		"empty kind":   {Value: "x", ExpiresAt: at(time.Hour)},
		"empty value":  {Kind: store.RevokeSID, ExpiresAt: at(time.Hour)},
		"no expiry":    {Kind: store.RevokeJTI, Value: "x"},
	} {
		if _, err := s.AddRevocations(t.Context(), []store.Revocation{valid, bad}, now); err == nil {
			t.Errorf("AddRevocations(%s) = nil error", name)
		}
	}
	if rs := since(t, s, 0, now, 100); len(rs) != 0 {
		t.Errorf("refused batches wrote %v", values(rs))
	}
}

func testRevocationsSince(t *testing.T, s store.Store) {
	now := base()
	out := mustAdd(t, s, now,
		store.Revocation{Kind: store.RevokeJTI, Value: "e1", ExpiresAt: at(time.Hour)},
		store.Revocation{Kind: store.RevokeJTI, Value: "expires-now", ExpiresAt: now},
		store.Revocation{Kind: store.RevokeSID, Value: "e3", ExpiresAt: at(2 * time.Hour)},
		store.Revocation{Kind: store.RevokeJTI, Value: "expired", ExpiresAt: at(-time.Hour)},
		store.Revocation{Kind: store.RevokeSubject, Value: "e5", ExpiresAt: at(time.Microsecond)},
		store.Revocation{Kind: store.RevokeJTI, Value: "e6", ExpiresAt: at(3 * time.Hour)},
	)
	live := []store.Revocation{out[0], out[2], out[4], out[5]}
	if rs := since(t, s, 0, now, 100); !equalValues(rs, live) {
		t.Errorf("RevocationsSince(0) = %v, want %v", values(rs), values(live))
	}
	assertEqual(t, "RevocationsSince(0)", since(t, s, 0, now, 100), live)

	// Paging by Seq.
	page1 := since(t, s, 0, now, 2)
	assertEqual(t, "page 1", page1, live[:2])
	page2 := since(t, s, page1[len(page1)-1].Seq, now, 2)
	assertEqual(t, "page 2", page2, live[2:])
	if rs := since(t, s, page2[len(page2)-1].Seq, now, 2); len(rs) != 0 {
		t.Errorf("page 3 = %v, want none", values(rs))
	}
	// From the middle of a gap (an expired entry's Seq).
	assertEqual(t, "RevocationsSince(expired entry's Seq)", since(t, s, out[3].Seq, now, 100), live[2:])
	// Later, fewer entries are unexpired.
	assertEqual(t, "RevocationsSince at a later now", since(t, s, 0, at(90*time.Minute), 100), []store.Revocation{out[2], out[5]})

	for _, limit := range []int{0, -1} {
		if _, err := s.RevocationsSince(t.Context(), 0, now, limit); err == nil {
			t.Errorf("RevocationsSince(limit %d) = nil error", limit)
		}
	}
}

func equalValues(a, b []store.Revocation) bool {
	va, vb := values(a), values(b)
	if len(va) != len(vb) {
		return false
	}
	for i := range va {
		if va[i] != vb[i] {
			return false
		}
	}
	return true
}

func testIsRevoked(t *testing.T, s store.Store) {
	now := base()
	notBefore := at(-10 * time.Minute)
	mustAdd(t, s, now,
		store.Revocation{Kind: store.RevokeJTI, Value: "j1", ExpiresAt: at(time.Hour)},
		store.Revocation{Kind: store.RevokeSID, Value: "s1", ExpiresAt: at(time.Hour)},
		store.Revocation{Kind: store.RevokeSubject, Value: "u1", NotBefore: notBefore, ExpiresAt: at(time.Hour)},
		store.Revocation{Kind: store.RevokeJTI, Value: "j-old", ExpiresAt: now},
		store.Revocation{Kind: store.RevokeSID, Value: "s-old", ExpiresAt: now},
		store.Revocation{Kind: store.RevokeSubject, Value: "u-old", NotBefore: at(time.Hour), ExpiresAt: now},
	)
	for _, c := range []struct {
		name          string
		jti, sid, sub string
		iat, now      time.Time
		want          bool
	}{
		{"jti", "j1", "", "", now, now, true},
		{"other jti", "j2", "s2", "u2", now, now, false},
		{"sid", "j2", "s1", "u2", now, now, true},
		{"empty sid", "j2", "", "u2", now, now, false},
		{"nothing", "", "", "", now, now, false},
		{"sub issued before NotBefore", "j2", "s2", "u1", notBefore.Add(-time.Microsecond), now, true},
		{"sub issued long before NotBefore", "j2", "s2", "u1", notBefore.Add(-24 * time.Hour), now, true},
		{"sub issued at NotBefore", "j2", "s2", "u1", notBefore, now, false},
		{"sub issued after NotBefore", "j2", "s2", "u1", notBefore.Add(time.Second), now, false},
		{"sub without iat", "j2", "s2", "u1", time.Time{}, now, true},
		{"other sub", "j2", "s2", "u2", notBefore.Add(-time.Hour), now, false},
		// Kinds do not cross: a jti entry "j1" does not revoke sid "j1".
		{"jti value as sid", "j2", "j1", "j1", notBefore.Add(-time.Hour), now, false},
		{"sid value as jti", "s1", "s2", "s1", notBefore.Add(-time.Hour), now, false},
		{"sub value as jti", "u1", "u1", "u2", notBefore.Add(-time.Hour), now, false},
		// Expired entries no longer count.
		{"jti expired now", "j-old", "", "", now, now, false},
		{"jti just before expiry", "j-old", "", "", now, now.Add(-time.Microsecond), true},
		{"sid expired", "", "s-old", "", now, now, false},
		{"sub expired", "", "", "u-old", at(-time.Hour), now, false},
		{"sub just before expiry", "", "", "u-old", at(-time.Hour), now.Add(-time.Microsecond), true},
		{"everything expired later", "j1", "s1", "u1", notBefore.Add(-time.Hour), at(time.Hour), false},
	} {
		got, err := s.IsRevoked(t.Context(), c.jti, c.sid, c.sub, c.iat, c.now)
		if err != nil || got != c.want {
			t.Errorf("IsRevoked(%s) = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// testConcurrentRevocations checks that Seqs are unique and follow commit
// order under concurrent writers of every kind: a follower polling
// RevocationsSince while they run must still see every entry exactly once.
func testConcurrentRevocations(t *testing.T, s store.Store) {
	const perWriter = 5
	now := base()
	atExp := at(time.Hour)
	// Half the writers revoke grants (each with perWriter access tokens),
	// half add entries directly.
	for w := 0; w < concurrency; w += 2 {
		id := fmt.Sprint("g", w)
		mustCreateGrant(t, s, grant(id, "web", "u1", ""), issue(id+"-rt0", fmt.Sprintf("w%02d-0", w), atExp))
		for i := 1; i < perWriter; i++ {
			mustRotate(t, s, fmt.Sprintf("%s-rt%d", id, i-1), now, 0,
				issue(fmt.Sprintf("%s-rt%d", id, i), fmt.Sprintf("w%02d-%d", w, i), atExp))
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	seen := map[string]int{}
	var (
		mu      sync.Mutex
		lastSeq int64
	)
	poll := func() error {
		for {
			rs, err := s.RevocationsSince(ctx, lastSeq, now, 7)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				return nil
			}
			mu.Lock()
			for _, r := range rs {
				if r.Seq <= lastSeq {
					t.Errorf("follower got Seq %d after %d", r.Seq, lastSeq)
				}
				lastSeq = r.Seq
				seen[r.Value]++
			}
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	followerDone := make(chan error, 1)
	go func() {
		for {
			if err := poll(); err != nil {
				followerDone <- err
				return
			}
			select {
			case <-stop:
				followerDone <- nil
				return
			default:
			}
		}
	}()

	written := make([][]store.Revocation, concurrency)
	errs := runConcurrently(concurrency, func(w int) error {
		var err error
		if w%2 == 0 {
			written[w], err = s.RevokeGrant(ctx, fmt.Sprint("g", w), now)
			return err
		}
		rs := make([]store.Revocation, perWriter)
		for i := range rs {
			rs[i] = store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("w%02d-%d", w, i), ExpiresAt: atExp}
		}
		written[w], err = s.AddRevocations(ctx, rs, now)
		return err
	})
	close(stop)
	if err := <-followerDone; err != nil {
		t.Fatalf("follower: %v", err)
	}
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	if err := poll(); err != nil { // what committed after the follower's last look
		t.Fatalf("final poll: %v", err)
	}

	bySeq := map[int64]string{}
	total := 0
	for w, rs := range written {
		if len(rs) != perWriter {
			t.Errorf("writer %d wrote %d entries, want %d", w, len(rs), perWriter)
		}
		for _, r := range rs {
			if prev, dup := bySeq[r.Seq]; dup {
				t.Errorf("Seq %d given to %s and %s", r.Seq, prev, r.Value)
			}
			bySeq[r.Seq] = r.Value
			total++
		}
	}
	for w := range concurrency {
		for i := range perWriter {
			v := fmt.Sprintf("w%02d-%d", w, i)
			if seen[v] != 1 {
				t.Errorf("follower saw %s %d times, want once", v, seen[v])
			}
		}
	}

	// Paging from the start returns each entry once, in Seq order.
	var paged []store.Revocation
	for seq := int64(0); ; {
		rs := since(t, s, seq, now, 7)
		if len(rs) == 0 {
			break
		}
		paged = append(paged, rs...)
		seq = rs[len(rs)-1].Seq
	}
	if len(paged) != total {
		t.Errorf("paged %d entries, want %d", len(paged), total)
	}
	for i, r := range paged {
		if i > 0 && r.Seq <= paged[i-1].Seq {
			t.Fatalf("paged Seqs not increasing: %d after %d", r.Seq, paged[i-1].Seq)
		}
		if bySeq[r.Seq] != r.Value {
			t.Errorf("paged Seq %d is %s, writers were given it for %q", r.Seq, r.Value, bySeq[r.Seq])
		}
	}
}

func testPruneExpired(t *testing.T, s store.Store) {
	pruneScenario(t, s, func(now time.Time) (int, error) { return s.PruneExpired(t.Context(), now) })
}

// testPruneBatch prunes the same rows as PruneExpired, one row per table
// and batch, batch after batch until one deletes nothing.
func testPruneBatch(t *testing.T, s store.Store) {
	pruneScenario(t, s, func(now time.Time) (int, error) {
		total := 0
		for range 100 {
			got, err := s.PruneBatch(t.Context(), now, time.Time{}, 1)
			if err != nil {
				return total, err
			}
			n := 0
			for table, k := range got {
				if k > 1 {
					t.Errorf("PruneBatch(limit 1) deleted %d rows of %s", k, table)
				}
				n += k
			}
			if n == 0 {
				return total, nil
			}
			total += n
		}
		return total, errors.New("PruneBatch never finished")
	})
	if _, err := s.PruneBatch(t.Context(), base(), time.Time{}, 0); err == nil {
		t.Error("PruneBatch with limit 0 = nil error")
	}
}

// testPruneAudit: PruneBatch deletes audit events older than the
// retention, oldest first, a batch at a time.
func testPruneAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		if _, err := s.AppendAuditEvent(ctx, store.AuditEvent{Time: at(time.Duration(i) * time.Hour), Type: "login_failed"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.PruneBatch(ctx, base(), at(3*time.Hour), 2)
	if err != nil || got["audit_events"] != 2 {
		t.Fatalf("first batch: %v, %v; want 2 audit events", got, err)
	}
	got, err = s.PruneBatch(ctx, base(), at(3*time.Hour), 2)
	if err != nil || got["audit_events"] != 1 {
		t.Fatalf("second batch: %v, %v; want 1 audit event", got, err)
	}
	es, err := s.ListAuditEvents(ctx, store.AuditQuery{Limit: 10})
	if err != nil || len(es) != 2 || !es[1].Time.Equal(at(3*time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("events left: %+v, %v", es, err)
	}
	if got, err := s.PruneBatch(ctx, base(), time.Time{}, 10); err != nil || got["audit_events"] != 0 {
		t.Fatalf("no retention: %v, %v", got, err)
	}
}

func pruneScenario(t *testing.T, s store.Store, prune func(now time.Time) (int, error)) {
	ctx := t.Context()
	now := base()
	long := at(time.Hour)

	// Revocations: two expired (one exactly now), one live by a microsecond.
	mustAdd(t, s, at(-2*time.Hour),
		store.Revocation{Kind: store.RevokeJTI, Value: "r-past", ExpiresAt: at(-time.Hour)},
		store.Revocation{Kind: store.RevokeJTI, Value: "r-now", ExpiresAt: now},
		store.Revocation{Kind: store.RevokeJTI, Value: "r-live", ExpiresAt: at(time.Microsecond)},
	)
	// Sessions: one expiring now, one live.
	mustCreateSession(t, s, session("s-now", "u1", at(-time.Hour), now))
	mustCreateSession(t, s, session("s-live", "u1", at(-time.Hour), at(time.Microsecond)))

	// gDead expires now. Its code (used, expired) and refresh token go
	// with it; its access token record has expired.
	cDead := authCode("c-dead", at(-5*time.Minute))
	mustCreateCode(t, s, cDead)
	gDead := grant("g-dead", "web", "u1", "")
	gDead.ExpiresAt = now
	if _, err := s.RedeemAuthCode(ctx, cDead.Hash, at(-6*time.Minute), gDead, issue("rt-dead", "at-dead", at(-time.Minute))); err != nil {
		t.Fatalf("RedeemAuthCode(c-dead): %v", err)
	}
	// gLive lives on. Its code (used, expired) and its first refresh token
	// (used, expired) stay for reuse detection; its first access token
	// record has expired, the second has not.
	cLive := authCode("c-live", at(-5*time.Minute))
	mustCreateCode(t, s, cLive)
	gLive := grant("g-live", "web", "u1", "")
	gLive.ExpiresAt = long
	rtA := issue("rt-a", "at-a", at(-time.Minute))
	rtA.RefreshToken.ExpiresAt = at(-2 * time.Minute)
	if _, err := s.RedeemAuthCode(ctx, cLive.Hash, at(-6*time.Minute), gLive, rtA); err != nil {
		t.Fatalf("RedeemAuthCode(c-live): %v", err)
	}
	mustRotate(t, s, "rt-a", at(-3*time.Minute), 0, issue("rt-b", "at-b", at(10*time.Minute)))
	// gLive2: an unused refresh token and an access token both expiring now.
	gLive2 := grant("g-live2", "web", "u1", "")
	gLive2.ExpiresAt = long
	rtC := issue("rt-c", "at-c", now)
	rtC.RefreshToken.ExpiresAt = now
	mustCreateGrant(t, s, gLive2, rtC)
	// Unused codes: one expiring now, one live.
	cNow := authCode("c-now", now)
	mustCreateCode(t, s, cNow)
	cFuture := authCode("c-future", at(time.Microsecond))
	mustCreateCode(t, s, cFuture)

	// Deleted: r-past, r-now; at-dead, at-a, at-c; g-dead; rt-dead, rt-c;
	// c-dead, c-now; s-now.
	const want = 11
	n, err := prune(now)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	if n != want {
		t.Errorf("prune = %d, want %d", n, want)
	}
	if n, err := prune(now); err != nil || n != 0 {
		t.Errorf("second prune = %d, %v; want 0, nil", n, err)
	}

	// Viewed from long before, only the rows kept remain.
	past := at(-24 * time.Hour)
	if rs := since(t, s, 0, past, 100); !equalValues(rs, []store.Revocation{{Kind: store.RevokeJTI, Value: "r-live"}}) {
		t.Errorf("revocations after prune = %v, want only r-live", values(rs))
	}
	_, err = s.GetSessionByTokenHash(ctx, []byte("token-s-now"), past)
	assertNotFound(t, "GetSessionByTokenHash(s-now)", err)
	if _, err := s.GetSessionByTokenHash(ctx, []byte("token-s-live"), past); err != nil {
		t.Errorf("GetSessionByTokenHash(s-live) = %v", err)
	}
	_, err = s.GetGrant(ctx, "g-dead")
	assertNotFound(t, "GetGrant(g-dead)", err)
	mustGetGrant(t, s, "g-live")
	mustGetGrant(t, s, "g-live2")
	for _, h := range []string{"rt-dead", "rt-c"} {
		_, _, err = s.GetRefreshToken(ctx, []byte(h))
		assertNotFound(t, "GetRefreshToken("+h+")", err)
	}
	mustGetRefresh(t, s, "rt-a")
	mustGetRefresh(t, s, "rt-b")
	for _, c := range []store.AuthCode{cDead, cNow} {
		_, err = s.GetAuthCode(ctx, c.Hash)
		assertNotFound(t, fmt.Sprintf("GetAuthCode(%q)", c.Hash), err)
	}
	mustGetCode(t, s, cLive.Hash)
	mustGetCode(t, s, cFuture.Hash)
	// Access token records: revoking from the past would cover every record
	// left, so only at-b may remain.
	revs, err := s.RevokeGrant(ctx, "g-live", past)
	if err != nil {
		t.Fatalf("RevokeGrant(g-live): %v", err)
	}
	if !equalValues(revs, []store.Revocation{{Kind: store.RevokeJTI, Value: "at-b"}}) {
		t.Errorf("access tokens of g-live after prune = %v, want only at-b", values(revs))
	}
	if revs, err := s.RevokeGrant(ctx, "g-live2", past); err != nil || len(revs) != 0 {
		t.Errorf("access tokens of g-live2 after prune = %v, %v; want none", values(revs), err)
	}
	// The kept code still detects reuse.
	if _, err := s.RedeemAuthCode(ctx, cLive.Hash, now, grant("g-x", "web", "u1", ""), issue("", "at-x", long)); !errors.Is(err, store.ErrReused) {
		t.Errorf("RedeemAuthCode(kept used code) = %v, want ErrReused", err)
	}
}

func testCanceledContextAccountsGrants(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("web"))
	mustCreateUser(t, s, fullUser("u1", "alice", "alice@example.com"))
	mustCreateSession(t, s, session("sid-1", "u1", base(), at(time.Hour)))
	if err := s.SaveConsent(t.Context(), store.Consent{UserID: "u1", ClientID: "web"}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	code := authCode("c1", at(time.Minute))
	mustCreateCode(t, s, code)
	mustCreateGrant(t, s, grant("g1", "web", "u1", "sid-1"), issue("rt1", "at1", at(time.Hour)))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	now := base()
	fnCalled := false
	keepClient := func(c store.Client) (store.Client, error) { fnCalled = true; return c, nil }
	keepUser := func(u store.User) (store.User, error) { fnCalled = true; return u, nil }
	jti := store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: at(time.Hour)}
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateClient", func() error { return s.CreateClient(ctx, fullClient("new")) }},
		{"GetClient", func() error { _, err := s.GetClient(ctx, "web"); return err }},
		{"ListClients", func() error { _, err := s.ListClients(ctx); return err }},
		{"UpdateClient", func() error { _, err := s.UpdateClient(ctx, "web", keepClient); return err }},
		{"DeleteClient", func() error { return s.DeleteClient(ctx, "web") }},
		{"CreateUser", func() error { return s.CreateUser(ctx, fullUser("u2", "bob", "")) }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, "u1"); return err }},
		{"GetUserByLogin", func() error { _, err := s.GetUserByLogin(ctx, "alice"); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx); return err }},
		{"UpdateUser", func() error { _, err := s.UpdateUser(ctx, "u1", keepUser); return err }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "u1") }},
		{"CreateSession", func() error { return s.CreateSession(ctx, session("sid-2", "u1", now, at(time.Hour))) }},
		{"GetSessionByTokenHash", func() error { _, err := s.GetSessionByTokenHash(ctx, []byte("token-sid-1"), now); return err }},
		{"ListUserSessions", func() error { _, err := s.ListUserSessions(ctx, "u1", now); return err }},
		{"GetConsent", func() error { _, err := s.GetConsent(ctx, "u1", "web"); return err }},
		{"SaveConsent", func() error { return s.SaveConsent(ctx, store.Consent{UserID: "u2", ClientID: "web"}) }},
		{"DeleteConsent", func() error { return s.DeleteConsent(ctx, "u1", "web") }},
		{"AppendAuditEvent", func() error { _, err := s.AppendAuditEvent(ctx, store.AuditEvent{Type: "x"}); return err }},
		{"ListAuditEvents", func() error { _, err := s.ListAuditEvents(ctx, store.AuditQuery{}); return err }},
		{"CreateAuthCode", func() error { return s.CreateAuthCode(ctx, authCode("c2", at(time.Minute))) }},
		{"GetAuthCode", func() error { _, err := s.GetAuthCode(ctx, code.Hash); return err }},
		{"RedeemAuthCode", func() error {
			_, err := s.RedeemAuthCode(ctx, code.Hash, now, grant("g2", "web", "u1", ""), issue("rt2", "at2", at(time.Hour)))
			return err
		}},
		{"CreateGrant", func() error {
			return s.CreateGrant(ctx, grant("g3", "web", "u1", ""), issue("rt3", "at3", at(time.Hour)))
		}},
		{"GetGrant", func() error { _, err := s.GetGrant(ctx, "g1"); return err }},
		{"GetRefreshToken", func() error { _, _, err := s.GetRefreshToken(ctx, []byte("rt1")); return err }},
		{"RotateRefreshToken", func() error {
			_, _, err := s.RotateRefreshToken(ctx, []byte("rt1"), now, 0, issue("rt4", "at4", at(time.Hour)))
			return err
		}},
		{"RevokeGrant", func() error { _, err := s.RevokeGrant(ctx, "g1", now); return err }},
		{"EndSession", func() error { _, err := s.EndSession(ctx, "sid-1", now, at(time.Hour)); return err }},
		{"AddRevocations", func() error { _, err := s.AddRevocations(ctx, []store.Revocation{jti}, now); return err }},
		{"RevocationsSince", func() error { _, err := s.RevocationsSince(ctx, 0, now, 10); return err }},
		{"IsRevoked", func() error { _, err := s.IsRevoked(ctx, "j", "s", "u", now, now); return err }},
		{"PruneExpired", func() error { _, err := s.PruneExpired(ctx, at(24*time.Hour)); return err }},
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
	if fnCalled {
		t.Error("an update function ran under a canceled context")
	}

	// Nothing the canceled calls attempted may have happened.
	mustGetClient(t, s, "web")
	if _, err := s.GetClient(t.Context(), "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(new) = %v, want ErrNotFound", err)
	}
	mustGetUser(t, s, "u1")
	if _, err := s.GetSessionByTokenHash(t.Context(), []byte("token-sid-1"), now); err != nil {
		t.Errorf("session after canceled calls: %v", err)
	}
	if c := mustGetCode(t, s, code.Hash); !c.UsedAt.IsZero() {
		t.Error("canceled RedeemAuthCode used the code")
	}
	if rt, g := mustGetRefresh(t, s, "rt1"); !rt.UsedAt.IsZero() || !g.RevokedAt.IsZero() {
		t.Error("canceled calls used the refresh token or revoked the grant")
	}
	if rs := since(t, s, 0, now, 10); len(rs) != 0 {
		t.Errorf("canceled calls wrote revocations %v", values(rs))
	}
	if es := listAudit(t, s, store.AuditQuery{}); len(es) != 0 {
		t.Errorf("canceled AppendAuditEvent wrote %d events", len(es))
	}
}
