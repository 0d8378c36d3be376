package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestNewManagerConfig(t *testing.T) {
	secret32 := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name string
		edit func(*Config)
		err  error
	}{
		{"defaults", func(*Config) {}, nil},
		{"HS256 with 32-byte secret", func(c *Config) { c.AccessTokenAlg = HS256; c.HMACSecret = secret32 }, nil},
		{"HS256 with 31-byte secret", func(c *Config) { c.AccessTokenAlg = HS256; c.HMACSecret = secret32[:31] }, ErrInvalidConfig},
		{"HS256 without secret", func(c *Config) { c.AccessTokenAlg = HS256 }, ErrInvalidConfig},
		{"secret without HS256", func(c *Config) { c.HMACSecret = secret32 }, ErrInvalidConfig},
		{"unknown alg", func(c *Config) { c.AccessTokenAlg = "PS256" }, ErrInvalidConfig},
		{"none alg", func(c *Config) { c.AccessTokenAlg = "none" }, ErrInvalidConfig},
		{"short master key", func(c *Config) { c.MasterKey = c.MasterKey[:31] }, ErrInvalidConfig},
		{"no master key", func(c *Config) { c.MasterKey = nil }, ErrInvalidConfig},
		{"no store", func(c *Config) { c.Store = nil }, ErrInvalidConfig},
		{"no max TTL", func(c *Config) { c.MaxTokenTTL = 0 }, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Store: &memStore{}, MasterKey: testMasterKey(), MaxTokenTTL: time.Hour}
			tt.edit(&cfg)
			_, err := NewManager(context.Background(), cfg)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

// jwksKeys decodes a JWKS document and checks every key's members.
func jwksKeys(t *testing.T, doc []byte) []map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	for _, k := range set.Keys {
		alg, _ := k["alg"].(string)
		checkPublicJWK(t, k, alg)
		if k["kty"] == "oct" {
			t.Fatalf("symmetric key published: %v", k)
		}
	}
	return set.Keys
}

func kids(keys []map[string]any) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k["kid"].(string))
	}
	return out
}

func algs(keys []map[string]any) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k["alg"].(string))
	}
	return out
}

