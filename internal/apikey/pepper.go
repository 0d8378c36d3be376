package apikey

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// ReadPepperFile reads an HMAC pepper (apikeys.pepper_file): at least
// MinPepperBytes bytes written as base64 or base64url (padded or not) or
// hex, surrounding white space ignored. Like the master key file it is
// refused when group or others may read it. Create one with
// `head -c 32 /dev/urandom | base64 > pepper; chmod 600 pepper`.
func ReadPepperFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("apikey: pepper file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("apikey: pepper file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("apikey: pepper file %s has mode %04o; run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path) //nolint:gosec // G304: the path is the operator's configured pepper file
	if err != nil {
		return nil, fmt.Errorf("apikey: pepper file: %w", err)
	}
	p, err := parsePepper(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("apikey: pepper file %s: %w", path, err)
	}
	return p, nil
}

func parsePepper(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(s) >= 2*MinPepperBytes {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) < MinPepperBytes {
				return nil, fmt.Errorf("pepper has %d bytes, want at least %d", len(b), MinPepperBytes)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("want at least %d bytes as base64 or hex", MinPepperBytes)
}
