package apikey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHashers(t *testing.T) {
	hm, err := NewHMACSHA256(testPepper())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []Hasher{cheapArgon2(), hm} {
		t.Run(h.Alg(), func(t *testing.T) {
			ctx := t.Context()
			key, _ := generate()
			stored, err := h.Hash(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(stored), key[3:]) {
				t.Fatal("stored hash contains the key")
			}
			if ok, err := h.Verify(ctx, key, stored); !ok || err != nil {
				t.Errorf("Verify(right key) = %v, %v", ok, err)
			}
			other, _ := generate()
			if ok, err := h.Verify(ctx, other, stored); ok || err != nil {
				t.Errorf("Verify(wrong key) = %v, %v", ok, err)
			}
			// One character changed.
			flipped := key[:len(key)-1] + string("AB"[0+boolInt(key[len(key)-1] == 'A')])
			if ok, _ := h.Verify(ctx, flipped, stored); ok {
				t.Error("Verify(key with last character changed) = true")
			}
			// The dummy never matches, whatever the key.
			if ok, err := h.Verify(ctx, key, nil); ok || err != nil {
				t.Errorf("Verify(nil stored) = %v, %v; want false, nil", ok, err)
			}
			// Two hashes of one key differ for argon2id (salt), agree for HMAC.
			again, _ := h.Hash(ctx, key)
			if same := string(again) == string(stored); same != (h.Alg() == "hmac-sha256") {
				t.Errorf("two hashes of one key equal = %v", same)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestHMACPepperDifferentPepperDoesNotVerify(t *testing.T) {
	a, _ := NewHMACSHA256(testPepper())
	other := testPepper()
	other[0] ^= 1
	b, _ := NewHMACSHA256(other)
	key, _ := generate()
	stored, _ := a.Hash(t.Context(), key)
	if ok, _ := b.Verify(t.Context(), key, stored); ok {
		t.Fatal("a hash made under one pepper verified under another")
	}
	if _, err := NewHMACSHA256(make([]byte, 31)); err == nil {
		t.Error("NewHMACSHA256 accepted a 31-byte pepper")
	}
}

func TestArgon2idRejectsBadStoredHashes(t *testing.T) {
	h := cheapArgon2()
	key, _ := generate()
	for _, stored := range []string{
		"", "garbage", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 1 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := h.Verify(t.Context(), key, []byte(stored)); !errors.Is(err, ErrBadHash) {
			t.Errorf("Verify(stored %q) = %v, want ErrBadHash", stored, err)
		}
	}
}

func TestReadPepperFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := testPepper()
	for name, content := range map[string]string{
		"b64":     "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n",
		"b64 raw": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA",
		"hex":     "  0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20  \n",
	} {
		got, err := ReadPepperFile(write(name, content, 0o600))
		if err != nil || string(got) != string(want) {
			t.Errorf("ReadPepperFile(%s) = %x, %v; want %x", name, got, err, want)
		}
	}
	for name, c := range map[string]struct {
		content string
		mode    os.FileMode
	}{
		"group-readable": {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", 0o640},
		"too short":      {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==", 0o600}, // 31 bytes
		"not encoded":    {"this is not base64 or hex, it is prose!!!!!!", 0o600},
		"empty":          {"", 0o600},
	} {
		if _, err := ReadPepperFile(write(name, c.content, c.mode)); err == nil {
			t.Errorf("ReadPepperFile(%s) = nil error", name)
		}
	}
	if _, err := ReadPepperFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadPepperFile(missing) = nil error")
	}
}
