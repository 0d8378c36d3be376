package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
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
