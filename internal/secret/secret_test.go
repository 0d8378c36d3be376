package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenAndIDEntropyAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, id := Token(), ID()
		for _, c := range []struct {
			v     string
			bytes int
		}{{tok, 32}, {id, 16}} {
			raw, err := base64.RawURLEncoding.DecodeString(c.v)
			if err != nil || len(raw) != c.bytes {
				t.Fatalf("%q: %d bytes, %v; want %d", c.v, len(raw), err, c.bytes)
			}
		}
		if seen[tok] || seen[id] {
			t.Fatal("repeated value")
		}
		seen[tok], seen[id] = true, true
	}
}

func TestMatches(t *testing.T) {
	tok := Token()
	stored := Hash(tok)
	cases := []struct {
		name      string
		presented string
		stored    []byte
		want      bool
	}{
		{"right secret", tok, stored, true},
		{"other secret", Token(), stored, false},
		{"empty", "", stored, false},
		{"prefix", tok[:42], stored, false},
		{"stored hash empty (public client)", tok, nil, false},
		{"stored hash truncated", tok, stored[:16], false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Matches(c.presented, c.stored); got != c.want {
				t.Fatalf("Matches = %v, want %v", got, c.want)
			}
		})
	}
}

// TestOrderedValuesSortByTime: ids and stored token keys made later sort
// after earlier ones (what keeps their index inserts together), whatever
// the random part, and every character is URL-safe.
func TestOrderedValuesSortByTime(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	var prevID, prevKey string
	for i := range 2000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		id := orderedEncoding.EncodeToString(orderedBytes(16, at))
		tok := orderedEncoding.EncodeToString(orderedBytes(6, at)) + Token()
		key := string(OrderedHash(tok))
		if len(id) != 22 || len(tok) != 51 || len(key) != 6+sha256.Size {
			t.Fatalf("lengths: id %d, token %d, key %d; want 22, 51, 38", len(id), len(tok), len(key))
		}
		if strings.Trim(id+tok[:8], "_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" || url.QueryEscape(id+tok) != id+tok {
			t.Fatalf("%q or %q is not URL-safe", id, tok)
		}
		if id[0] == '-' || tok[0] == '-' {
			t.Fatalf("%q or %q starts with a dash, which command lines take for a flag", id, tok)
		}
		if id <= prevID || key <= prevKey {
			t.Fatalf("made at +%d ms: id %q after %q, key %x after %x: not in time order", i, id, prevID, key, prevKey)
		}
		prevID, prevKey = id, key
	}
	if a, b := OrderedID(), OrderedID(); a == b {
		t.Fatal("repeated OrderedID")
	}
}

// TestOrderedHash: a token of OrderedToken is found by its time prefix and
// the SHA-256 of the whole token; anything else (tokens of Token, made
// before refresh tokens were ordered, and garbage) by its plain Hash.
func TestOrderedHash(t *testing.T) {
	tok := OrderedToken()
	key := OrderedHash(tok)
	sum := sha256.Sum256([]byte(tok))
	if prefix, _ := orderedEncoding.DecodeString(tok[:8]); !bytes.Equal(key, append(prefix, sum[:]...)) {
		t.Errorf("OrderedHash(%q) = %x, want its prefix and SHA-256", tok, key)
	}
	if bytes.Equal(OrderedHash(OrderedToken()), key) {
		t.Error("two tokens share a key")
	}
	legacy := Token()
	for _, s := range []string{legacy, "", tok[:50], tok + "x", "--------" + tok[8:]} {
		if got := OrderedHash(s); !bytes.Equal(got, Hash(s)) {
			t.Errorf("OrderedHash(%q) = %x, want the plain Hash", s, got)
		}
	}
}
