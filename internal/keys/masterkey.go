package keys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// MasterKeySize is the length in bytes of the master key: an AES-256 key.
const MasterKeySize = 32

// maxMasterKeyFileSize bounds how much of a master key file is read; a valid
// file is under 100 bytes, so anything larger is not a key file.
const maxMasterKeyFileSize = 4096

// Master key errors.
var (
	// ErrInvalidMasterKey reports a master key that is not 32 bytes encoded
	// as base64 (standard or URL alphabet, padded or not) or 64 hex digits.
	ErrInvalidMasterKey = errors.New("keys: invalid master key: want 32 bytes as base64 or 64 hex characters")
	// ErrMasterKeyMissing reports that no master key file exists and none may
	// be created.
	ErrMasterKeyMissing = errors.New("keys: no master key")
	// ErrMasterKeyFileMode reports a master key file readable by group or
	// others.
	ErrMasterKeyFileMode = errors.New("keys: master key file is readable by group or others")
)

// ParseMasterKey decodes a master key given as text: 32 bytes encoded as
// base64 (standard or URL alphabet, with or without padding) or as 64 hex
// characters. Surrounding white space, such as a trailing newline, is
// ignored. Errors never include the key text.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*MasterKeySize {
		// 64 characters cannot be base64 of 32 bytes (that is 43 or 44), so
		// there is no ambiguity in trying hex first.
		k, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: 64 characters but not hex", ErrInvalidMasterKey)
		}
		return k, nil
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		k, err := enc.Strict().DecodeString(s)
		if err == nil && len(k) == MasterKeySize {
			return k, nil
		}
	}
	return nil, ErrInvalidMasterKey
}

// LoadOrCreateMasterKeyFile reads the master key from the file at path, in
// any encoding ParseMasterKey accepts. It refuses a file that group or others
// may read (mode & 0o077 != 0), because the key unlocks every signing key.
//
// When the file does not exist and create is true (dev mode), it writes 32
// random bytes as unpadded base64url with mode 0600, refusing to replace a
// file that appears meanwhile, and reports created = true so the caller can
// warn. When create is false, a missing file is an error that says how to
// provide the key.
func LoadOrCreateMasterKeyFile(path string, create bool) (key []byte, created bool, err error) {
	key, err = readMasterKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if !create {
		return nil, false, fmt.Errorf("%w: %s does not exist; set GATEHOUSE_MASTER_KEY to 32 random bytes "+
			"as base64 or hex (for example the output of `openssl rand -base64 32`), "+
			"or write such a key to %s with mode 0600", ErrMasterKeyMissing, path, path)
	}
	key = make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("keys: generating master key: %w", err)
	}
	// O_EXCL: never overwrite a key that another process wrote meanwhile;
	// overwriting would orphan every key sealed under the old one.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: the operator's configured key file
	if errors.Is(err, fs.ErrExist) {
		key, err = readMasterKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("keys: creating master key file: %w", err)
	}
	_, werr := f.WriteString(base64.RawURLEncoding.EncodeToString(key) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, fmt.Errorf("keys: writing master key file %s: %w", path, werr)
	}
	return key, true, nil
}

// readMasterKeyFile checks the mode of the opened file (not of the path, so
// the file checked is the file read) and parses its content.
func readMasterKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the operator's configured key file
	if err != nil {
		return nil, fmt.Errorf("keys: opening master key file: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidMasterKey, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrMasterKeyFileMode, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMasterKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading master key file %s: %w", path, err)
	}
	if len(b) > maxMasterKeyFileSize {
		return nil, fmt.Errorf("%w: %s is too large", ErrInvalidMasterKey, path)
	}
	key, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}
