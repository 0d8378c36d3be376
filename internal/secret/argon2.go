package secret

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the parallelism.
	Threads uint8
}

// OWASPArgon2 is the OWASP Password Storage Cheat Sheet's first argon2id
// configuration: 19 MiB, 2 passes, 1 thread (about 26 ms per hash here).
func OWASPArgon2() Argon2Params { return Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1} }

// Bounds on parameters read from a stored hash, so that a corrupted or
// hostile row cannot make one verification take gigabytes or minutes.
const (
	maxArgon2MemoryKiB = 256 * 1024
	maxArgon2Time      = 16
	maxArgon2Threads   = 8
)

// ErrBadPHC reports a stored argon2id hash that cannot be read.
var ErrBadPHC = errors.New("secret: unreadable argon2id hash")

// EncodePHC writes an argon2id hash as a PHC string,
// "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (unpadded standard base64).
func EncodePHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// DecodePHC parses a string EncodePHC wrote. It refuses other algorithms
// and versions, parameters beyond the bounds above, salts under 8 bytes
// and keys outside 16 to 64 bytes, all with ErrBadPHC.
func DecodePHC(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrBadPHC
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrBadPHC
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil {
		return p, nil, nil, ErrBadPHC
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > maxArgon2MemoryKiB || p.Time < 1 || p.Time > maxArgon2Time ||
		threads < 1 || threads > maxArgon2Threads {
		return p, nil, nil, ErrBadPHC
	}
	p.Threads = uint8(threads)
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrBadPHC
	}
	return p, salt, key, nil
}

// Lengths of the salt and key of a new hash.
const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Argon2 hashes and verifies secrets with argon2id, running at most a fixed
// number of hashes at once: each takes MemoryKiB of memory, so a flood of
// sign-ins or of made-up API keys would otherwise exhaust RAM. Passwords
// (package login adds its policy) and API keys (package apikey) share it.
type Argon2 struct {
	params Argon2Params
	slots  chan struct{}
	dummy  string
}

// NewArgon2 returns an Argon2 hasher allowing concurrency parallel hashes
// (0 means GOMAXPROCS).
func NewArgon2(params Argon2Params, concurrency int) *Argon2 {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Argon2{params: params, slots: make(chan struct{}, concurrency)}
	// Verified in place of a missing hash (unknown user or key prefix), so
	// that the answer costs the same argon2 run. Its key is random rather
	// than computed: it never has to match, and computing one would cost
	// every start MemoryKiB and an argon2 run.
	h.dummy = EncodePHC(params, randomBytes(argon2SaltLen), randomBytes(argon2KeyLen))
	return h
}

// Hash returns the PHC string of plain under a new random salt. It waits
// for a free slot, or for ctx to end.
func (h *Argon2) Hash(ctx context.Context, plain string) (string, error) {
	salt := randomBytes(argon2SaltLen)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	return EncodePHC(p, salt, argon2.IDKey([]byte(plain), salt, p.Time, p.MemoryKiB, p.Threads, argon2KeyLen)), nil
}

// Verify reports, in constant time with respect to the contents, whether
// plain matches the stored PHC string. An empty stored (no such user or
// key) is checked against a dummy hash, so that the answer takes as long
// as a real one; it never matches. A stored string DecodePHC refuses is
// ErrBadPHC, answered without an argon2 run.
func (h *Argon2) Verify(ctx context.Context, plain, stored string) (bool, error) {
	unknown := stored == ""
	if unknown {
		stored = h.dummy
	}
	p, salt, want, err := DecodePHC(stored)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(plain), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want))) //nolint:gosec // G115: DecodePHC caps the hash at 64 bytes
	return Equal(got, want) && !unknown, nil
}

func (h *Argon2) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("secret: waiting for an argon2id slot: %w", ctx.Err())
	}
}

func (h *Argon2) release() { <-h.slots }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}
