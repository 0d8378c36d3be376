package apikey

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestKEY01_GeneratedKeyFormat: "sk_" + 43 base64url characters (256
// random bits), of which the first PrefixLen are the stored prefix and the
// remaining 208 bits are secret (KEY-01 asks for at least 128).
func TestKEY01_GeneratedKeyFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		key, prefix := generate()
		r, ok := strings.CutPrefix(key, "sk_")
		if !ok || len(r) != 43 {
			t.Fatalf("key %q: want sk_ + 43 characters", key)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(r)
		if err != nil || len(raw) != RandomBytes {
			t.Fatalf("key %q: random part is not %d bytes of base64url: %v", key, RandomBytes, err)
		}
		if prefix != r[:8] || len(prefix) != PrefixLen {
			t.Fatalf("prefix %q, want the first 8 characters of %q", prefix, r)
		}
		if secretBits := (len(r) - PrefixLen) * 6; secretBits < 128 {
			t.Fatalf("secret part has %d bits", secretBits)
		}
		if got, ok := parse(key); !ok || got != prefix {
			t.Fatalf("parse(generated key) = %q, %v", got, ok)
		}
		if seen[key] {
			t.Fatal("generate repeated a key")
		}
		seen[key] = true
	}
}

var malformedKeys = map[string]string{
	"empty":              "",
	"sk_ alone":          "sk_",
	"sk_ + 10 KB":        "sk_" + strings.Repeat("A", 10<<10),
	"too short":          "sk_" + strings.Repeat("A", 42),
	"too long":           "sk_" + strings.Repeat("A", 87),
	"upper-case SK_":     "SK_" + strings.Repeat("A", 43),
	"no prefix":          strings.Repeat("A", 46),
	"leading space":      " sk_" + strings.Repeat("A", 43),
	"trailing space":     "sk_" + strings.Repeat("A", 43) + " ",
	"trailing newline":   "sk_" + strings.Repeat("A", 43) + "\n",
	"non-ASCII":          "sk_" + strings.Repeat("A", 40) + "é",
	"std base64 chars":   "sk_" + strings.Repeat("A", 42) + "+",
	"padding":            "sk_" + strings.Repeat("A", 43) + "=",
	"NUL":                "sk_" + strings.Repeat("A", 42) + "\x00",
	"Bearer-prefixed":    "Bearer sk_" + strings.Repeat("A", 43),
	"percent-encoded":    "sk_" + strings.Repeat("A", 40) + "%41",
	"invalid UTF-8":      "sk_" + strings.Repeat("A", 42) + "\xff",
	"other prefix sk-":   "sk-" + strings.Repeat("A", 43),
	"double prefix sk_":  "sk_sk_" + strings.Repeat("A", 40),
	"prefix only letter": "s",
}

// TestKEY04_ParseRejectsMalformedKeys covers the KEY-04 inputs at this
// layer (the HTTP status for each is the HTTP layer's).
func TestKEY04_ParseRejectsMalformedKeys(t *testing.T) {
	for name, key := range malformedKeys {
		if name == "double prefix sk_" {
			continue // well-formed: "sk_" is valid base64url
		}
		if p, ok := parse(key); ok {
			t.Errorf("parse(%s) = %q, true; want rejected", name, p)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range malformedKeys {
		f.Add(k)
	}
	key, _ := generate()
	f.Add(key)
	f.Fuzz(func(t *testing.T, key string) {
		p, ok := parse(key)
		if !ok {
			return
		}
		if !strings.HasPrefix(key, "sk_") || len(p) != PrefixLen || key[3:3+PrefixLen] != p {
			t.Fatalf("parse(%q) = %q", key, p)
		}
	})
}
