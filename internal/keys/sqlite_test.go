package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for the raw read

	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// TestNoPlaintextPrivateKeyInKeyTable stores keys of every algorithm through
// the real SQLite backend, then reads every column of signing_keys raw and
// checks that no private key material appears in any form: the PKCS#8 DER,
// the raw private scalars, or their base64, base64url or hex encodings.
func TestNoPlaintextPrivateKeyInKeyTable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	m := newTestManager(t, st, clock, nil)
	for _, alg := range []string{EdDSA, ES256, RS256} { // ES256 and RS256 leave a retired key behind
		if _, err := m.Rotate(ctx, alg); err != nil {
			t.Fatal(err)
		}
	}

	// The plaintext secrets, recovered through the master key.
	stored, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 5 {
		t.Fatalf("store holds %d keys, want 5", len(stored))
	}
	var secrets [][]byte
	for _, r := range stored {
		der, err := m.sealer.open(r.SealedPrivate, r.ID, r.Algorithm)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, der)
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		switch k := parsed.(type) {
		case *ecdsa.PrivateKey:
			d, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, d)
		case *rsa.PrivateKey:
			secrets = append(secrets, k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes(),
				k.Precomputed.Dp.Bytes(), k.Precomputed.Dq.Bytes(), k.Precomputed.Qinv.Bytes())
		case ed25519.PrivateKey:
			secrets = append(secrets, k.Seed(), []byte(k))
		default:
			t.Fatalf("unexpected key type %T", parsed)
		}
	}
	needles := make(map[string][]byte)
	for i, s := range secrets {
		needles[fmt.Sprintf("secret %d raw", i)] = s
		needles[fmt.Sprintf("secret %d hex", i)] = []byte(hex.EncodeToString(s))
		for name, enc := range map[string]*base64.Encoding{
			"std": base64.StdEncoding, "raw std": base64.RawStdEncoding,
			"url": base64.URLEncoding, "raw url": base64.RawURLEncoding,
		} {
			// Drop the last, padding-dependent quad so the needle matches
			// however the value would be cut or padded.
			e := enc.EncodeToString(s)
			needles[fmt.Sprintf("secret %d base64 %s", i, name)] = []byte(e[:len(e)-4])
		}
	}
	find := func(col []byte) (string, bool) {
		for name, n := range needles {
			if bytes.Contains(col, n) {
				return name, true
			}
		}
		return "", false
	}
	// The scan is not vacuous: it does find a leaked key.
	if _, ok := find([]byte("x" + base64.StdEncoding.EncodeToString(secrets[0]) + "x")); !ok {
		t.Fatal("scanner misses a base64 DER")
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cols, rows := testsvc.RawCells(t, db, `SELECT * FROM signing_keys`)
	n := len(rows)
	for r, row := range rows {
		for i, b := range row {
			if name, ok := find(b); ok {
				t.Errorf("row %d column %s holds %s", r+1, cols[i], name)
			}
		}
	}
	if n != len(stored) {
		t.Fatalf("read %d rows raw, want %d", n, len(stored))
	}

	// Another node on the same database serves the same key set.
	m2 := newTestManager(t, st, clock, nil)
	if !bytes.Equal(m.JWKS(), m2.JWKS()) {
		t.Fatalf("nodes disagree:\n%s\n%s", m.JWKS(), m2.JWKS())
	}
}