func TestNewManagerCreatesKeys(t *testing.T) {
	tests := []struct {
		name      string
		accessAlg string
		secret    []byte
		wantAlgs  []string // JWKS order: by alg
	}{
		{"default ES256", "", nil, []string{ES256, RS256}},
		{"ES256", ES256, nil, []string{ES256, RS256}},
		// ES256 and RS256 are always there: they sign id_tokens.
		{"RS256", RS256, nil, []string{ES256, RS256}},
		{"EdDSA", EdDSA, nil, []string{ES256, EdDSA, RS256}},
		{"HS256 publishes only the id_token keys", HS256, bytes.Repeat([]byte{9}, 32), []string{ES256, RS256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{}
			m := newTestManager(t, st, newFakeClock(), func(c *Config) {
				c.AccessTokenAlg = tt.accessAlg
				c.HMACSecret = tt.secret
			})
			keys := jwksKeys(t, m.JWKS())
			if got := algs(keys); !equalStrings(got, tt.wantAlgs) {
				t.Fatalf("JWKS algs = %v, want %v", got, tt.wantAlgs)
			}
			rows, _ := st.ListSigningKeys(context.Background())
			if len(rows) != len(tt.wantAlgs) {
				t.Fatalf("store holds %d keys, want %d", len(rows), len(tt.wantAlgs))
			}
			for _, r := range rows {
				if r.Algorithm == HS256 || bytes.Contains(r.SealedPrivate, tt.secret) && tt.secret != nil {
					t.Fatal("HS256 secret reached the store")
				}
			}
			if tt.secret != nil && bytes.Contains(m.JWKS(), []byte(`"oct"`)) {
				t.Fatal("HS256 secret published")
			}
			// A second manager on the same store creates nothing and
			// renders the same bytes: the JWKS is deterministic.
			m2 := newTestManager(t, st, newFakeClock(), func(c *Config) {
				c.AccessTokenAlg = tt.accessAlg
				c.HMACSecret = tt.secret
			})
			if !bytes.Equal(m.JWKS(), m2.JWKS()) {
				t.Fatalf("JWKS differs between nodes:\n%s\n%s", m.JWKS(), m2.JWKS())
			}
			if rows2, _ := st.ListSigningKeys(context.Background()); len(rows2) != len(rows) {
				t.Fatalf("second manager created keys: %d -> %d", len(rows), len(rows2))
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNewManagerWrongMasterKey: keys sealed under another master key are an
// error, and nothing new is written to the store.
func TestNewManagerWrongMasterKey(t *testing.T) {
	st := &memStore{}
	newTestManager(t, st, newFakeClock(), nil)
	before, _ := st.ListSigningKeys(context.Background())

	wrong := testMasterKey()
	wrong[31] ^= 0xff
	for _, alg := range []string{ES256, EdDSA} {
		_, err := NewManager(context.Background(), Config{
			Store: st, MasterKey: wrong, MaxTokenTTL: time.Hour, AccessTokenAlg: alg,
		})
		if !errors.Is(err, ErrSealedKey) {
			t.Fatalf("%s: err = %v, want ErrSealedKey", alg, err)
		}
	}
	after, _ := st.ListSigningKeys(context.Background())
	if len(after) != len(before) {
		t.Fatalf("store changed from %d to %d keys after a wrong master key", len(before), len(after))
	}
}

// TestNewManagerLosesCreationRace: a node whose first read missed the keys
// another node just created gets ErrConflict from the store and adopts the
// other node's keys.
func TestNewManagerLosesCreationRace(t *testing.T) {
	st := &memStore{}
	a := newTestManager(t, st, newFakeClock(), nil)
	b := newTestManager(t, &staleFirstList{memStore: st}, newFakeClock(), nil)
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Fatalf("nodes disagree:\n%s\n%s", a.JWKS(), b.JWKS())
	}
	if rows, _ := st.ListSigningKeys(context.Background()); len(rows) != 2 {
		t.Fatalf("store holds %d keys, want 2", len(rows))
	}
}

func TestNewManagerConcurrentStart(t *testing.T) {
	st := &memStore{}
	const nodes = 4
	ms := make([]*Manager, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { ms[i] = newTestManager(t, st, newFakeClock(), nil) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, m := range ms[1:] {
		if !bytes.Equal(m.JWKS(), ms[0].JWKS()) {
			t.Fatalf("nodes disagree:\n%s\n%s", m.JWKS(), ms[0].JWKS())
		}
	}
	if rows, _ := st.ListSigningKeys(context.Background()); len(rows) != 2 {
		t.Fatalf("store holds %d keys, want 2", len(rows))
	}
}

func accessClaims(now time.Time, jti string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "sub": "user-1", "aud": "api", "client_id": "web",
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "jti": jti,
	}
}

const testIssuer = "https://issuer.example"

func accessOpts(alg string) VerifyOptions {
	return VerifyOptions{Algorithms: []string{alg}, Typ: "at+jwt", Issuer: testIssuer, Audience: "api"}
}

// TestRotation follows a key through rotation, publication and removal,
// with a second node following through the store.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	st := &memStore{}
	a := newTestManager(t, st, clock, nil)
	b := newTestManager(t, st, clock, nil)

	oldKID := a.snap.Load().signers[ES256].id
	oldToken, err := a.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "old"))
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	next, err := a.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == oldKID || next.State != store.KeyActive {
		t.Fatalf("Rotate returned %+v", next)
	}

	newToken, err := a.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "new"))
	if err != nil {
		t.Fatal(err)
	}
	if kid := headerKID(t, newToken); kid != next.ID {
		t.Fatalf("new token kid = %s, want %s", kid, next.ID)
	}
	got := kids(jwksKeys(t, a.JWKS()))
	if !containsAll(got, oldKID, next.ID) {
		t.Fatalf("JWKS kids %v lack old %s or new %s", got, oldKID, next.ID)
	}
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if _, err := a.Verify(tok, accessOpts(ES256)); err != nil {
			t.Fatalf("%s token: %v", name, err)
		}
	}

	// Node b has not refreshed: it still serves the old key set, and
	// cannot verify the new key's token yet.
	if _, err := b.Verify(newToken, accessOpts(ES256)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("b before refresh: err = %v, want ErrUnknownKey", err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Fatalf("b after refresh:\n%s\nwant\n%s", b.JWKS(), a.JWKS())
	}
	if _, err := b.Verify(newToken, accessOpts(ES256)); err != nil {
		t.Fatalf("b after refresh: %v", err)
	}
	if tok, _ := b.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "b")); headerKID(t, tok) != next.ID {
		t.Fatal("b still signs with the retired key")
	}

	// Past PublishUntil the old key is gone: even before a refresh its
	// tokens fail, and after one it leaves the JWKS and the store.
	clock.Advance(testMaxTTL)
	longToken, err := a.Sign(ES256, "at+jwt", jwt.MapClaims{
		"iss": testIssuer, "aud": "api", "iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Hour).Unix(), "jti": "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(longToken, accessOpts(ES256)); err != nil {
		t.Fatalf("new key token after old key expiry: %v", err)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got = kids(jwksKeys(t, a.JWKS()))
	if containsAll(got, oldKID) || !containsAll(got, next.ID) {
		t.Fatalf("JWKS kids after expiry = %v; want %s gone and %s present", got, oldKID, next.ID)
	}
	opts := accessOpts(ES256)
	opts.Leeway = time.Hour // capped at a minute: the old token stays expired anyway
	if _, err := a.Verify(oldToken, opts); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old token after expiry: err = %v, want ErrUnknownKey", err)
	}
	if rows, _ := st.ListSigningKeys(ctx); len(rows) != 2 {
		t.Fatalf("store holds %d keys after prune, want 2", len(rows))
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Fatal("nodes disagree after expiry")
	}
}

// TestRefreshDropsExpiredKeysByClock: with the store unreachable (or simply
// unchanged), the snapshot still drops a retired key when the clock passes
// its PublishUntil.
func TestRefreshDropsExpiredKeysByClock(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	st := &memStore{}
	m := newTestManager(t, st, clock, nil)
	oldKID := m.snap.Load().signers[ES256].id
	if _, err := m.Rotate(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	// Keep the row in the store: prune succeeds but deletes nothing.
	clock.Advance(testMaxTTL)
	m.store = noPrune{st}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if containsAll(kids(jwksKeys(t, m.JWKS())), oldKID) {
		t.Fatal("expired key still published")
	}
	if rows, _ := st.ListSigningKeys(ctx); len(rows) != 3 {
		t.Fatalf("store holds %d keys, want the unpruned 3", len(rows))
	}
}

type noPrune struct{ *memStore }

func (noPrune) PruneSigningKeys(context.Context, time.Time) (int, error) { return 0, nil }

func TestRefreshKeepsSnapshotWhenUnchanged(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newTestManager(t, &memStore{}, clock, nil)
	before := m.snap.Load()
	clock.Advance(time.Minute)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if m.snap.Load() != before {
		t.Fatal("snapshot rebuilt although the key set did not change")
	}
	if _, err := m.Rotate(ctx, RS256); err != nil {
		t.Fatal(err)
	}
	if m.snap.Load() == before {
		t.Fatal("snapshot not rebuilt after rotation")
	}
}

func TestRefreshStoreOutageKeepsKeys(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	st := &memStore{}
	m := newTestManager(t, st, clock, nil)
	jwks := m.JWKS()
	outage := errors.New("database is down")
	st.fail(outage)
	if err := m.Refresh(ctx); !errors.Is(err, outage) {
		t.Fatalf("Refresh err = %v, want the outage", err)
	}
	if !bytes.Equal(m.JWKS(), jwks) {
		t.Fatal("JWKS changed during the outage")
	}
	tok, err := m.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "j"))
	if err != nil {
		t.Fatalf("Sign during outage: %v", err)
	}
	if _, err := m.Verify(tok, accessOpts(ES256)); err != nil {
		t.Fatalf("Verify during outage: %v", err)
	}
	if _, err := m.Rotate(ctx, ES256); !errors.Is(err, outage) {
		t.Fatalf("Rotate err = %v, want the outage", err)
	}
	if _, err := m.List(ctx); !errors.Is(err, outage) {
		t.Fatalf("List err = %v, want the outage", err)
	}
}

