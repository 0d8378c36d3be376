package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize is the largest token Verify parses. Gatehouse's own tokens
// are well under 2 KiB; the bound caps what an attacker can make us decode
// before the signature is checked.
const MaxTokenSize = 8 << 10

// MaxLeeway caps VerifyOptions.Leeway: clock skew beyond a minute is a
// broken clock, not something to paper over.
const MaxLeeway = 60 * time.Second

// Verification errors. Every token rejection wraps ErrInvalid and exactly
// one of the more specific errors below; the error text is for logs, never
// for clients.
var (
	// ErrInvalid is wrapped by every token rejection.
	ErrInvalid = errors.New("keys: invalid token")
	// ErrTooLarge: the token exceeds MaxTokenSize.
	ErrTooLarge = fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxTokenSize)
	// ErrMalformed: not three base64url segments of JSON, or a header
	// parameter of the wrong type.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalid)
	// ErrAlgorithm: "alg" is missing, not in the allowlist, or not the
	// algorithm of the key named by "kid".
	ErrAlgorithm = fmt.Errorf("%w: algorithm not allowed", ErrInvalid)
	// ErrHeader: a header parameter Gatehouse never accepts (jku, jwk,
	// x5u, x5c, crit): keys come from our own key set only, and no
	// extension is understood.
	ErrHeader = fmt.Errorf("%w: forbidden header parameter", ErrInvalid)
	// ErrType: "typ" is not the expected type.
	ErrType = fmt.Errorf("%w: unexpected typ", ErrInvalid)
	// ErrUnknownKey: no published key has the token's "kid" (or an
	// asymmetric token has no kid).
	ErrUnknownKey = fmt.Errorf("%w: unknown key", ErrInvalid)
	// ErrSignature: the signature does not verify.
	ErrSignature = fmt.Errorf("%w: bad signature", ErrInvalid)
	// ErrExpired: "exp" has passed, beyond the leeway.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)
	// ErrClaims: a claim is missing or wrong (exp, iat, jti, iss, aud, nbf).
	ErrClaims = fmt.Errorf("%w: invalid claims", ErrInvalid)

	// ErrInvalidOptions reports VerifyOptions that would verify too little;
	// it is the caller's bug, not the token's fault, so it does not wrap
	// ErrInvalid.
	ErrInvalidOptions = errors.New("keys: invalid verify options")
)

// VerifyOptions says what a valid token looks like. Algorithms, Typ and
// Issuer are required: there is no default that accepts more.
type VerifyOptions struct {
	// Algorithms is the allowlist of "alg" values; never empty, never
	// "none". Each key also only verifies its own algorithm.
	Algorithms []string
	// Typ is the expected "typ" header ("at+jwt", "JWT"), compared
	// case-insensitively and with or without the "application/" prefix
	// (RFC 7515 section 4.1.9, RFC 8725 section 3.11).
	Typ string
	// Issuer is the required "iss".
	Issuer string
	// Audience, when set, must be one of the token's "aud" values.
	Audience string
	// Leeway is the allowed clock skew for exp, nbf and iat; values above
	// MaxLeeway are capped.
	Leeway time.Duration
}

func (o *VerifyOptions) check() error {
	if len(o.Algorithms) == 0 {
		return fmt.Errorf("%w: no algorithms allowed", ErrInvalidOptions)
	}
	for _, a := range o.Algorithms {
		if signingMethod(a) == nil {
			return fmt.Errorf("%w: algorithm %q", ErrInvalidOptions, a)
		}
	}
	if o.Typ == "" {
		return fmt.Errorf("%w: no expected typ", ErrInvalidOptions)
	}
	if o.Issuer == "" {
		return fmt.Errorf("%w: no issuer", ErrInvalidOptions)
	}
	return nil
}

// IdentifiedClaims is a typed claim set for VerifyClaims: golang-jwt's
// Claims plus access to "jti", which Verify requires on every token. A
// struct embedding jwt.RegisteredClaims implements it with
//
//	func (c *MyClaims) GetID() string { return c.ID }
type IdentifiedClaims interface {
	jwt.Claims
	GetID() string
}

