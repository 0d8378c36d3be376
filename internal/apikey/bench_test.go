package apikey

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// benchService returns a service with one key over SQLite, and the key.
func benchService(b *testing.B, h Hasher, cacheTTL time.Duration) (*Service, string) {
	st := testsvc.SQLite(b)
	if err := st.CreateRole(b.Context(), store.Role{Name: "deployer"}); err != nil {
		b.Fatal(err)
	}
	svc, err := New(Config{Store: st, Hasher: h, CacheTTL: cacheTTL})
	if err != nil {
		b.Fatal(err)
	}
	plain, _, err := svc.Create(b.Context(), CreateRequest{Name: "bench", Roles: []string{"deployer"}})
	if err != nil {
		b.Fatal(err)
	}
	return svc, plain
}

func benchVerify(b *testing.B, svc *Service, plain string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Verify(b.Context(), plain, "192.0.2.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached is a busy key: every call after the first within a
// second is answered from the cache.
func BenchmarkVerifyCached(b *testing.B) {
	svc, plain := benchService(b, NewArgon2id(OWASPParams(), 0), 0)
	benchVerify(b, svc, plain)
}

// BenchmarkVerifyArgon2id is an uncached check with the default hash:
// store lookup plus one argon2id run (19 MiB, t=2).
func BenchmarkVerifyArgon2id(b *testing.B) {
	svc, plain := benchService(b, NewArgon2id(OWASPParams(), 0), -1)
	benchVerify(b, svc, plain)
}

// BenchmarkVerifyHMAC is an uncached check in hmac-sha256 mode: store
// lookup plus one HMAC.
func BenchmarkVerifyHMAC(b *testing.B) {
	hm, err := NewHMACSHA256(testPepper())
	if err != nil {
		b.Fatal(err)
	}
	svc, plain := benchService(b, hm, -1)
	benchVerify(b, svc, plain)
}
