package secret

import (
	"encoding/base64"
	"testing"
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
