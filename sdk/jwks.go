package sdk

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxBodySize bounds every discovery and JWKS response body.
	maxBodySize = 1 << 20
	// fetchTimeout bounds every discovery and JWKS request.
	fetchTimeout = 5 * time.Second
	// minRSABits is the smallest RSA modulus accepted from a JWKS.
	minRSABits = 2048
)

// publicKey is one usable JWKS entry: a verification key bound to exactly
// one algorithm (its JWK "alg").
type publicKey struct {
	alg string
	key crypto.PublicKey // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
}

// keySet holds the issuer's keys and refetches them, single-flight and at
// most once per cooldown, when a token names an unknown kid.
type keySet struct {
	client   *http.Client
	jwksURI  string
	allowed  map[string]bool
	cooldown time.Duration
	now      func() time.Time

	keys atomic.Pointer[map[string]publicKey]

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error         // outcome of the last fetch
	inflight    chan struct{} // closed when the running fetch ends; nil if none
}

// get returns the key for kid, refetching the JWKS once if it is unknown
// and the cooldown since the last fetch has passed. The kid is reported
// unknown (ErrUnknownKey) only when the last fetch succeeded; if it failed,
// the answer is ErrKeysUnavailable, because a rotated-in key cannot be
// told from a forged kid while the issuer is unreachable.
func (ks *keySet) get(ctx context.Context, kid string) (publicKey, error) {
	if k, ok := (*ks.keys.Load())[kid]; ok {
		return k, nil
	}
	if err := ks.refresh(ctx); err != nil {
		return publicKey{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	if k, ok := (*ks.keys.Load())[kid]; ok {
		return k, nil
	}
	return publicKey{}, ErrUnknownKey
}

// refresh refetches the JWKS unless another fetch is running (then it
// waits for that one) or the last attempt was less than cooldown ago. The
// fetch itself is not cancelled by ctx, since other callers may be waiting
// for it; it has its own timeout. A failed fetch keeps the old keys. The
// error is that of the fetch this call ran, waited for, or (within the
// cooldown) the last one.
func (ks *keySet) refresh(ctx context.Context) error {
	ks.mu.Lock()
	if done := ks.inflight; done != nil {
		ks.mu.Unlock()
		select {
		case <-done:
			ks.mu.Lock()
			defer ks.mu.Unlock()
			return ks.lastErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := ks.now()
	// A clock that jumped back by more than the cooldown does not block
	// refetches forever.
	if since := now.Sub(ks.lastAttempt); since < ks.cooldown && since > -ks.cooldown {
		err := ks.lastErr
		ks.mu.Unlock()
		return err
	}
	ks.lastAttempt = now
	done := make(chan struct{})
	ks.inflight = done
	ks.mu.Unlock()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	keys, err := fetchJWKS(fctx, ks.client, ks.jwksURI, ks.allowed)
	cancel()
	if err == nil {
		ks.keys.Store(&keys)
	}

	ks.mu.Lock()
	ks.inflight = nil
	ks.lastErr = err
	ks.mu.Unlock()
	close(done)
	return err
}

// getJSON GETs url with a timeout and decodes a JSON body of at most
// maxBodySize bytes into v. Any status but 200 is an error.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil) //nolint:gosec // G704: the configured issuer or its discovered jwks_uri
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req) //nolint:gosec // G704: the configured issuer or its discovered jwks_uri
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // the body is read; a close error changes nothing
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	if len(body) > maxBodySize {
		return fmt.Errorf("GET %s: body larger than %d bytes", url, maxBodySize)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// jwk is the subset of RFC 7517 / RFC 7518 §6 members the SDK reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
}

// fetchJWKS fetches and parses a JWKS. Keys without a kid, without "alg",
// with "use" other than "sig", with an algorithm outside allowed, with
// private members, that do not parse, or whose kid appears more than once
// are ignored.
func fetchJWKS(ctx context.Context, client *http.Client, uri string, allowed map[string]bool) (map[string]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, client, uri, &set); err != nil {
		return nil, fmt.Errorf("sdk: fetching JWKS: %w", err)
	}
	keys := make(map[string]publicKey, len(set.Keys))
	dup := map[string]bool{}
	for _, raw := range set.Keys {
		var j jwk
		if json.Unmarshal(raw, &j) != nil || j.Kid == "" || j.Use != "sig" || !allowed[j.Alg] || j.D != "" {
			continue
		}
		pub, err := j.publicKey()
		if err != nil {
			continue
		}
		if _, seen := keys[j.Kid]; seen || dup[j.Kid] {
			delete(keys, j.Kid)
			dup[j.Kid] = true
			continue
		}
		keys[j.Kid] = publicKey{alg: j.Alg, key: pub}
	}
	return keys, nil
}

var errBadJWK = errors.New("sdk: unusable JWK")

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

// publicKey builds the key for j.Alg, checking that kty and crv match it.
func (j *jwk) publicKey() (crypto.PublicKey, error) {
	switch j.Alg {
	case "ES256":
		if j.Kty != "EC" || j.Crv != "P-256" {
			return nil, errBadJWK
		}
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errBadJWK
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, errBadJWK
		}
		return pub, nil
	case "RS256":
		if j.Kty != "RSA" {
			return nil, errBadJWK
		}
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return nil, errBadJWK
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
		if pub.N.BitLen() < minRSABits || exp < 3 || exp%2 == 0 {
			return nil, errBadJWK
		}
		return pub, nil
	case "EdDSA":
		if j.Kty != "OKP" || j.Crv != "Ed25519" {
			return nil, errBadJWK
		}
		x, err := b64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errBadJWK
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errBadJWK
}
