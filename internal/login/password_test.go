package login

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// testParams keeps tests fast; production uses OWASPParams.
var testParams = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h := NewHasher(testParams, 2)
	ctx := t.Context()
	stored, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", stored)
	}
	other, _ := h.Hash(ctx, "correct horse battery")
	if other == stored {
		t.Fatal("same hash twice: salt not random")
	}
	cases := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", "correct horse battery", true},
		{"wrong", "correct horse batterx", false},
		{"prefix", "correct horse batter", false},
		{"longer", "correct horse battery!", false},
		{"empty", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, c.pw, stored)
			if err != nil || ok != c.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, c.want)
			}
		})
	}
}

func TestVerifyUnknownUserNeverMatches(t *testing.T) {
	h := NewHasher(testParams, 1)
	for _, pw := range []string{"", "password123", strings.Repeat("a", 128)} {
		if ok, err := h.Verify(t.Context(), pw, ""); ok || err != nil {
			t.Fatalf("unknown user matched %q: %v %v", pw, ok, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	cases := []struct {
		pw string
		ok bool
	}{
		{"1234567", false},
		{"k3#vQ9!z", true},
		{strings.Repeat("é", 8), true}, // characters, not bytes
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false}, // refused, never truncated
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", false},
	}
	for _, c := range cases {
		err := CheckPolicy(c.pw)
		if (err == nil) != c.ok {
			t.Errorf("CheckPolicy(%q) = %v, want ok=%v", c.pw, err, c.ok)
		}
		if _, err := NewHasher(testParams, 1).Hash(t.Context(), c.pw); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrPasswordPolicy)) {
			t.Errorf("Hash(%q) = %v", c.pw, err)
		}
	}
}

// TestCommonPasswordsRefused: a password on the common-password list is
// refused when it is set, whatever its case and surrounding spaces (ASVS
// 5.0 6.2.4), after the length rule; a user who already has one can still
// sign in with it.
func TestCommonPasswordsRefused(t *testing.T) {
	h := NewHasher(testParams, 1)
	for _, pw := range []string{"password", "12345678", "iloveyou", "qwertyuiop", "1qaz2wsx", "trustno1",
		"Password", "PASSWORD", "ILoveYou", " password ", "password1", "baseball", "iloveyou!"} {
		if err := CheckPolicy(pw); !errors.Is(err, ErrCommonPassword) || errors.Is(err, ErrPasswordPolicy) {
			t.Errorf("CheckPolicy(%q) = %v, want ErrCommonPassword", pw, err)
		}
		if _, err := h.Hash(t.Context(), pw); !errors.Is(err, ErrCommonPassword) {
			t.Errorf("Hash(%q) = %v, want ErrCommonPassword", pw, err)
		}
	}
	if !strings.Contains(ErrCommonPassword.Error(), "most common passwords") {
		t.Errorf("message %q does not say what is wrong", ErrCommonPassword)
	}
	// Too short and common: the length rule speaks first.
	if err := CheckPolicy("123456"); !errors.Is(err, ErrPasswordPolicy) {
		t.Errorf("CheckPolicy(123456) = %v, want ErrPasswordPolicy", err)
	}
	for _, pw := range []string{"correct horse battery", "k3#vQ9!zLm", "password is not enough on its own"} {
		if err := CheckPolicy(pw); err != nil {
			t.Errorf("CheckPolicy(%q) = %v, want nil", pw, err)
		}
	}
	// A hash made before the list existed still verifies.
	salt := []byte("0123456789abcdef")
	stored := secret.EncodePHC(testParams, salt, argon2.IDKey([]byte("iloveyou"), salt, testParams.Time, testParams.MemoryKiB, testParams.Threads, 32))
	if ok, err := h.Verify(t.Context(), "iloveyou", stored); !ok || err != nil {
		t.Fatalf("Verify(existing common password) = %v, %v; want a match", ok, err)
	}
}

// TestCommonPasswordList checks the embedded list: at least 10,000
// entries, each lower-case, trimmed, long enough to pass the length rule
// (shorter ones would be dead weight) and listed once.
func TestCommonPasswordList(t *testing.T) {
	seen := map[string]bool{}
	for line := range strings.Lines(commonPasswordsText) {
		pw := strings.TrimSuffix(line, "\n")
		n := utf8.RuneCountInString(pw)
		switch {
		case pw != strings.ToLower(strings.TrimSpace(pw)):
			t.Errorf("entry %q is not lower-case and trimmed", pw)
		case n < MinPasswordLen || n > MaxPasswordLen:
			t.Errorf("entry %q cannot pass the length rule", pw)
		case seen[pw]:
			t.Errorf("entry %q is listed twice", pw)
		}
		seen[pw] = true
	}
	if len(seen) < 10000 || len(commonPasswords()) != len(seen) {
		t.Errorf("%d entries, %d in the set; want at least 10,000", len(seen), len(commonPasswords()))
	}
}

func TestVerifyRejectsBadHashes(t *testing.T) {
	h := NewHasher(testParams, 1)
	for _, stored := range []string{
		"plaintext",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, err := h.Verify(t.Context(), "password", stored); ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrBadHash", stored, ok, err)
		}
	}
}

func BenchmarkArgon2idOWASP(b *testing.B) {
	h := NewHasher(OWASPParams(), 1)
	stored, _ := h.Hash(b.Context(), "correct horse battery")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = h.Verify(b.Context(), "correct horse battery", stored)
	}
}
