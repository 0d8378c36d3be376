package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// grantTests cover codes, grants, refresh tokens and the revocations their
// life cycle writes.
var grantTests = []namedTest{
	{"AuthCodeRoundTrip", testAuthCodeRoundTrip},
	{"RedeemAuthCode", testRedeemAuthCode},
	{"RedeemAuthCodeExpiry", testRedeemAuthCodeExpiry},
	{"RedeemAuthCodeAtomic", testRedeemAuthCodeAtomic},
	{"ConcurrentRedeemAuthCode", testConcurrentRedeemAuthCode},
	{"CreateGrant", testCreateGrant},
	{"RefreshRotateChain", testRotateChain},
	{"RefreshReuse", testRotateReuse},
	{"RefreshGrace", testRotateGrace},
	{"RefreshExpiry", testRotateExpiry},
	{"ConcurrentRefreshRotate", testConcurrentRotateRefresh},
	{"ConcurrentRefreshAndRevoke", testConcurrentRotateAndRevoke},
	{"ConcurrentRotationsFailAlone", testConcurrentRotationsFailAlone},
	{"RefreshRotateWithPlan", testRotateWithPlan},
	{"ConcurrentRefreshRotateWithPlan", testConcurrentRotateWithPlan},
	{"RevokeGrant", testRevokeGrant},
	{"RevokeUserGrants", testRevokeUserGrants},
	{"EndSession", testEndSession},
}

func authCode(hash string, expiresAt time.Time) store.AuthCode {
	return store.AuthCode{
		Hash:          append([]byte{0x00, 0xff}, hash...),
		ClientID:      "web",
		UserID:        "u1",
		SessionID:     "sid-1",
		RedirectURI:   "https://app.example/cb?x=1",
		Scopes:        []string{"openid", "offline_access"},
		Audiences:     []string{"https://api.example"},
		Nonce:         "n-0S6_WzA2Mj",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		AuthTime:      expiresAt.Add(-2 * time.Minute),
		CreatedAt:     expiresAt.Add(-time.Minute),
		ExpiresAt:     expiresAt,
	}
}

func grant(id, clientID, userID, sid string) store.Grant {
	return store.Grant{
		ID:        id,
		ClientID:  clientID,
		UserID:    userID,
		SessionID: sid,
		Scopes:    []string{"openid", "offline_access"},
		Audiences: []string{"https://api.example", "https://other.example"},
		AuthTime:  at(-time.Minute),
		CreatedAt: base(),
		ExpiresAt: at(30 * 24 * time.Hour),
	}
}

// issue is a token response: a refresh token with hash rt (none when rt is
// empty) expiring in a week, and an access token jti expiring at atExp.
func issue(rt, jti string, atExp time.Time) store.Issue {
	iss := store.Issue{AccessToken: store.IssuedAccessToken{JTI: jti, ExpiresAt: atExp}}
	if rt != "" {
		iss.RefreshToken = &store.RefreshToken{
			Hash:      []byte(rt),
			CreatedAt: atExp.Add(-15 * time.Minute),
			ExpiresAt: at(7 * 24 * time.Hour),
		}
	}
	return iss
}

func mustCreateCode(t *testing.T, s store.Store, c store.AuthCode) {
	t.Helper()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
}

func mustGetCode(t *testing.T, s store.Store, hash []byte) store.AuthCode {
	t.Helper()
	c, err := s.GetAuthCode(t.Context(), hash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	return c
}

func mustCreateGrant(t *testing.T, s store.Store, g store.Grant, iss store.Issue) {
	t.Helper()
	if err := s.CreateGrant(t.Context(), g, iss); err != nil {
		t.Fatalf("CreateGrant(%q): %v", g.ID, err)
	}
}

func mustGetGrant(t *testing.T, s store.Store, id string) store.Grant {
	t.Helper()
	g, err := s.GetGrant(t.Context(), id)
	if err != nil {
		t.Fatalf("GetGrant(%q): %v", id, err)
	}
	return g
}

func mustGetRefresh(t *testing.T, s store.Store, hash string) (store.RefreshToken, store.Grant) {
	t.Helper()
	rt, g, err := s.GetRefreshToken(t.Context(), []byte(hash))
	if err != nil {
		t.Fatalf("GetRefreshToken(%q): %v", hash, err)
	}
	return rt, g
}

func mustRotate(t *testing.T, s store.Store, hash string, now time.Time, grace time.Duration, iss store.Issue) store.Grant {
	t.Helper()
	g, revs, err := s.RotateRefreshToken(t.Context(), []byte(hash), now, grace, iss)
	if err != nil {
		t.Fatalf("RotateRefreshToken(%q) at %v: %v", hash, now, err)
	}
	if len(revs) != 0 {
		t.Errorf("successful RotateRefreshToken(%q) returned revocations %+v", hash, revs)
	}
	return g
}

func assertNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s = %v, want ErrNotFound", what, err)
	}
}

func assertRevokedAt(t *testing.T, s store.Store, id string, want time.Time) {
	t.Helper()
	assertTime(t, "grant "+id+" RevokedAt", mustGetGrant(t, s, id).RevokedAt, normTime(want))
}

// assertRevoked checks that a token with these claims (issued at base())
// is revoked at now.
func assertRevoked(t *testing.T, s store.Store, jti, sid, sub string, now time.Time) {
	t.Helper()
	revoked, err := s.IsRevoked(t.Context(), jti, sid, sub, base(), now)
	if err != nil || !revoked {
		t.Errorf("IsRevoked(jti %q, sid %q, sub %q) = %v, %v; want true", jti, sid, sub, revoked, err)
	}
}

func assertNotRevoked(t *testing.T, s store.Store, jti, sid, sub string, now time.Time) {
	t.Helper()
	revoked, err := s.IsRevoked(t.Context(), jti, sid, sub, base(), now)
	if err != nil || revoked {
		t.Errorf("IsRevoked(jti %q, sid %q, sub %q) = %v, %v; want false", jti, sid, sub, revoked, err)
	}
}

// jtiEntries is what revoking access tokens with these jtis and expiries
// writes at now, without Seq.
func jtiEntries(now time.Time, jtiExp ...any) []store.Revocation {
	if len(jtiExp)%2 != 0 {
		panic("jtiEntries: want (jti, expiry) pairs")
	}
	var out []store.Revocation
	for i := 0; i+1 < len(jtiExp); i += 2 {
		out = append(out, store.Revocation{
			Kind: store.RevokeJTI, Value: jtiExp[i].(string), ExpiresAt: jtiExp[i+1].(time.Time), CreatedAt: now,
		})
	}
	return out
}