// TestRunRefreshes: Run follows a rotation made by another node, and keeps
// the key set through an outage.
func TestRunRefreshes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clock := newFakeClock()
	st := &memStore{}
	a := newTestManager(t, st, clock, nil)
	b := newTestManager(t, st, clock, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx, time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done
	}()

	if _, err := a.Rotate(context.Background(), EdDSA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return bytes.Equal(a.JWKS(), b.JWKS()) })

	jwks := b.JWKS()
	st.fail(errors.New("down"))
	calls := st.calls.Load()
	waitFor(t, func() bool { return st.calls.Load() > calls+3 })
	if !bytes.Equal(b.JWKS(), jwks) {
		t.Fatal("JWKS changed during the outage")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRotateRefusesHS256(t *testing.T) {
	m := newTestManager(t, &memStore{}, newFakeClock(), func(c *Config) {
		c.AccessTokenAlg = HS256
		c.HMACSecret = bytes.Repeat([]byte{1}, 32)
	})
	for _, alg := range []string{HS256, "none", "PS256", ""} {
		if _, err := m.Rotate(context.Background(), alg); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("Rotate(%q): err = %v, want ErrUnsupportedAlgorithm", alg, err)
		}
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newTestManager(t, &memStore{}, clock, nil)
	clock.Advance(time.Minute)
	next, err := m.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 {
		t.Fatalf("List = %+v, want 3 keys", infos)
	}
	var retired, active int
	for _, k := range infos {
		switch k.State {
		case store.KeyRetired:
			retired++
			if k.Algorithm != ES256 || !k.RetiredAt.Equal(next.CreatedAt) || !k.PublishUntil.Equal(next.CreatedAt.Add(testMaxTTL)) {
				t.Errorf("retired key = %+v", k)
			}
		case store.KeyActive:
			active++
			if !k.RetiredAt.IsZero() || !k.PublishUntil.IsZero() {
				t.Errorf("active key = %+v", k)
			}
		}
	}
	if retired != 1 || active != 2 {
		t.Fatalf("retired %d, active %d; want 1, 2", retired, active)
	}
	b, err := json.Marshal(infos[len(infos)-1]) // the newest key: active
	if err != nil || !bytes.Contains(b, []byte(`"kid":`)) || bytes.Contains(b, []byte("retired_at")) {
		t.Fatalf("KeyInfo JSON = %s (%v)", b, err)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestPrepublishedRotation: Rotate publishes the next key on every node
// before any node signs with it, so at every step each node verifies what
// any other node signs (issue 9, item 3: nodes used to sign with a key the
// others neither published nor accepted).
func TestPrepublishedRotation(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	st := &memStore{}
	const prepublish = 30 * time.Second
	withPrepublish := func(c *Config) { c.Prepublish = prepublish }
	a := newTestManager(t, st, clock, withPrepublish)
	b := newTestManager(t, st, clock, withPrepublish)
	oldKID := a.snap.Load().signers[ES256].id

	// crossCheck signs on each node and verifies on both.
	crossCheck := func(step string) (aKID, bKID string) {
		t.Helper()
		for _, signer := range []*Manager{a, b} {
			tok, err := signer.Sign(ES256, "at+jwt", accessClaims(clock.Now(), step))
			if err != nil {
				t.Fatalf("%s: sign: %v", step, err)
			}
			for _, verifier := range []*Manager{a, b} {
				if _, err := verifier.Verify(tok, accessOpts(ES256)); err != nil {
					t.Fatalf("%s: a node refuses another node's token: %v", step, err)
				}
			}
			if signer == a {
				aKID = headerKID(t, tok)
			} else {
				bKID = headerKID(t, tok)
			}
		}
		return aKID, bKID
	}

	clock.Advance(time.Minute)
	next, err := a.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	if next.State != store.KeyNext || !next.ActivateAt.Equal(clock.Now().Add(prepublish)) {
		t.Fatalf("Rotate returned %+v, want a next key activating in %s", next, prepublish)
	}
	if !containsAll(kids(jwksKeys(t, a.JWKS())), oldKID, next.ID) {
		t.Fatal("the next key is not published by the node that rotated")
	}
	if aKID, _ := crossCheck("published on a"); aKID != oldKID {
		t.Fatalf("a signs with %s before the next key activates", aKID)
	}
	if _, err := a.Rotate(ctx, ES256); !errors.Is(err, ErrRotationPending) {
		t.Fatalf("second Rotate while pending: %v, want ErrRotationPending", err)
	}

	clock.Advance(prepublish / 2)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !containsAll(kids(jwksKeys(t, b.JWKS())), oldKID, next.ID) {
		t.Fatal("b does not publish the next key after its refresh")
	}
	crossCheck("published on both")

	// Activation: b refreshes first and signs with the new key; a, not
	// yet refreshed, still signs with the old one. Each accepts the other.
	clock.Advance(prepublish / 2)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if aKID, bKID := crossCheck("activated on b only"); aKID != oldKID || bKID != next.ID {
		t.Fatalf("a signs with %s and b with %s, want %s and %s", aKID, bKID, oldKID, next.ID)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if aKID, bKID := crossCheck("activated on both"); aKID != next.ID || bKID != next.ID {
		t.Fatalf("after both refreshed: a signs with %s, b with %s", aKID, bKID)
	}
	infos, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range infos {
		if k.KID == oldKID && (k.State != store.KeyRetired || !k.RetiredAt.Equal(next.ActivateAt) ||
			!k.PublishUntil.Equal(next.ActivateAt.Add(testMaxTTL))) {
			t.Errorf("old key after activation: %+v", k)
		}
	}

	// RotateNow (a compromised key) signs at once and retires a pending
	// next key, which must never activate over it.
	pending, err := a.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	now, err := a.RotateNow(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(prepublish)
	for _, m := range []*Manager{a, b} {
		if err := m.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if got := m.snap.Load().signers[ES256].id; got != now.ID {
			t.Fatalf("after RotateNow and the pending key's time: signer %s, want %s (pending was %s)", got, now.ID, pending.ID)
		}
	}
}
