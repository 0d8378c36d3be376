package apikey

import (
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Settings are the apikeys.* configuration values.
type Settings struct {
	// Hash is how new keys are hashed: store.APIKeyHashArgon2id (the
	// default when empty) or store.APIKeyHashHMACSHA256.
	Hash string
	// PepperFile holds the HMAC pepper; required for hmac-sha256, and
	// with argon2id it keeps existing HMAC keys verifiable.
	PepperFile string
}

// NewFromSettings returns a Service for st hashing new keys as s says and
// verifying keys stored under either algorithm it has the means to check.
func NewFromSettings(st Store, s Settings, now func() time.Time) (*Service, error) {
	argon := NewArgon2id(OWASPParams(), 0)
	var hmac *HMACSHA256
	if s.PepperFile != "" {
		pepper, err := ReadPepperFile(s.PepperFile)
		if err != nil {
			return nil, err
		}
		if hmac, err = NewHMACSHA256(pepper); err != nil {
			return nil, err
		}
	}
	cfg := Config{Store: st, Now: now}
	switch s.Hash {
	case "", store.APIKeyHashArgon2id:
		cfg.Hasher = argon
		if hmac != nil {
			cfg.Verifiers = []Hasher{hmac}
		}
	case store.APIKeyHashHMACSHA256:
		if hmac == nil {
			return nil, fmt.Errorf("apikey: hash %s needs a pepper file", s.Hash)
		}
		cfg.Hasher, cfg.Verifiers = hmac, []Hasher{argon}
	default:
		return nil, fmt.Errorf("apikey: unknown hash %q", s.Hash)
	}
	return New(cfg)
}
