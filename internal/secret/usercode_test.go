package secret

import (
	"strings"
	"testing"
)

func TestUserCode(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		c := UserCode()
		if len(c) != 9 || c[4] != '-' {
			t.Fatalf("UserCode() = %q, want XXXX-XXXX", c)
		}
		n, ok := NormalizeUserCode(c)
		if !ok || n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("NormalizeUserCode(%q) = %q, %v", c, n, ok)
		}
		for _, r := range n {
			counts[r]++
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("%d distinct codes in 2000", len(seen))
	}
	if len(counts) != len(UserCodeAlphabet) {
		t.Errorf("letters used: %d, want all %d", len(counts), len(UserCodeAlphabet))
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdf-ghjk": "BCDFGHJK", "bcdfghjk": "BCDFGHJK", " BCDF GHJK ": "BCDFGHJK", "B-C-D-F-G-H-J-K": "BCDFGHJK",
	} {
		if got, ok := NormalizeUserCode(in); !ok || got != want {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "BCDF-GHJA", "BCDF-GHJ1", "BCDF\x00GHJK", "ＢCDF-GHJK", strings.Repeat("-", 40) + "BCDFGHJK"} {
		if got, ok := NormalizeUserCode(in); ok {
			t.Errorf("NormalizeUserCode(%q) = %q, want refusal", in, got)
		}
	}
}