// assertEntries checks the revocations a call returned: as wanted (in any
// order, Seqs ignored), each with a distinct positive Seq, in increasing
// Seq order.
func assertEntries(t *testing.T, what string, got, want []store.Revocation) {
	t.Helper()
	for i, r := range got {
		if r.Seq <= 0 || (i > 0 && r.Seq <= got[i-1].Seq) {
			t.Errorf("%s: Seqs not positive and increasing: %v", what, seqs(got))
			break
		}
	}
	key := func(r store.Revocation) string { return r.Kind + "\x00" + r.Value }
	noSeq := func(rs []store.Revocation) []store.Revocation {
		rs = slices.Clone(rs)
		for i := range rs {
			rs[i].Seq = 0
		}
		slices.SortFunc(rs, func(a, b store.Revocation) int {
			switch ka, kb := key(a), key(b); {
			case ka < kb:
				return -1
			case ka > kb:
				return 1
			}
			return 0
		})
		return rs
	}
	assertEqual(t, what, noSeq(got), noSeq(want))
}

func seqs(rs []store.Revocation) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func testAuthCodeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := authCode("c1", at(time.Minute))
	mustCreateCode(t, s, c)
	assertEqual(t, "GetAuthCode", mustGetCode(t, s, c.Hash), c)

	// Every field set, used included, and a code without PKCE or nonce.
	used := authCode("c2", at(time.Minute))
	used.UsedAt, used.GrantID = at(30*time.Second), "g1"
	used.CodeChallenge, used.Nonce, used.Audiences = "", "", nil
	mustCreateCode(t, s, used)
	assertEqual(t, "GetAuthCode(used)", mustGetCode(t, s, used.Hash), used)

	dup := authCode("c1", at(time.Hour))
	dup.ClientID = "other"
	if err := s.CreateAuthCode(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAuthCode(duplicate hash) = %v, want ErrConflict", err)
	}
	assertEqual(t, "GetAuthCode after duplicate", mustGetCode(t, s, c.Hash), c)
	_, err := s.GetAuthCode(ctx, []byte("missing"))
	assertNotFound(t, "GetAuthCode(missing)", err)
}

func testRedeemAuthCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	code := authCode("c1", at(time.Minute))
	mustCreateCode(t, s, code)
	now := at(10 * time.Second)
	g := grant("g1", "web", "u1", "sid-1")
	atExp := at(15 * time.Minute)
	iss := issue("rt1", "at1", atExp)
	revs, err := s.RedeemAuthCode(ctx, code.Hash, now, g, iss)
	if err != nil || len(revs) != 0 {
		t.Fatalf("RedeemAuthCode = %v, %v; want no revocations, nil", revs, err)
	}
	wantCode := code
	wantCode.UsedAt, wantCode.GrantID = now, g.ID
	assertEqual(t, "GetAuthCode after redemption", mustGetCode(t, s, code.Hash), wantCode)
	assertEqual(t, "GetGrant", mustGetGrant(t, s, g.ID), g)
	rt, rg := mustGetRefresh(t, s, "rt1")
	wantRT := *iss.RefreshToken
	wantRT.GrantID = g.ID
	assertEqual(t, "GetRefreshToken token", rt, wantRT)
	assertEqual(t, "GetRefreshToken grant", rg, g)
	assertNotRevoked(t, s, "at1", "", "", now)

	// A replay revokes the grant and its access token and creates nothing.
	replay := at(40 * time.Second)
	revs, err = s.RedeemAuthCode(ctx, code.Hash, replay, grant("g2", "web", "u1", "sid-1"), issue("rt2", "at2", atExp))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("second RedeemAuthCode = %v, want ErrReused", err)
	}
	assertEntries(t, "revocations of the replay", revs, jtiEntries(replay, "at1", atExp))
	assertRevokedAt(t, s, g.ID, replay)
	assertRevoked(t, s, "at1", "", "", replay)
	_, err = s.GetGrant(ctx, "g2")
	assertNotFound(t, "GetGrant(grant of the replay)", err)
	_, _, err = s.GetRefreshToken(ctx, []byte("rt2"))
	assertNotFound(t, "GetRefreshToken(token of the replay)", err)
	assertEqual(t, "GetAuthCode after replay", mustGetCode(t, s, code.Hash), wantCode)
	if _, _, err := s.RotateRefreshToken(ctx, []byte("rt1"), replay, 0, issue("rt3", "at3", atExp)); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken(first redemption's token) = %v, want ErrRevoked", err)
	}

	// Further replays are still reuse; the grant is already revoked.
	revs, err = s.RedeemAuthCode(ctx, code.Hash, at(50*time.Second), grant("g3", "web", "u1", "sid-1"), issue("", "at4", atExp))
	if !errors.Is(err, store.ErrReused) || len(revs) != 0 {
		t.Errorf("third RedeemAuthCode = %v, %v; want no revocations, ErrReused", revs, err)
	}
	assertRevokedAt(t, s, g.ID, replay)

	revs, err = s.RedeemAuthCode(ctx, []byte("missing"), now, grant("g4", "web", "u1", ""), issue("", "at5", atExp))
	assertNotFound(t, "RedeemAuthCode(missing)", err)
	if len(revs) != 0 {
		t.Errorf("RedeemAuthCode(missing) revocations = %v", revs)
	}
}

func testRedeemAuthCodeExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := at(time.Minute)
	code := authCode("c1", exp)
	mustCreateCode(t, s, code)
	for _, now := range []time.Time{exp.Truncate(time.Microsecond), exp, exp.Add(time.Hour)} {
		_, err := s.RedeemAuthCode(ctx, code.Hash, now, grant("g-late", "web", "u1", ""), issue("rt-late", "at-late", at(time.Hour)))
		if !errors.Is(err, store.ErrExpired) {
			t.Errorf("RedeemAuthCode at %v (expiry %v) = %v, want ErrExpired", now, exp, err)
		}
	}
	assertEqual(t, "GetAuthCode after expired redemptions", mustGetCode(t, s, code.Hash), code)
	_, err := s.GetGrant(ctx, "g-late")
	assertNotFound(t, "GetGrant(grant of an expired code)", err)

	// The zero time is refused, not taken as "never used".
	if _, err := s.RedeemAuthCode(ctx, code.Hash, time.Time{}, grant("g0", "web", "u1", ""), issue("", "at0", at(time.Hour))); err == nil {
		t.Error("RedeemAuthCode at the zero time = nil error")
	}

	now := exp.Add(-time.Microsecond)
	if _, err := s.RedeemAuthCode(ctx, code.Hash, now, grant("g1", "web", "u1", ""), issue("rt1", "at1", at(3*time.Hour))); err != nil {
		t.Fatalf("RedeemAuthCode just before expiry = %v", err)
	}
	// A used code replayed after its expiry is still reuse.
	replay := exp.Add(time.Hour)
	revs, err := s.RedeemAuthCode(ctx, code.Hash, replay, grant("g2", "web", "u1", ""), issue("rt2", "at2", at(2*time.Hour)))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("RedeemAuthCode of a used, expired code = %v, want ErrReused", err)
	}
	assertEntries(t, "revocations", revs, jtiEntries(replay, "at1", at(3*time.Hour)))
	assertRevokedAt(t, s, "g1", replay)
}

func testRedeemAuthCodeAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, grant("g-existing", "web", "u1", ""), issue("rt-existing", "at-existing", at(time.Hour)))
	code := authCode("c1", at(time.Minute))
	mustCreateCode(t, s, code)
	now := base()
	noJTI := issue("rt-a", "", at(time.Hour))
	noExp := issue("rt-b", "at-b", time.Time{})
	for _, c := range []struct {
		name     string
		g        store.Grant
		iss      store.Issue
		conflict bool
	}{
		{"existing grant ID", grant("g-existing", "web", "u1", ""), issue("rt-1", "at-1", at(time.Hour)), true},
		{"existing refresh token", grant("g-new", "web", "u1", ""), issue("rt-existing", "at-2", at(time.Hour)), true},
		{"existing jti", grant("g-new", "web", "u1", ""), issue("rt-3", "at-existing", at(time.Hour)), true},
		{"no jti", grant("g-new", "web", "u1", ""), noJTI, false},
		{"no access token expiry", grant("g-new", "web", "u1", ""), noExp, false},
	} {
		revs, err := s.RedeemAuthCode(ctx, code.Hash, now, c.g, c.iss)
		switch {
		case c.conflict && !errors.Is(err, store.ErrConflict):
			t.Errorf("RedeemAuthCode(%s) = %v, want ErrConflict", c.name, err)
		case err == nil || errors.Is(err, store.ErrReused):
			t.Errorf("RedeemAuthCode(%s) = %v, want an error", c.name, err)
		}
		if len(revs) != 0 {
			t.Errorf("RedeemAuthCode(%s) revocations = %v", c.name, revs)
		}
		// Nothing of the failed redemption remains.
		assertEqual(t, "GetAuthCode after "+c.name, mustGetCode(t, s, code.Hash), code)
		_, err = s.GetGrant(ctx, "g-new")
		assertNotFound(t, "GetGrant after "+c.name, err)
	}
	for _, rt := range []string{"rt-1", "rt-a", "rt-b", "rt-3"} {
		_, _, err := s.GetRefreshToken(ctx, []byte(rt))
		assertNotFound(t, "GetRefreshToken("+rt+") of a failed redemption", err)
	}
	if got := mustGetGrant(t, s, "g-existing"); !got.RevokedAt.IsZero() {
		t.Error("failed redemptions revoked an unrelated grant")
	}
	if _, err := s.RedeemAuthCode(ctx, code.Hash, now, grant("g-new", "web", "u1", ""), issue("rt-new", "at-new", at(time.Hour))); err != nil {
		t.Fatalf("RedeemAuthCode after the failures = %v", err)
	}
}

func testConcurrentRedeemAuthCode(t *testing.T, s store.Store) {
	// Several rounds, since a missing lock shows only in some interleavings.
	for r := range 3 {
		concurrentRedeemRound(t, s, fmt.Sprint("r", r, "-"))
	}
}

func concurrentRedeemRound(t *testing.T, s store.Store, p string) {
	code := authCode(p+"c1", at(time.Minute))
	mustCreateCode(t, s, code)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	atExp := at(15 * time.Minute)
	revsOf := make([][]store.Revocation, concurrency)
	errs := runConcurrently(concurrency, func(i int) error {
		var err error
		revsOf[i], err = s.RedeemAuthCode(ctx, code.Hash, base(), grant(fmt.Sprint(p, "g", i), "web", "u1", "sid-1"),
			issue(fmt.Sprint(p, "rt", i), fmt.Sprint(p, "at", i), atExp))
		return err
	})
	winner := -1
	var written []store.Revocation
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("RedeemAuthCode succeeded in goroutines %d and %d", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrReused):
			t.Errorf("goroutine %d: RedeemAuthCode = %v, want nil or ErrReused", i, err)
		}
		written = append(written, revsOf[i]...)
	}
	if winner < 0 {
		t.Fatal("no concurrent RedeemAuthCode succeeded")
	}
	winnerGrant := fmt.Sprint(p, "g", winner)
	if c := mustGetCode(t, s, code.Hash); c.GrantID != winnerGrant {
		t.Errorf("code GrantID = %q, want the winner's %q", c.GrantID, winnerGrant)
	}
	// The losers revoked the winner's grant, whenever they ran; exactly one
	// of them wrote the winner's jti.
	if g := mustGetGrant(t, s, winnerGrant); g.RevokedAt.IsZero() {
		t.Error("after concurrent redemptions the winner's grant is not revoked")
	}
	assertEntries(t, "revocations written by the losers", written, jtiEntries(base(), fmt.Sprint(p, "at", winner), atExp))
	assertRevoked(t, s, fmt.Sprint(p, "at", winner), "", "", base())
	for i := range concurrency {
		if i == winner {
			continue
		}
		_, err := s.GetGrant(t.Context(), fmt.Sprint(p, "g", i))
		assertNotFound(t, fmt.Sprintf("GetGrant(loser %d)", i), err)
	}
}

func testCreateGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := grant("g1", "dev", "u1", "")
	iss := issue("rt1", "at1", at(time.Hour))
	mustCreateGrant(t, s, g, iss)
	assertEqual(t, "GetGrant", mustGetGrant(t, s, "g1"), g)
	rt, rg := mustGetRefresh(t, s, "rt1")
	wantRT := *iss.RefreshToken
	wantRT.GrantID = "g1"
	assertEqual(t, "GetRefreshToken token", rt, wantRT)
	assertEqual(t, "GetRefreshToken grant", rg, g)

	// Duplicate: nothing of the second issue is written.
	if err := s.CreateGrant(ctx, grant("g1", "other", "u2", ""), issue("rt-dup", "at-dup", at(time.Hour))); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateGrant(duplicate id) = %v, want ErrConflict", err)
	}
	assertEqual(t, "GetGrant after duplicate", mustGetGrant(t, s, "g1"), g)
	_, _, err := s.GetRefreshToken(ctx, []byte("rt-dup"))
	assertNotFound(t, "GetRefreshToken(rt-dup)", err)

	// A refresh token outliving its grant is cut to the grant's end.
	short := grant("g-short", "dev", "u1", "")
	short.ExpiresAt = at(time.Hour)
	mustCreateGrant(t, s, short, issue("rt-long", "at-long", at(time.Minute)))
	if rt, _ := mustGetRefresh(t, s, "rt-long"); !rt.ExpiresAt.Equal(normTime(short.ExpiresAt)) {
		t.Errorf("refresh token ExpiresAt = %v, want the grant's %v", rt.ExpiresAt, short.ExpiresAt)
	}

	// A refresh token naming another grant is refused.
	wrong := issue("rt-wrong", "at-wrong", at(time.Hour))
	wrong.RefreshToken.GrantID = "g1"
	if err := s.CreateGrant(ctx, grant("g-wrong", "dev", "u1", ""), wrong); err == nil {
		t.Error("CreateGrant with a refresh token of another grant = nil error")
	}
	_, err = s.GetGrant(ctx, "g-wrong")
	assertNotFound(t, "GetGrant(g-wrong)", err)

	// An access token without jti or expiry could never be revoked.
	for name, iss := range map[string]store.Issue{
		"no jti":    issue("rt-x", "", at(time.Hour)),
		"no expiry": issue("rt-x", "at-x", time.Time{}),
	} {
		if err := s.CreateGrant(ctx, grant("g-x", "dev", "u1", ""), iss); err == nil {
			t.Errorf("CreateGrant(%s) = nil error", name)
		}
		_, err = s.GetGrant(ctx, "g-x")
		assertNotFound(t, "GetGrant after CreateGrant("+name+")", err)
	}

	// No refresh token: the access token is still recorded.
	mustCreateGrant(t, s, grant("g-nort", "dev", "u1", ""), issue("", "at-nort", at(time.Hour)))
	revs, err := s.RevokeGrant(ctx, "g-nort", base())
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	assertEntries(t, "RevokeGrant(g-nort)", revs, jtiEntries(base(), "at-nort", at(time.Hour)))

	_, err = s.GetGrant(ctx, "missing")
	assertNotFound(t, "GetGrant(missing)", err)
	_, _, err = s.GetRefreshToken(ctx, []byte("missing"))
	assertNotFound(t, "GetRefreshToken(missing)", err)
}

func testRotateChain(t *testing.T, s store.Store) {
	g := grant("g1", "web", "u1", "sid-1")
	atExp := at(24 * time.Hour)
	mustCreateGrant(t, s, g, issue("rt0", "at0", atExp))
	for i := 1; i <= 3; i++ {
		now := at(time.Duration(i) * time.Hour)
		prev, next := fmt.Sprint("rt", i-1), fmt.Sprint("rt", i)
		got := mustRotate(t, s, prev, now, 0, issue(next, fmt.Sprint("at", i), atExp))
		assertEqual(t, "RotateRefreshToken grant", got, g)
		used, _ := mustGetRefresh(t, s, prev)
		assertTime(t, prev+" UsedAt", used.UsedAt, normTime(now))
		fresh, fg := mustGetRefresh(t, s, next)
		if fresh.GrantID != "g1" || !fresh.UsedAt.IsZero() || fg.ID != "g1" {
			t.Errorf("new token %s = %+v in grant %q, want unused in g1", next, fresh, fg.ID)
		}
	}
	// Every access token of the chain was recorded for the grant.
	now := at(4 * time.Hour)
	revs, err := s.RevokeGrant(t.Context(), "g1", now)
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	assertEntries(t, "RevokeGrant", revs, jtiEntries(now, "at0", atExp, "at1", atExp, "at2", atExp, "at3", atExp))
}

func testRotateReuse(t *testing.T, s store.Store) {
	ctx := t.Context()
	const grace = 10 * time.Second
	exp1, exp2 := at(time.Hour), at(2*time.Hour)
	g := grant("g1", "web", "u1", "sid-1")
	mustCreateGrant(t, s, g, issue("rt1", "at1", exp1))
	t1 := at(time.Minute)
	mustRotate(t, s, "rt1", t1, grace, issue("rt2", "at2", exp2))

	replay := t1.Add(grace + time.Microsecond)
	got, revs, err := s.RotateRefreshToken(ctx, []byte("rt1"), replay, grace, issue("rt3", "at3", exp2))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("RotateRefreshToken(replay after grace) = %v, want ErrReused", err)
	}
	wantG := g
	wantG.RevokedAt = replay
	assertEqual(t, "grant returned with ErrReused", got, wantG)
	assertEntries(t, "revocations of the reuse", revs, jtiEntries(replay, "at1", exp1, "at2", exp2))
	assertRevokedAt(t, s, "g1", replay)
	assertRevoked(t, s, "at1", "", "", replay)
	assertRevoked(t, s, "at2", "", "", replay)
	_, _, err = s.GetRefreshToken(ctx, []byte("rt3"))
	assertNotFound(t, "GetRefreshToken(token of the reuse)", err)
	last := revs[len(revs)-1].Seq

	// The successor and the replayed token are dead, and further attempts
	// write no more revocations.
	for _, rt := range []string{"rt2", "rt1"} {
		got, revs, err := s.RotateRefreshToken(ctx, []byte(rt), replay.Add(time.Second), grace, issue("rt4", "at4", exp2))
		if !errors.Is(err, store.ErrRevoked) || len(revs) != 0 {
			t.Errorf("RotateRefreshToken(%s of a revoked grant) = %v, %v; want no revocations, ErrRevoked", rt, revs, err)
		}
		if got.ID != "g1" {
			t.Errorf("RotateRefreshToken(%s) with ErrRevoked returned grant %q, want g1", rt, got.ID)
		}
	}
	if rs, err := s.RevocationsSince(ctx, last, replay, 100); err != nil || len(rs) != 0 {
		t.Errorf("RevocationsSince(last) = %v, %v; want none", rs, err)
	}
	assertRevokedAt(t, s, "g1", replay)

	// Without a grace window, an immediate replay is reuse too.
	mustCreateGrant(t, s, grant("g2", "web", "u1", "sid-1"), issue("rt-a", "at-a", exp1))
	mustRotate(t, s, "rt-a", t1, 0, issue("rt-b", "at-b", exp1))
	_, revs, err = s.RotateRefreshToken(ctx, []byte("rt-a"), t1, 0, issue("rt-c", "at-c", exp1))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("RotateRefreshToken(immediate replay, no grace) = %v, want ErrReused", err)
	}
	assertEntries(t, "revocations of the immediate reuse", revs, jtiEntries(t1, "at-a", exp1, "at-b", exp1))
	assertRevokedAt(t, s, "g2", t1)
}

