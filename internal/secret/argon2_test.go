package secret

import (
	"bytes"
	"errors"
	"testing"
)

func TestPHCRoundTripAndBounds(t *testing.T) {
	p := OWASPArgon2()
	salt, key := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)
	s := EncodePHC(p, salt, key)
	if s != "$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI" {
		t.Fatalf("EncodePHC = %s", s)
	}
	gp, gs, gk, err := DecodePHC(s)
	if err != nil || gp != p || !bytes.Equal(gs, salt) || !bytes.Equal(gk, key) {
		t.Fatalf("DecodePHC = %v %x %x %v", gp, gs, gk, err)
	}
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=16$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=4194304,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=99,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=2,p=0$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=2,p=1$AQE$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
		"$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgI",
		"$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI$",
	} {
		if _, _, _, err := DecodePHC(bad); !errors.Is(err, ErrBadPHC) {
			t.Errorf("DecodePHC(%q) = %v, want ErrBadPHC", bad, err)
		}
	}
}
