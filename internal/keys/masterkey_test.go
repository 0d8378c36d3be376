package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyWithSpecials encodes to base64 text containing '+' and '/' in the
// standard alphabet ('-' and '_' in the URL one), so each alphabet is
// really exercised.
func keyWithSpecials() []byte {
	k := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)
	return k[:MasterKeySize]
}

func TestParseMasterKey(t *testing.T) {
	k := keyWithSpecials()
	tests := []struct {
		name string
		in   string
		want []byte
		err  error
	}{
		{"std padded", base64.StdEncoding.EncodeToString(k), k, nil},
		{"std unpadded", base64.RawStdEncoding.EncodeToString(k), k, nil},
		{"url padded", base64.URLEncoding.EncodeToString(k), k, nil},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(k), k, nil},
		{"hex lower", hex.EncodeToString(k), k, nil},
		{"hex upper", strings.ToUpper(hex.EncodeToString(k)), k, nil},
		{"trailing newline", base64.StdEncoding.EncodeToString(k) + "\n", k, nil},
		{"surrounding space", "  " + hex.EncodeToString(k) + " \r\n", k, nil},
		{"empty", "", nil, ErrInvalidMasterKey},
		{"31 bytes base64", base64.StdEncoding.EncodeToString(k[:31]), nil, ErrInvalidMasterKey},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(append(k, 1)), nil, ErrInvalidMasterKey},
		{"16 bytes base64", base64.StdEncoding.EncodeToString(k[:16]), nil, ErrInvalidMasterKey},
		{"31 bytes hex", hex.EncodeToString(k[:31]), nil, ErrInvalidMasterKey},
		{"33 bytes hex", hex.EncodeToString(append(k, 1)), nil, ErrInvalidMasterKey},
		{"64 chars not hex", strings.Repeat("g", 64), nil, ErrInvalidMasterKey},
		{"mixed alphabets", strings.Replace(base64.StdEncoding.EncodeToString(k), "/", "_", 1), nil, ErrInvalidMasterKey},
		{"inner space", base64.StdEncoding.EncodeToString(k)[:20] + " " + base64.StdEncoding.EncodeToString(k)[20:], nil, ErrInvalidMasterKey},
		{"garbage", "not a key at all", nil, ErrInvalidMasterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMasterKey(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("key = %x, want %x", got, tt.want)
			}
			if err != nil && tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Fatalf("error %q echoes the key text", err)
			}
		})
	}
}

func FuzzParseMasterKey(f *testing.F) {
	k := keyWithSpecials()
	f.Add(base64.StdEncoding.EncodeToString(k))
	f.Add(base64.RawURLEncoding.EncodeToString(k))
	f.Add(hex.EncodeToString(k))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseMasterKey(s)
		if err == nil && len(key) != MasterKeySize {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		if err != nil && !errors.Is(err, ErrInvalidMasterKey) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func TestLoadOrCreateMasterKeyFile(t *testing.T) {
	k := keyWithSpecials()
	tests := []struct {
		name        string
		content     string // written before the call unless empty
		mode        os.FileMode
		create      bool
		wantKey     []byte // nil: any 32 bytes
		wantCreated bool
		err         error
	}{
		{name: "absent, create", create: true, wantCreated: true},
		{name: "absent, no create", create: false, err: ErrMasterKeyMissing},
		{name: "existing 0600", content: base64.StdEncoding.EncodeToString(k) + "\n", mode: 0o600, wantKey: k},
		{name: "existing 0400 hex", content: hex.EncodeToString(k), mode: 0o400, wantKey: k},
		{name: "existing not overwritten", content: base64.RawURLEncoding.EncodeToString(k) + "\n", mode: 0o600, create: true, wantKey: k},
		{name: "refused 0644", content: hex.EncodeToString(k), mode: 0o644, create: true, err: ErrMasterKeyFileMode},
		{name: "refused 0640", content: hex.EncodeToString(k), mode: 0o640, err: ErrMasterKeyFileMode},
		{name: "refused 0604", content: hex.EncodeToString(k), mode: 0o604, err: ErrMasterKeyFileMode},
		{name: "bad content", content: "short\n", mode: 0o600, create: true, err: ErrInvalidMasterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil { // beat the umask
					t.Fatal(err)
				}
			}
			key, created, err := LoadOrCreateMasterKeyFile(path, tt.create)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if created != tt.wantCreated {
				t.Fatalf("created = %v, want %v", created, tt.wantCreated)
			}
			if err != nil {
				return
			}
			if len(key) != MasterKeySize || (tt.wantKey != nil && !bytes.Equal(key, tt.wantKey)) {
				t.Fatalf("key = %x, want %x", key, tt.wantKey)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCreated && fi.Mode().Perm() != 0o600 {
				t.Fatalf("created with mode %04o, want 0600", fi.Mode().Perm())
			}
			if tt.content != "" {
				if b, _ := os.ReadFile(path); string(b) != tt.content {
					t.Fatalf("file rewritten: %q", b)
				}
			}
		})
	}
}

func TestMasterKeyFileCreatedThenReread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k1, created, err := LoadOrCreateMasterKeyFile(path, true)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	k2, created, err := LoadOrCreateMasterKeyFile(path, true)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second call returned another key: the file was overwritten")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := base64.RawURLEncoding.DecodeString(strings.TrimSuffix(string(b), "\n")); err != nil || !bytes.Equal(got, k1) {
		t.Fatalf("file content %q is not the key as unpadded base64url", b)
	}
}

func TestMasterKeyMissingMessage(t *testing.T) {
	_, _, err := LoadOrCreateMasterKeyFile(filepath.Join(t.TempDir(), "nope.key"), false)
	if !errors.Is(err, ErrMasterKeyMissing) || !strings.Contains(err.Error(), "GATEHOUSE_MASTER_KEY") {
		t.Fatalf("err = %v; want ErrMasterKeyMissing naming GATEHOUSE_MASTER_KEY", err)
	}
}