func testRotateGrace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const grace = 10 * time.Second
	exp := at(time.Hour)
	mustCreateGrant(t, s, grant("g1", "web", "u1", "sid-1"), issue("rt1", "at1", exp))
	t1 := at(time.Minute)
	mustRotate(t, s, "rt1", t1, grace, issue("rt2", "at2", exp))

	// A lost response: the replay at the edge of the window succeeds in the
	// same grant and marks nothing again.
	edge := t1.Add(grace)
	got := mustRotate(t, s, "rt1", edge, grace, issue("rt3", "at3", exp))
	if got.ID != "g1" || !got.RevokedAt.IsZero() {
		t.Errorf("grace replay returned grant %+v, want g1 unrevoked", got)
	}
	used, _ := mustGetRefresh(t, s, "rt1")
	assertTime(t, "rt1 UsedAt after the grace replay", used.UsedAt, normTime(t1))
	if rt3, _ := mustGetRefresh(t, s, "rt3"); rt3.GrantID != "g1" || !rt3.UsedAt.IsZero() {
		t.Errorf("token of the grace replay = %+v, want unused in g1", rt3)
	}
	// Both successors work; nothing was revoked.
	mustRotate(t, s, "rt2", edge, grace, issue("rt4", "at4", exp))
	mustRotate(t, s, "rt3", edge, grace, issue("rt5", "at5", exp))
	if g := mustGetGrant(t, s, "g1"); !g.RevokedAt.IsZero() {
		t.Error("grace replays revoked the grant")
	}
	if rs, err := s.RevocationsSince(ctx, 0, edge, 100); err != nil || len(rs) != 0 {
		t.Errorf("RevocationsSince = %v, %v; want none", rs, err)
	}
	assertNotRevoked(t, s, "at2", "", "", edge)

	// Past the window it is reuse.
	_, revs, err := s.RotateRefreshToken(ctx, []byte("rt1"), edge.Add(time.Microsecond), grace, issue("rt6", "at6", exp))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("RotateRefreshToken(replay after grace) = %v, want ErrReused", err)
	}
	if len(revs) != 5 {
		t.Errorf("reuse wrote %d revocations, want 5 (at1..at5)", len(revs))
	}
}

func testRotateExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, err := s.RotateRefreshToken(ctx, []byte("missing"), base(), 0, issue("rt-x", "at-x", at(time.Hour)))
	assertNotFound(t, "RotateRefreshToken(missing)", err)

	g := grant("g1", "web", "u1", "sid-1")
	g.ExpiresAt = at(time.Hour)
	rtExp := at(10 * time.Minute)
	iss := issue("rt1", "at1", at(5*time.Minute))
	iss.RefreshToken.ExpiresAt = rtExp
	mustCreateGrant(t, s, g, iss)

	// The token's own (idle) expiry.
	for _, now := range []time.Time{rtExp.Truncate(time.Microsecond), rtExp, rtExp.Add(time.Hour)} {
		_, _, err := s.RotateRefreshToken(ctx, []byte("rt1"), now, 0, issue("rt-x", "at-x", at(time.Hour)))
		if !errors.Is(err, store.ErrExpired) {
			t.Errorf("RotateRefreshToken at %v (token expiry %v) = %v, want ErrExpired", now, rtExp, err)
		}
	}
	if rt, _ := mustGetRefresh(t, s, "rt1"); !rt.UsedAt.IsZero() {
		t.Error("expired rotation marked the token used")
	}
	_, _, err = s.RotateRefreshToken(ctx, []byte("rt-x"), rtExp, 0, issue("rt-y", "at-y", at(time.Hour)))
	assertNotFound(t, "RotateRefreshToken(token of an expired rotation)", err)

	// The zero time is refused, not taken as "unused".
	if _, _, err := s.RotateRefreshToken(ctx, []byte("rt1"), time.Time{}, 0, issue("rt-z", "at-z", at(time.Hour))); err == nil {
		t.Error("RotateRefreshToken at the zero time = nil error")
	}

	now := rtExp.Add(-time.Microsecond)
	mustRotate(t, s, "rt1", now, 0, issue("rt2", "at2", at(30*time.Minute)))

	// A used token is reuse even after its own expiry.
	_, revs, err := s.RotateRefreshToken(ctx, []byte("rt1"), at(20*time.Minute), 0, issue("rt3", "at3", at(time.Hour)))
	if !errors.Is(err, store.ErrReused) || len(revs) != 1 {
		t.Errorf("RotateRefreshToken(used, expired token) = %v, %v; want ErrReused with at2 revoked", revs, err)
	}

	// The grant's absolute expiry.
	g2 := grant("g2", "web", "u1", "sid-1")
	g2.ExpiresAt = at(time.Hour)
	mustCreateGrant(t, s, g2, issue("rt-g2", "at-g2", at(time.Minute)))
	for _, now := range []time.Time{g2.ExpiresAt.Truncate(time.Microsecond), g2.ExpiresAt, g2.ExpiresAt.Add(time.Hour)} {
		got, _, err := s.RotateRefreshToken(ctx, []byte("rt-g2"), now, 0, issue("rt-g2b", "at-g2b", at(2*time.Hour)))
		if !errors.Is(err, store.ErrExpired) {
			t.Errorf("RotateRefreshToken at %v (grant expiry %v) = %v, want ErrExpired", now, g2.ExpiresAt, err)
		}
		if got.ID != "g2" {
			t.Errorf("RotateRefreshToken with ErrExpired returned grant %q, want g2", got.ID)
		}
	}
	if rt, _ := mustGetRefresh(t, s, "rt-g2"); !rt.UsedAt.IsZero() {
		t.Error("rotation of an expired grant marked the token used")
	}
	if g := mustGetGrant(t, s, "g2"); !g.RevokedAt.IsZero() {
		t.Error("rotation of an expired grant revoked it")
	}

	// Reuse is reuse even after the grant's end: the replay still revokes
	// the access tokens, which may outlive the grant.
	g3 := grant("g3", "web", "u1", "sid-1")
	g3.ExpiresAt = at(time.Hour)
	mustCreateGrant(t, s, g3, issue("rt-g3", "at-g3", at(time.Minute)))
	mustRotate(t, s, "rt-g3", at(30*time.Minute), 0, issue("rt-g3b", "at-g3b", at(75*time.Minute)))
	end := g3.ExpiresAt.Truncate(time.Microsecond)
	_, revs, err = s.RotateRefreshToken(ctx, []byte("rt-g3"), end, 0, issue("rt-g3c", "at-g3c", at(2*time.Hour)))
	if !errors.Is(err, store.ErrReused) {
		t.Errorf("RotateRefreshToken(used token after the grant's end) = %v, want ErrReused", err)
	}
	assertEntries(t, "revocations of reuse after the grant's end", revs, jtiEntries(end, "at-g3b", at(75*time.Minute)))
}

