package token

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifiedCacheEvictsPart: a full cache of live entries makes room by
// dropping a tenth of them, not by starting over; expired entries go first.
func TestVerifiedCacheEvictsPart(t *testing.T) {
	now := time.Now()
	c := newVerifiedCache()
	live := &AccessClaims{}
	live.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	for i := range maxVerified {
		c.put(key(i), live, now)
	}
	c.put(key(maxVerified), live, now)
	kept := 0
	for i := range maxVerified {
		if _, ok := c.get(key(i), now); ok {
			kept++
		}
	}
	if want := maxVerified - maxVerified/10; kept < want-1 || kept >= maxVerified {
		t.Errorf("after one put into a full cache, %d of %d entries kept; want about %d", kept, maxVerified, want)
	}
	if _, ok := c.get(key(maxVerified), now); !ok {
		t.Error("the entry just put is missing")
	}

	// Expired entries make room before any live one goes.
	c = newVerifiedCache()
	dead := &AccessClaims{}
	dead.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
	for i := range maxVerified {
		cl := live
		if i%2 == 0 {
			cl = dead
		}
		c.put(key(i), cl, now)
	}
	c.put(key(maxVerified), live, now)
	for i := 1; i < maxVerified; i += 2 {
		if _, ok := c.get(key(i), now); !ok {
			t.Fatalf("live entry %d evicted while expired ones could go", i)
		}
	}
}