// Sign signs claims as a JWS with the active key of alg and returns the
// compact serialization. The header carries "alg", "kid" (the key's
// thumbprint) and "typ" (for example "at+jwt" for RFC 9068 access tokens,
// "JWT" for id_tokens).
//
// HS256 signs with the configured HMAC secret and sets no "kid": there is
// only one secret, and a kid would only invite confusion with the published
// asymmetric keys. Verify accepts HS256 only from tokens without a kid.
func (m *Manager) Sign(alg, typ string, claims jwt.Claims) (string, error) {
	if typ == "" {
		return "", errors.New("keys: sign: empty typ")
	}
	var (
		method jwt.SigningMethod
		key    any
		header string
		err    error
	)
	if alg == HS256 {
		if m.hmacSecret == nil {
			return "", fmt.Errorf("%w HS256 (not configured)", ErrNoSigningKey)
		}
		method, key = jwt.SigningMethodHS256, m.hmacSecret
		header, err = cachedHeader(&m.hmacHeaders, HS256, "", typ)
	} else {
		k := m.snap.Load().signers[alg]
		if k == nil {
			return "", fmt.Errorf("%w %q", ErrNoSigningKey, alg)
		}
		method, key = k.method, k.private
		header, err = k.header(typ)
	}
	if err != nil {
		return "", fmt.Errorf("keys: signing %s token: %w", alg, err)
	}
	// The compact serialization of RFC 7515 §7.1, as golang-jwt writes it,
	// with the header encoded once per key and typ instead of per token.
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: signing %s token: %w", alg, err)
	}
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(len(header) + 1 + enc.EncodedLen(len(body)) + 1 + enc.EncodedLen(maxSignatureLen))
	b.WriteString(header)
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(body))
	var sig []byte
	if alg == ES256 {
		sig, err = signES256(b.String(), key)
	} else {
		sig, err = method.Sign(b.String(), key)
	}
	if err != nil {
		return "", fmt.Errorf("keys: signing %s token: %w", alg, err)
	}
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig))
	return b.String(), nil
}

// maxSignatureLen is the longest signature of the supported algorithms
// (RS256 with a 4096-bit key), to size the token's buffer once.
const maxSignatureLen = 512

// encodeHeader returns the encoded JOSE header of a token: "alg", "kid"
// when not empty, and "typ", as JSON with its members in name order (as
// golang-jwt renders its header map).
func encodeHeader(alg, kid, typ string) (string, error) {
	h := map[string]string{"alg": alg, "typ": typ}
	if kid != "" {
		h["kid"] = kid
	}
	j, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(j), nil
}

// header returns the encoded JOSE header of k's tokens of type typ,
// rendered at its first use.
func (k *signingKey) header(typ string) (string, error) {
	return cachedHeader(&k.headers, k.alg, k.id, typ)
}

// cachedHeader returns encodeHeader(alg, kid, typ) from cache, keyed by
// typ, rendering it at its first use. Callers keep one cache per alg and
// kid; the typs are Gatehouse's own constants, so it stays small.
func cachedHeader(cache *sync.Map, alg, kid, typ string) (string, error) {
	if h, ok := cache.Load(typ); ok {
		return h.(string), nil
	}
	h, err := encodeHeader(alg, kid, typ)
	if err != nil {
		return "", err
	}
	cache.Store(typ, h)
	return h, nil
}

// Verify checks token and returns its claims. Beyond the signature it
// requires: an "alg" in opts.Algorithms that is also the algorithm of the
// key named by "kid"; the expected "typ"; "iss" equal to opts.Issuer; "aud"
// containing opts.Audience when set; "exp" (and it must not have passed,
// beyond the leeway); "iat" not in the future; a non-empty "jti"; and none
// of the header parameters jku, jwk, x5u, x5c, crit. Tokens over
// MaxTokenSize are rejected unparsed. Keys come from the in-memory snapshot,
// never from the store.
//
// Rejections wrap ErrInvalid and one specific error (ErrExpired,
// ErrAlgorithm, ...); see the error variables.
func (m *Manager) Verify(token string, opts VerifyOptions) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	if err := m.verify(token, &opts, claims); err != nil {
		return nil, err
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		return nil, fmt.Errorf("%w: missing jti", ErrClaims)
	}
	return claims, nil
}

// VerifyClaims is Verify decoding into a typed claim set, which costs fewer
// allocations than a map. claims must be a pointer.
func (m *Manager) VerifyClaims(token string, opts VerifyOptions, claims IdentifiedClaims) error {
	if err := m.verify(token, &opts, claims); err != nil {
		return err
	}
	if claims.GetID() == "" {
		return fmt.Errorf("%w: missing jti", ErrClaims)
	}
	return nil
}

func (m *Manager) verify(token string, opts *VerifyOptions, claims jwt.Claims) error {
	if err := opts.check(); err != nil {
		return err
	}
	if len(token) > MaxTokenSize {
		return ErrTooLarge
	}
	snap := m.snap.Load()
	now := m.now()
	popts := make([]jwt.ParserOption, 0, 8)
	popts = append(popts,
		jwt.WithValidMethods(opts.Algorithms),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(min(max(opts.Leeway, 0), MaxLeeway)),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Canonical base64 only, so one token has one encoding.
		jwt.WithStrictDecoding(),
	)
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	parser := jwt.NewParser(popts...)
	var keyErr error
	tok, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		k, err := m.verificationKey(snap, t, opts.Typ, now)
		keyErr = err
		return k, err
	})
	if err != nil {
		if keyErr != nil {
			return keyErr
		}
		return classify(tok, err, opts.Algorithms)
	}
	// WithIssuedAt only rejects a future iat; RFC 9068 and OpenID Connect
	// both require the claim, so its absence is an error too.
	if iat, err := claims.GetIssuedAt(); err != nil || iat == nil {
		return fmt.Errorf("%w: missing iat", ErrClaims)
	}
	return m.checkHeaderMembers(token)
}