func testConcurrentRotateRefresh(t *testing.T, s store.Store) {
	// Several rounds, since a missing lock shows only in some interleavings.
	for r := range 5 {
		concurrentRotateRound(t, s, fmt.Sprint("g", r))
	}
}

func concurrentRotateRound(t *testing.T, s store.Store, id string) {
	const n = 20
	atExp := at(time.Hour)
	mustCreateGrant(t, s, grant(id, "web", "u1", "sid-1"), issue(id+"-rt0", id+"-at0", atExp))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	now := at(time.Minute)
	revsOf := make([][]store.Revocation, n)
	errs := runConcurrently(n, func(i int) error {
		var err error
		_, revsOf[i], err = s.RotateRefreshToken(ctx, []byte(id+"-rt0"), now, 0,
			issue(fmt.Sprint(id, "-rt-", i), fmt.Sprint(id, "-at-", i), atExp))
		return err
	})
	winner, reused := -1, 0
	var written []store.Revocation
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("%s: RotateRefreshToken succeeded in goroutines %d and %d", id, winner, i)
			}
			winner = i
		case errors.Is(err, store.ErrReused):
			reused++
		case !errors.Is(err, store.ErrRevoked):
			t.Errorf("%s: goroutine %d: RotateRefreshToken = %v, want nil, ErrReused or ErrRevoked", id, i, err)
		}
		written = append(written, revsOf[i]...)
	}
	if winner < 0 {
		t.Fatalf("%s: no concurrent RotateRefreshToken succeeded", id)
	}
	// The first loser to run found the token used and revoked the grant;
	// the ones after it found the grant revoked.
	if reused != 1 {
		t.Errorf("%s: %d rotations reported ErrReused, want 1", id, reused)
	}
	assertRevokedAt(t, s, id, now)
	winnerJTI := fmt.Sprint(id, "-at-", winner)
	assertEntries(t, id+": revocations written by the losers", written, jtiEntries(now, id+"-at0", atExp, winnerJTI, atExp))
	assertRevoked(t, s, winnerJTI, "", "", now)
	if _, _, err := s.RotateRefreshToken(t.Context(), []byte(fmt.Sprint(id, "-rt-", winner)), now, 0, issue(id+"-rt-z", id+"-at-z", atExp)); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("%s: RotateRefreshToken(winner's token) = %v, want ErrRevoked", id, err)
	}
}

// constPlan plans iss whatever it is shown.
func constPlan(iss store.Issue) store.RotationPlan {
	return func(store.RefreshToken, store.Grant, store.User) (store.Issue, error) { return iss, nil }
}

// testRotateWithPlan: the plan sees the token, its grant and the grant's
// user as stored (the zero User once the user is gone), its refusal is
// returned as it is with nothing written, and what it plans is written
// with RotateRefreshToken's rules (reuse included).
func testRotateWithPlan(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := fullUser("u1", "alice", "alice@example.com")
	mustCreateUser(t, s, u)
	g := grant("g1", "web", "u1", "sid-1")
	first := issue("rt0", "at0", at(time.Hour))
	mustCreateGrant(t, s, g, first)
	wantRT, _ := mustGetRefresh(t, s, "rt0")

	refused := errors.New("refused by the plan")
	now := at(time.Minute)
	var seen int
	_, _, err := s.RotateRefreshTokenWith(ctx, []byte("rt0"), now, 0, func(rt store.RefreshToken, gr store.Grant, us store.User) (store.Issue, error) {
		seen++
		assertEqual(t, "planned token", rt, wantRT)
		assertEqual(t, "planned grant", gr, g)
		noHash := u
		noHash.PasswordHash = "" // no token needs it: the store leaves it out
		assertEqual(t, "planned user", us, noHash)
		return store.Issue{}, refused
	})
	if err != refused || seen != 1 { //nolint:errorlint // the plan's error must come back as it is
		t.Fatalf("RotateRefreshTokenWith(refusing plan) = %v after %d plans, want the plan's error after 1", err, seen)
	}
	if rt, _ := mustGetRefresh(t, s, "rt0"); !rt.UsedAt.IsZero() {
		t.Error("a refused plan marked the token used")
	}

	got, revs, err := s.RotateRefreshTokenWith(ctx, []byte("rt0"), now, 0, constPlan(issue("rt1", "at1", at(time.Hour))))
	if err != nil || got.ID != "g1" || len(revs) != 0 {
		t.Fatalf("RotateRefreshTokenWith = %+v, %v, %v; want g1", got, revs, err)
	}
	if rt, gr := mustGetRefresh(t, s, "rt1"); gr.ID != "g1" || !rt.UsedAt.IsZero() {
		t.Errorf("planned token = %+v of %q; want an unused token of grant g1", rt, gr.ID)
	}
	assertNotRevoked(t, s, "at1", "", "", now)

	// Replay of the spent token: reuse, the family revoked.
	_, revs, err = s.RotateRefreshTokenWith(ctx, []byte("rt0"), now.Add(time.Second), 0, constPlan(issue("rt2", "at2", at(time.Hour))))
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("replay = %v, want ErrReused", err)
	}
	assertEntries(t, "revocations of the replay", revs, jtiEntries(now.Add(time.Second), "at0", at(time.Hour), "at1", at(time.Hour)))

	_, _, err = s.RotateRefreshTokenWith(ctx, []byte("missing"), now, 0, func(store.RefreshToken, store.Grant, store.User) (store.Issue, error) {
		t.Error("plan called for a missing token")
		return store.Issue{}, nil
	})
	assertNotFound(t, "RotateRefreshTokenWith(missing)", err)

	// The user is gone: the plan sees the zero User.
	mustCreateGrant(t, s, grant("g2", "web", "u-gone", "sid-2"), issue("rt-g2", "at-g2", at(time.Hour)))
	_, _, err = s.RotateRefreshTokenWith(ctx, []byte("rt-g2"), now, 0, func(_ store.RefreshToken, _ store.Grant, us store.User) (store.Issue, error) {
		assertEqual(t, "user of a grant whose user is gone", us, store.User{})
		return store.Issue{}, refused
	})
	if err != refused { //nolint:errorlint // as above
		t.Errorf("RotateRefreshTokenWith(user gone) = %v, want the plan's error", err)
	}
}

