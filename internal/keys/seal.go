package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrSealedKey reports a sealed private key that cannot be opened: the master
// key differs from the one that sealed it, or the stored row was altered
// (AES-GCM cannot tell the two apart).
var ErrSealedKey = errors.New("keys: sealed private key cannot be opened")

// wrongMasterKey is what to do about an ErrSealedKey that is not a damaged
// blob: in practice, a node started with a master key of its own (a second
// node without the first one's key, or a dev key file created anew).
const wrongMasterKey = "the signing keys in the store were sealed with another master key (or altered): " +
	"give every node the same GATEHOUSE_MASTER_KEY (or master_key_file)"

// sealVersion is the first byte of every sealed blob, so that the format or
// the key derivation can change later without guessing.
const sealVersion byte = 1

// sealInfo is the HKDF context for the sealing key. Deriving a sub-key
// rather than using the master key directly keeps the master key free for
// other, domain-separated uses.
const sealInfo = "gatehouse keys: signing-key seal v1"

// DeriveKey derives an independent 32-byte key for purpose from the master
// key (HKDF-SHA256, RFC 5869), so one master key can protect several things
// without any two sharing a key.
func DeriveKey(masterKey []byte, purpose string) ([]byte, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrInvalidMasterKey, len(masterKey))
	}
	k, err := hkdf.Key(sha256.New, masterKey, nil, purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving a key for %q: %w", purpose, err)
	}
	return k, nil
}

// sealer seals private keys with AES-256-GCM under a key derived from the
// master key. Sealed format: version (1 byte) || nonce (12 bytes) ||
// ciphertext and tag. A random 96-bit nonce is safe here: a deployment seals
// a handful of keys a year, far below the 2^32 messages per key limit.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(masterKey []byte) (*sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrInvalidMasterKey, len(masterKey))
	}
	k, err := DeriveKey(masterKey, sealInfo)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// sealAAD binds a sealed blob to its key row, so that a blob copied into
// another row (another kid or algorithm) does not open there. Each field is
// length-prefixed so no two (kid, alg) pairs give the same bytes.
func sealAAD(kid, alg string) []byte {
	aad := make([]byte, 0, 1+len("gatehouse signing key")+2+len(kid)+2+len(alg))
	aad = append(aad, sealVersion)
	aad = append(aad, "gatehouse signing key"...)
	aad = append(aad, byte(len(kid)>>8), byte(len(kid))) //nolint:gosec // G115: 16-bit big-endian length; kids are short
	aad = append(aad, kid...)
	aad = append(aad, byte(len(alg)>>8), byte(len(alg))) //nolint:gosec // G115: 16-bit big-endian length; algs are short
	aad = append(aad, alg...)
	return aad
}

// seal encrypts plaintext for the key row (kid, alg).
func (s *sealer) seal(plaintext []byte, kid, alg string) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	// crypto/rand.Read never returns an error (it aborts the program if
	// the system's randomness fails), so there is nothing to handle.
	_, _ = rand.Read(out[1 : 1+ns])
	return s.aead.Seal(out, out[1:1+ns], plaintext, sealAAD(kid, alg)) //nolint:gosec // G407: the nonce is from crypto/rand just above
}

// open decrypts a blob sealed for the key row (kid, alg). Every failure is
// ErrSealedKey.
func (s *sealer) open(sealed []byte, kid, alg string) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short (the stored key was altered)", ErrSealedKey, len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d (the stored key was altered)", ErrSealedKey, sealed[0])
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealAAD(kid, alg))
	if err != nil {
		// AES-GCM cannot tell a wrong key from altered bytes; a wrong key
		// is by far the likelier.
		return nil, fmt.Errorf("%w: %s", ErrSealedKey, wrongMasterKey)
	}
	return pt, nil
}
