package apikey

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the raw read
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for the raw read

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// TestKEY01_NoKeyMaterialInTable creates keys through the Service under
// both hash modes on both backends, then reads every column of api_keys
// raw and checks that no key material appears in any form: the whole key,
// its random part, its secret part (everything after the stored prefix),
// or the random bytes and secret bytes raw, hex or base64.
func TestKEY01_NoKeyMaterialInTable(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if _, err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkNoKeyMaterial(t, st, "sqlite", path)
	})
	t.Run("postgres", func(t *testing.T) {
		url := testsvc.PostgresSchema(t)
		st, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if _, err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkNoKeyMaterial(t, st, "pgx", url)
	})
}

func checkNoKeyMaterial(t *testing.T, st store.Store, driver, dsn string) {
	ctx := context.Background()
	if err := st.CreateRole(ctx, store.Role{Name: "deployer"}); err != nil {
		t.Fatal(err)
	}
	hm, err := NewHMACSHA256(testPepper())
	if err != nil {
		t.Fatal(err)
	}
	var plains []string
	for _, h := range []Hasher{cheapArgon2(), hm} {
		svc, err := New(Config{Store: st, Hasher: h})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			p, k, err := svc.Create(ctx, CreateRequest{Name: "ci", Roles: []string{"deployer"}, Scopes: []string{"api"}})
			if err != nil {
				t.Fatal(err)
			}
			plains = append(plains, p)
			if _, err := svc.Verify(ctx, p, "192.0.2.1"); err != nil {
				t.Fatalf("Verify(created key) = %v", err)
			}
			// Rotation writes a second row through another path.
			if k.HashAlg == store.APIKeyHashHMACSHA256 {
				p2, _, err := svc.Rotate(ctx, k.ID, 0)
				if err != nil {
					t.Fatal(err)
				}
				plains = append(plains, p2)
			}
		}
	}

	needles := map[string][]byte{}
	add := func(name string, b []byte) {
		needles[name+" raw"] = b
		needles[name+" hex"] = []byte(hex.EncodeToString(b))
		needles[name+" HEX"] = bytes.ToUpper([]byte(hex.EncodeToString(b)))
		for ename, enc := range map[string]*base64.Encoding{
			"std": base64.StdEncoding, "raw std": base64.RawStdEncoding,
			"url": base64.URLEncoding, "raw url": base64.RawURLEncoding,
		} {
			// Drop the last, padding-dependent quad so the needle matches
			// however the value would be cut or padded.
			e := enc.EncodeToString(b)
			needles[name+" base64 "+ename] = []byte(e[:len(e)-4])
		}
	}
	for i, p := range plains {
		random := p[3:]
		raw, err := base64.RawURLEncoding.DecodeString(random)
		if err != nil {
			t.Fatal(err)
		}
		needles[fmt.Sprintf("key %d", i)] = []byte(p)
		needles[fmt.Sprintf("key %d random part", i)] = []byte(random)
		needles[fmt.Sprintf("key %d secret part", i)] = []byte(random[PrefixLen:])
		add(fmt.Sprintf("key %d random bytes", i), raw)
		// PrefixLen characters are exactly 6 bytes, so the secret part is
		// the rest of the bytes.
		add(fmt.Sprintf("key %d secret bytes", i), raw[PrefixLen*6/8:])
	}
	find := func(col []byte) (string, bool) {
		for name, n := range needles {
			if bytes.Contains(col, n) {
				return name, true
			}
		}
		return "", false
	}
	// The scan is not vacuous: it finds a leaked secret part.
	if _, ok := find([]byte("x" + plains[0][3+PrefixLen:] + "x")); !ok {
		t.Fatal("scanner misses a secret part")
	}

	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cols, rows := testsvc.RawCells(t, db, `SELECT * FROM api_keys`)
	n, prefixesSeen := len(rows), 0
	for r, row := range rows {
		for i, b := range row {
			if name, ok := find(b); ok {
				t.Errorf("row %d column %s holds %s", r+1, cols[i], name)
			}
			if cols[i] == "prefix" {
				for _, p := range plains {
					if string(b) == p[3:3+PrefixLen] {
						prefixesSeen++
					}
				}
			}
		}
	}
	if n != len(plains) || prefixesSeen != len(plains) {
		t.Fatalf("read %d rows raw with %d known prefixes, want %d of each", n, prefixesSeen, len(plains))
	}
}
