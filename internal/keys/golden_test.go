package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/jwks.golden.json (and create testdata/signing_keys.json if missing)")

const (
	fixtureKeysFile = "testdata/signing_keys.json"
	goldenJWKSFile  = "testdata/jwks.golden.json"
)

// fixtureKey is a store row as kept in testdata: sealed under
// testMasterKey, so the golden JWKS is built from fixed key material through
// the same path as production (open, check, render).
type fixtureKey struct {
	ID            string          `json:"id"`
	Algorithm     string          `json:"alg"`
	State         store.KeyState  `json:"state"`
	PublicJWK     json.RawMessage `json:"public_jwk"`
	SealedPrivate []byte          `json:"sealed_private"`
	CreatedAt     time.Time       `json:"created_at"`
	RetiredAt     time.Time       `json:"retired_at,omitzero"`
	PublishUntil  time.Time       `json:"publish_until,omitzero"`
}

// generateFixture creates the fixture rows once: a retired and an active
// ES256 key, an RS256 key and an EdDSA key, around the fake clock's time.
func generateFixture(t *testing.T) []byte {
	t.Helper()
	s := mustSealer(t, testMasterKey())
	now := newFakeClock().Now()
	var rows []fixtureKey
	add := func(alg string, created time.Time, retire bool) {
		r, err := s.newSigningKey(alg, created)
		if err != nil {
			t.Fatal(err)
		}
		f := fixtureKey{ID: r.ID, Algorithm: r.Algorithm, State: r.State, PublicJWK: r.PublicJWK,
			SealedPrivate: r.SealedPrivate, CreatedAt: r.CreatedAt}
		if retire {
			f.State = store.KeyRetired
			f.RetiredAt = now.Add(-24 * time.Hour)
			f.PublishUntil = now.Add(time.Hour)
		}
		rows = append(rows, f)
	}
	add(ES256, now.Add(-30*24*time.Hour), true)
	add(RS256, now.Add(-30*24*time.Hour), false)
	add(EdDSA, now.Add(-30*24*time.Hour), false)
	add(ES256, now.Add(-24*time.Hour), false)
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func loadFixture(t *testing.T) *memStore {
	t.Helper()
	b, err := os.ReadFile(fixtureKeysFile)
	if errors.Is(err, fs.ErrNotExist) && *update {
		b = generateFixture(t)
		if err := os.WriteFile(fixtureKeysFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatalf("%v (run go test -run TestJWKSGolden -update to create it)", err)
	}
	var rows []fixtureKey
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	for _, r := range rows {
		st.keys = append(st.keys, store.SigningKey{
			ID: r.ID, Algorithm: r.Algorithm, State: r.State, PublicJWK: r.PublicJWK,
			SealedPrivate: r.SealedPrivate, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, PublishUntil: r.PublishUntil,
		})
	}
	return st
}

func TestJWKSGolden(t *testing.T) {
	st := loadFixture(t)
	clock := newFakeClock()
	m := newTestManager(t, st, clock, nil)
	got := m.JWKS()

	// Independent of the golden file: every key well-formed, order by alg
	// then creation time, the retired ES256 key first among ES256.
	keys := jwksKeys(t, got)
	if a := algs(keys); !equalStrings(a, []string{ES256, ES256, EdDSA, RS256}) {
		t.Fatalf("JWKS algs = %v", a)
	}
	if keys[0]["kid"] != st.keys[0].ID {
		t.Fatalf("first key %v, want the older (retired) ES256 key %s", keys[0]["kid"], st.keys[0].ID)
	}

	if *update {
		if err := os.WriteFile(goldenJWKSFile, append(bytes.Clone(got), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.Clean(goldenJWKSFile))
	if err != nil {
		t.Fatalf("%v (run go test -run TestJWKSGolden -update)", err)
	}
	if !bytes.Equal(append(bytes.Clone(got), '\n'), want) {
		t.Fatalf("JWKS differs from %s (rerun with -update if intended):\ngot  %s\nwant %s", goldenJWKSFile, got, want)
	}

	// Nothing was created: the fixture already has every key needed.
	if len(st.keys) != 4 {
		t.Fatalf("store holds %d keys, want the 4 fixture keys", len(st.keys))
	}
	// An hour later the retired key has left.
	clock.Advance(time.Hour)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := algs(jwksKeys(t, m.JWKS())); !equalStrings(a, []string{ES256, EdDSA, RS256}) {
		t.Fatalf("JWKS algs after expiry = %v", a)
	}
}
