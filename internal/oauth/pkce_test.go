package oauth

import "testing"

func TestVerifyPKCE(t *testing.T) {
	// RFC 7636 Appendix B.
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	cases := []struct {
		name, verifier string
		want           bool
	}{
		{"RFC 7636 example", verifier, true},
		{"challenge as verifier", challenge, false},
		{"other verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx", false},
		{"empty", "", false},
		{"too short", verifier[:42], false},
		{"bad character", verifier[:42] + "+", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := VerifyPKCE(c.verifier, challenge); got != c.want {
				t.Fatalf("VerifyPKCE = %v, want %v", got, c.want)
			}
		})
	}
}