// testConcurrentRotateWithPlan is testConcurrentRotateRefresh through
// RotateRefreshTokenWith: one rotation wins, one detects reuse.
func testConcurrentRotateWithPlan(t *testing.T, s store.Store) {
	const n = 20
	atExp := at(time.Hour)
	mustCreateGrant(t, s, grant("g1", "web", "u1", "sid-1"), issue("rt0", "at0", atExp))
	now := at(time.Minute)
	errs := runConcurrently(n, func(i int) error {
		_, _, err := s.RotateRefreshTokenWith(t.Context(), []byte("rt0"), now, 0, constPlan(issue(fmt.Sprint("rt-", i), fmt.Sprint("at-", i), atExp)))
		return err
	})
	won, reused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrReused):
			reused++
		case !errors.Is(err, store.ErrRevoked):
			t.Errorf("goroutine %d: %v, want nil, ErrReused or ErrRevoked", i, err)
		}
	}
	if won != 1 || reused != 1 {
		t.Errorf("%d rotations won and %d detected reuse, want 1 and 1", won, reused)
	}
	assertRevokedAt(t, s, "g1", now)
}

// testConcurrentRotationsFailAlone runs rotations of many grants at once,
// every other one failing after it has marked its token used (its access
// token's jti is taken): the failures change nothing, and the others, which
// a backend may commit together with them, all take effect.
func testConcurrentRotationsFailAlone(t *testing.T, s store.Store) {
	ctx := t.Context()
	atExp := at(time.Hour)
	now := at(time.Minute)
	mustCreateGrant(t, s, grant("g-taken", "web", "u1", "sid-1"), issue("rt-taken", "at-taken", atExp))
	const n = 40
	for i := range n {
		id := fmt.Sprint("g", i)
		mustCreateGrant(t, s, grant(id, "web", "u1", "sid-1"), issue(id+"-rt0", id+"-at0", atExp))
	}
	errs := runConcurrently(n, func(i int) error {
		id := fmt.Sprint("g", i)
		jti := id + "-at1"
		if i%2 == 1 {
			jti = "at-taken"
		}
		_, _, err := s.RotateRefreshToken(ctx, []byte(id+"-rt0"), now, 0, issue(id+"-rt1", jti, atExp))
		return err
	})
	for i, err := range errs {
		id := fmt.Sprint("g", i)
		rt, _ := mustGetRefresh(t, s, id+"-rt0")
		_, _, newErr := s.GetRefreshToken(ctx, []byte(id+"-rt1"))
		if i%2 == 1 {
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: rotation with a taken jti = %v, want ErrConflict", id, err)
			}
			if !rt.UsedAt.IsZero() || !errors.Is(newErr, store.ErrNotFound) {
				t.Errorf("%s: the failed rotation left its writes (token used at %v, new token: %v)", id, rt.UsedAt, newErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: rotation = %v", id, err)
		}
		if rt.UsedAt.IsZero() || newErr != nil {
			t.Errorf("%s: the rotation did not take effect (token used at %v, new token: %v)", id, rt.UsedAt, newErr)
		}
	}
}

// testConcurrentRotateAndRevoke races a rotation with a revocation of the
// same grant: whichever wins, no access token the rotation minted may stay
// valid once the revocation has returned.
func testConcurrentRotateAndRevoke(t *testing.T, s store.Store) {
	const rounds = 8
	atExp := at(time.Hour)
	now := at(time.Minute)
	for r := range rounds {
		id := fmt.Sprint("g", r)
		mustCreateGrant(t, s, grant(id, "web", "u1", "sid-1"), issue(id+"-rt0", id+"-at0", atExp))
		errs := runConcurrently(2, func(i int) error {
			if i == 0 {
				_, _, err := s.RotateRefreshToken(t.Context(), []byte(id+"-rt0"), now, 0, issue(id+"-rt1", id+"-at1", atExp))
				return err
			}
			_, err := s.RevokeGrant(t.Context(), id, now)
			return err
		})
		if errs[1] != nil {
			t.Fatalf("round %d: RevokeGrant = %v", r, errs[1])
		}
		switch {
		case errs[0] == nil:
			assertRevoked(t, s, id+"-at1", "", "", now)
		case !errors.Is(errs[0], store.ErrRevoked):
			t.Errorf("round %d: RotateRefreshToken = %v, want nil or ErrRevoked", r, errs[0])
		}
		assertRevoked(t, s, id+"-at0", "", "", now)
	}
}

func testRevokeGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := grant("g1", "web", "u1", "sid-1")
	mustCreateGrant(t, s, g, issue("rt1", "at1", at(10*time.Minute)))
	mustRotate(t, s, "rt1", at(5*time.Minute), 0, issue("rt2", "at2", at(time.Hour)))
	mustCreateGrant(t, s, grant("g-other", "web", "u1", "sid-1"), issue("rt-o", "at-o", at(time.Hour)))

	// at1 expires exactly now: only at2 needs an entry.
	now := at(10 * time.Minute)
	revs, err := s.RevokeGrant(ctx, "g1", now)
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	assertEntries(t, "RevokeGrant", revs, jtiEntries(now, "at2", at(time.Hour)))
	assertRevokedAt(t, s, "g1", now)
	assertRevoked(t, s, "at2", "", "", now)
	assertNotRevoked(t, s, "at-o", "", "", now)
	if g := mustGetGrant(t, s, "g-other"); !g.RevokedAt.IsZero() {
		t.Error("RevokeGrant revoked another grant")
	}
	if _, _, err := s.RotateRefreshToken(ctx, []byte("rt2"), now, 0, issue("rt3", "at3", at(time.Hour))); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken after RevokeGrant = %v, want ErrRevoked", err)
	}

	// Idempotent: succeeds, writes nothing, keeps the first RevokedAt.
	revs, err = s.RevokeGrant(ctx, "g1", at(20*time.Minute))
	if err != nil || len(revs) != 0 {
		t.Errorf("second RevokeGrant = %v, %v; want no revocations, nil", revs, err)
	}
	assertRevokedAt(t, s, "g1", now)

	_, err = s.RevokeGrant(ctx, "missing", now)
	assertNotFound(t, "RevokeGrant(missing)", err)
	if _, err := s.RevokeGrant(ctx, "g-other", time.Time{}); err == nil {
		t.Error("RevokeGrant at the zero time = nil error")
	}
	if g := mustGetGrant(t, s, "g-other"); !g.RevokedAt.IsZero() {
		t.Error("RevokeGrant at the zero time changed the grant")
	}
}

func testRevokeUserGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base()
	mustCreateSession(t, s, session("sid-1", "u1", at(-time.Hour), at(time.Hour)))
	mustCreateSession(t, s, session("sid-9", "u9", at(-time.Hour), at(time.Hour)))
	atExp := at(15 * time.Minute)
	mustCreateGrant(t, s, grant("g1", "web", "u1", "sid-1"), issue("rt1", "at1", atExp))
	mustCreateGrant(t, s, grant("g2", "cli", "u1", ""), issue("rt2", "at2", atExp))
	mustCreateGrant(t, s, grant("g9", "web", "u9", "sid-9"), issue("rt9", "at9", atExp))
	sub := store.Revocation{Kind: store.RevokeSubject, Value: "u1", NotBefore: now, ExpiresAt: atExp}

	revs, err := s.RevokeUserGrants(ctx, "u1", now, sub)
	if err != nil {
		t.Fatalf("RevokeUserGrants: %v", err)
	}
	kinds := map[string]bool{}
	for _, r := range revs {
		kinds[r.Kind+":"+r.Value] = true
	}
	if !kinds["jti:at1"] || !kinds["jti:at2"] || !kinds["sub:u1"] || len(revs) != 3 {
		t.Fatalf("RevokeUserGrants wrote %+v, want jti at1, at2 and sub u1", revs)
	}
	assertRevokedAt(t, s, "g1", now)
	assertRevokedAt(t, s, "g2", now)
	if g := mustGetGrant(t, s, "g9"); !g.RevokedAt.IsZero() {
		t.Error("another user's grant was revoked")
	}
	if _, err := s.GetSessionByTokenHash(ctx, session("sid-1", "u1", at(-time.Hour), at(time.Hour)).TokenHash, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user's session survived: %v", err)
	}
	if _, err := s.GetSessionByTokenHash(ctx, session("sid-9", "u9", at(-time.Hour), at(time.Hour)).TokenHash, now); err != nil {
		t.Errorf("another user's session was deleted: %v", err)
	}
	if _, err := s.RevokeUserGrants(ctx, "u1", time.Time{}); err == nil {
		t.Error("RevokeUserGrants at the zero time = nil error")
	}
}

func testEndSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base()
	mustCreateSession(t, s, session("sid-1", "u1", at(-time.Hour), at(time.Hour)))
	mustCreateSession(t, s, session("sid-2", "u1", at(-time.Hour), at(time.Hour)))
	atExp := at(15 * time.Minute)
	mustCreateGrant(t, s, grant("g1", "web", "u1", "sid-1"), issue("rt1", "at1", atExp))
	mustCreateGrant(t, s, grant("g2", "cli", "u1", "sid-1"), issue("rt2", "at2", atExp))
	mustCreateGrant(t, s, grant("g3", "web", "u1", "sid-2"), issue("rt3", "at3", atExp))
	// A code already redeemed in the session (its grant is g4) and one not
	// yet redeemed; and an unredeemed code of the other session.
	redeemed := authCode("c-redeemed", at(time.Minute))
	mustCreateCode(t, s, redeemed)
	if _, err := s.RedeemAuthCode(ctx, redeemed.Hash, now, grant("g4", "web", "u1", "sid-1"), issue("rt4", "at4", atExp)); err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	pending := authCode("c-pending", at(time.Minute))
	mustCreateCode(t, s, pending)
	otherCode := authCode("c-other", at(time.Minute))
	otherCode.SessionID = "sid-2"
	mustCreateCode(t, s, otherCode)

	sidExp := at(24 * time.Hour)
	revs, err := s.EndSession(ctx, "sid-1", now, sidExp)
	if err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	sidEntry := store.Revocation{Kind: store.RevokeSID, Value: "sid-1", ExpiresAt: sidExp, CreatedAt: now}
	want := append(jtiEntries(now, "at1", atExp, "at2", atExp, "at4", atExp), sidEntry)
	assertEntries(t, "EndSession", revs, want)

	_, err = s.GetSessionByTokenHash(ctx, []byte("token-sid-1"), now)
	assertNotFound(t, "GetSessionByTokenHash(ended session)", err)
	if _, err := s.GetSessionByTokenHash(ctx, []byte("token-sid-2"), now); err != nil {
		t.Errorf("GetSessionByTokenHash(other session) = %v", err)
	}
	for _, id := range []string{"g1", "g2", "g4"} {
		assertRevokedAt(t, s, id, now)
	}
	if g := mustGetGrant(t, s, "g3"); !g.RevokedAt.IsZero() {
		t.Error("EndSession revoked a grant of another session")
	}
	assertRevoked(t, s, "", "sid-1", "", now)
	assertNotRevoked(t, s, "at3", "sid-2", "", now)

	// The pending code of the ended session cannot start a grant; the
	// redeemed one stays for reuse detection; the other session's code stays.
	_, err = s.GetAuthCode(ctx, pending.Hash)
	assertNotFound(t, "GetAuthCode(pending code of the ended session)", err)
	mustGetCode(t, s, redeemed.Hash)
	mustGetCode(t, s, otherCode.Hash)

	// An absent session (or ending one twice) still gets the sid entry; an
	// existing entry keeps its CreatedAt.
	later := at(time.Minute)
	for _, c := range []struct {
		sid       string
		createdAt time.Time
	}{
		{"sid-absent", later},
		{"sid-1", now},
	} {
		revs, err := s.EndSession(ctx, c.sid, later, sidExp)
		if err != nil {
			t.Fatalf("EndSession(%s) = %v", c.sid, err)
		}
		assertEntries(t, "EndSession("+c.sid+")", revs, []store.Revocation{{
			Kind: store.RevokeSID, Value: c.sid, ExpiresAt: sidExp, CreatedAt: c.createdAt,
		}})
		assertRevoked(t, s, "", c.sid, "", later)
	}

	for name, call := range map[string]func() error{
		"empty sid":       func() error { _, err := s.EndSession(ctx, "", now, sidExp); return err },
		"zero now":        func() error { _, err := s.EndSession(ctx, "sid-2", time.Time{}, sidExp); return err },
		"zero sid expiry": func() error { _, err := s.EndSession(ctx, "sid-2", now, time.Time{}); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("EndSession(%s) = nil error", name)
		}
	}
	if _, err := s.GetSessionByTokenHash(ctx, []byte("token-sid-2"), now); err != nil {
		t.Errorf("GetSessionByTokenHash(sid-2) after refused EndSession calls = %v", err)
	}
}
