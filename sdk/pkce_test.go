package sdk

import (
	"errors"
	"strings"
	"testing"
)

// RFC 7636 Appendix B's worked example.
func TestS256ChallengeRFC7636AppendixB(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const want = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := S256Challenge(verifier); got != want {
		t.Fatalf("S256Challenge = %s, want %s", got, want)
	}
}

func TestNewPKCE(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p, err := NewPKCE()
		if err != nil {
			t.Fatal(err)
		}
		if p.ChallengeMethod != "S256" {
			t.Fatalf("method %q, want S256", p.ChallengeMethod)
		}
		if !ValidVerifier(p.Verifier) || len(p.Verifier) != 43 {
			t.Fatalf("verifier %q is not a 43-char RFC 7636 verifier", p.Verifier)
		}
		if ok, err := VerifyS256(p.Verifier, p.Challenge); !ok || err != nil {
			t.Fatalf("own challenge does not verify: %v %v", ok, err)
		}
		if seen[p.Verifier] {
			t.Fatal("repeated verifier")
		}
		seen[p.Verifier] = true
	}
}

func TestVerifyS256(t *testing.T) {
	p, _ := NewPKCE()
	other, _ := NewPKCE()
	cases := []struct {
		name     string
		verifier string
		ok       bool
		err      error
	}{
		{"right verifier", p.Verifier, true, nil},
		{"another session's verifier", other.Verifier, false, nil},
		{"challenge replayed as verifier", p.Challenge, false, nil},
		{"empty", "", false, ErrBadVerifier},
		{"too short", p.Verifier[:42], false, ErrBadVerifier},
		{"too long", strings.Repeat("a", 129), false, ErrBadVerifier},
		{"bad character", p.Verifier[:42] + "+", false, ErrBadVerifier},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := VerifyS256(c.verifier, p.Challenge)
			if ok != c.ok || !errors.Is(err, c.err) {
				t.Fatalf("VerifyS256 = %v, %v; want %v, %v", ok, err, c.ok, c.err)
			}
		})
	}
}

func TestStateAndNonceAreUnique(t *testing.T) {
	a, _ := NewState()
	b, _ := NewState()
	n, _ := NewNonce()
	if a == b || a == n || len(a) != 43 {
		t.Fatalf("weak randomness: %q %q %q", a, b, n)
	}
}

func FuzzVerifyS256(f *testing.F) {
	f.Add("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	f.Add("", "")
	f.Add(strings.Repeat("~", 128), "x")
	f.Fuzz(func(t *testing.T, verifier, challenge string) {
		ok, err := VerifyS256(verifier, challenge)
		if ok && err != nil {
			t.Fatal("ok with error")
		}
		if ok && S256Challenge(verifier) != challenge {
			t.Fatal("accepted a non-matching pair")
		}
		if err == nil && !ValidVerifier(verifier) {
			t.Fatal("invalid verifier passed syntax check")
		}
	})
}