// verificationKey is the jwt.Keyfunc: it runs after golang-jwt has checked
// "alg" against the allowlist and before the signature is checked.
func (m *Manager) verificationKey(snap *snapshot, t *jwt.Token, wantTyp string, now time.Time) (any, error) {
	// These name keys or extensions a token would bring along. An issuer
	// verifying its own tokens never needs them, and honouring any of them
	// would let the token choose its own key.
	for _, h := range [...]string{"jku", "jwk", "x5u", "x5c", "crit"} {
		if _, ok := t.Header[h]; ok {
			return nil, fmt.Errorf("%w %q", ErrHeader, h)
		}
	}
	if typ, _ := t.Header["typ"].(string); !typMatches(typ, wantTyp) {
		return nil, fmt.Errorf("%w %.40q, want %q", ErrType, typ, wantTyp)
	}
	alg := t.Method.Alg()
	raw, hasKID := t.Header["kid"]
	if !hasKID {
		if alg == HS256 && m.hmacSecret != nil {
			return m.hmacSecret, nil
		}
		return nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	kid, ok := raw.(string)
	if !ok {
		return nil, fmt.Errorf("%w: kid is not a string", ErrMalformed)
	}
	k := snap.byKID[kid]
	if k == nil {
		return nil, fmt.Errorf("%w %.64q", ErrUnknownKey, kid)
	}
	// One algorithm per key: this is what stops an HS256 token "signed"
	// with a published public key from verifying against it.
	if k.alg != alg {
		return nil, fmt.Errorf("%w: key %s is %s, token says %s", ErrAlgorithm, kid, k.alg, alg)
	}
	// A retired key leaves publication at PublishUntil even if this node
	// has not refreshed since.
	if !k.publishUntil.IsZero() && !now.Before(k.publishUntil) {
		return nil, fmt.Errorf("%w %s: no longer published", ErrUnknownKey, kid)
	}
	return k.public, nil
}

// checkHeaderMembers refuses a verified token whose JOSE header names a
// member twice. RFC 7515 §4 lets a parser take the last duplicate instead,
// but then two parsers (or a parser and a proxy) can read different "alg"
// or "kid" values from one header; golang-jwt keeps the last. Names are
// compared case-insensitively, as encoding/json matches them to struct
// fields. It runs after the signature check, so the headers it remembers
// as sound are ones our keys signed: a few per key, bounded anyway.
func (m *Manager) checkHeaderMembers(token string) error {
	h64, _, _ := strings.Cut(token, ".")
	if _, ok := m.soundHeaders.Load(h64); ok {
		return nil
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	if dup, err := DuplicateMember(hb); err != nil || dup {
		return fmt.Errorf("%w: a header member appears twice", ErrMalformed)
	}
	if m.soundHeaderCount.Add(1) <= maxSoundHeaders {
		m.soundHeaders.Store(h64, struct{}{})
	}
	return nil
}

// maxSoundHeaders bounds the remembered headers: one per signing key and
// token type, a few more across rotations.
const maxSoundHeaders = 64

// DuplicateMember reports whether the JSON object b names a member twice
// (case-insensitively, as encoding/json matches names to struct fields);
// an error means b is not one JSON object. RFC 7515 §4 and RFC 7519 §4 let
// a parser keep the last duplicate instead, but then two parsers can read
// one token differently: Gatehouse refuses such tokens.
func DuplicateMember(b []byte) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false, errors.New("not a JSON object")
	}
	var seen []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false, err
		}
		name, _ := t.(string)
		for _, s := range seen {
			if strings.EqualFold(s, name) {
				return true, nil
			}
		}
		seen = append(seen, name)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false, err
		}
	}
	return false, nil
}

// classify maps a golang-jwt error to ours, keeping it as the cause.
func classify(tok *jwt.Token, err error, allowed []string) error {
	kind := ErrInvalid
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		kind = ErrMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		kind = ErrExpired
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		kind = ErrClaims
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// golang-jwt reports an alg outside the allowlist as a signature
		// error; tell the two apart.
		kind = ErrSignature
		if tok == nil || tok.Method == nil || !slices.Contains(allowed, tok.Method.Alg()) {
			kind = ErrAlgorithm
		}
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Without a keyfunc error, this is an "alg" that is missing or
		// unknown to golang-jwt ("None", "nOnE", ...).
		kind = ErrAlgorithm
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// typMatches compares "typ" values case-insensitively, ignoring an
// "application/" prefix on either side (RFC 7515 section 4.1.9).
func typMatches(got, want string) bool {
	return got != "" && strings.EqualFold(stripApplication(got), stripApplication(want))
}

func stripApplication(s string) string {
	const prefix = "application/"
	if len(s) > len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):]
	}
	return s
}
