package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Limits of key fetching.
const (
	// MaxDocumentSize caps a discovery document or JWKS.
	MaxDocumentSize = 1 << 20
	// FetchTimeout bounds one fetch, connection included.
	FetchTimeout = 5 * time.Second
	// RefetchCooldown is the least time between two fetches of one key
	// source, so a flood of tokens naming unknown key ids costs the
	// issuer one request per cooldown.
	RefetchCooldown = 10 * time.Second
	// KeysFreshFor is how long fetched keys are used without asking again.
	KeysFreshFor = time.Hour
	// StaleKeysFor is how long the last good keys stay usable while the
	// issuer cannot be reached.
	StaleKeysFor = 24 * time.Hour
)

// Key-fetching errors; each names what went wrong without echoing input.
var (
	// ErrBlockedAddress reports a connection to an address the policy
	// does not allow (loopback, private, link-local, ...).
	ErrBlockedAddress = errors.New("federation: the address is not allowed")
	// ErrTooLarge reports a document over MaxDocumentSize.
	ErrTooLarge = errors.New("federation: the document is larger than 1 MiB")
	// ErrKeysUnavailable reports keys that cannot be fetched now (the
	// issuer does not answer, or answers with an error).
	ErrKeysUnavailable = errors.New("federation: the issuer's keys cannot be fetched")
	// ErrUnknownKey reports a key id the issuer does not publish.
	ErrUnknownKey = errors.New("federation: the issuer publishes no such key")
)

// publicKey is one usable key of a JWKS.
type publicKey struct {
	kid string
	alg string // the JWK's alg; empty when it names none
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// parseKeySet decodes a JWKS, keeping the public signature keys: keys
// marked for encryption, private keys, symmetric keys and RSA keys under
// 2048 bits are dropped or refused.
func parseKeySet(b []byte) ([]publicKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	var out []publicKey
	for _, k := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k); err != nil {
			continue // a key this server cannot read cannot verify anything
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		if !jwk.IsPublic() {
			return nil, errors.New("the key set holds a private or symmetric key")
		}
		switch pk := jwk.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < 2048 {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		out = append(out, publicKey{kid: jwk.KeyID, alg: jwk.Algorithm, key: jwk.Key})
	}
	return out, nil
}

// keySource is one place keys come from (a JWKS URL, an issuer's
// discovery, or a policy's static JWKS), with its cache.
type keySource struct {
	static  bool
	issuer  string // discovery is fetched from here when jwksURI is empty
	jwksURI string
	client  *http.Client
	now     func() time.Time

	mu          sync.Mutex
	keys        []publicKey
	fetchedAt   time.Time // last success
	lastAttempt time.Time
	lastErr     error
	inflight    chan struct{}
}

// find returns the key for kid (or, without a kid, the only key), fetching
// the set when it is not fresh or does not hold kid, at most once per
// RefetchCooldown. Stale keys serve while the issuer is unreachable, up to
// StaleKeysFor.
func (s *keySource) find(ctx context.Context, kid string) (publicKey, error) {
	if k, ok := s.lookup(kid, false); ok {
		return k, nil
	}
	if s.static {
		return publicKey{}, ErrUnknownKey
	}
	fetchErr := s.refresh(ctx)
	if k, ok := s.lookup(kid, true); ok {
		return k, nil
	}
	if fetchErr != nil {
		return publicKey{}, fetchErr
	}
	return publicKey{}, ErrUnknownKey
}

// lookup finds kid among fresh keys, or among stale ones when allowStale.
func (s *keySource) lookup(kid string, allowStale bool) (publicKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	age := s.now().Sub(s.fetchedAt)
	if !s.static && (s.fetchedAt.IsZero() || age > StaleKeysFor || (!allowStale && age > KeysFreshFor)) {
		return publicKey{}, false
	}
	if kid == "" {
		if len(s.keys) == 1 {
			return s.keys[0], true
		}
		return publicKey{}, false
	}
	for _, k := range s.keys {
		if k.kid == kid {
			return k, true
		}
	}
	return publicKey{}, false
}

// refresh fetches the keys unless a fetch is running (then it waits for
// it) or the last attempt was less than RefetchCooldown ago (then it
// reports that attempt's error). The fetch is not canceled with ctx, since
// other callers may wait for it; it has its own timeout.
func (s *keySource) refresh(ctx context.Context) error {
	s.mu.Lock()
	if done := s.inflight; done != nil {
		s.mu.Unlock()
		select {
		case <-done:
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.lastErr
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
		}
	}
	now := s.now()
	if since := now.Sub(s.lastAttempt); !s.lastAttempt.IsZero() && since < RefetchCooldown && since > -RefetchCooldown {
		err := s.lastErr
		s.mu.Unlock()
		return err
	}
	s.lastAttempt = now
	done := make(chan struct{})
	s.inflight = done
	s.mu.Unlock()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FetchTimeout)
	keys, err := s.fetch(fctx)
	cancel()

	s.mu.Lock()
	if err == nil {
		s.keys, s.fetchedAt = keys, s.now()
	}
	s.lastErr, s.inflight = err, nil
	s.mu.Unlock()
	close(done)
	return err
}

// fetch reads the JWKS, first finding its URL through discovery when the
// policy names none.
func (s *keySource) fetch(ctx context.Context) ([]publicKey, error) {
	uri := s.jwksURI
	if uri == "" {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		b, err := get(ctx, s.client, strings.TrimSuffix(s.issuer, "/")+"/.well-known/openid-configuration")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &disc); err != nil || disc.JWKSURI == "" {
			return nil, fmt.Errorf("%w: the discovery document names no jwks_uri", ErrKeysUnavailable)
		}
		if disc.Issuer != s.issuer {
			return nil, fmt.Errorf("%w: the discovery document names another issuer", ErrKeysUnavailable)
		}
		uri = disc.JWKSURI
	}
	b, err := get(ctx, s.client, uri)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeySet(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	return keys, nil
}

// get fetches u through the guarded client and returns at most
// MaxDocumentSize bytes of a 200 answer.
func get(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBlockedAddress) {
			return nil, ErrBlockedAddress
		}
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrKeysUnavailable, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	if len(b) > MaxDocumentSize {
		return nil, ErrTooLarge
	}
	return b, nil
}

// guardedClient is the HTTP client of a key source: it connects only to
// public addresses (checked on the address actually dialled, after DNS, so
// a name that resolves to a private address is refused too), unless
// allowPrivate; ignores proxy settings, which would bypass that check;
// follows at most three redirects, to URLs the policy could name itself;
// and gives up after FetchTimeout.
func guardedClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return ErrBlockedAddress
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || (!allowPrivate && !publicAddress(ip.Unmap())) {
			return ErrBlockedAddress
		}
		return nil
	}}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 64 << 10,
			DisableKeepAlives:      true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return fmt.Errorf("%w: too many redirects", ErrKeysUnavailable)
			}
			if err := validFetchURL(req.URL.String(), allowPrivate); err != nil {
				return fmt.Errorf("%w: redirect: %w", ErrKeysUnavailable, err)
			}
			return nil
		},
	}
}

// cgnat is RFC 6598 shared address space, which netip does not count as
// private but which is no more public.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddress reports whether ip is a global unicast address outside
// every private, loopback, link-local and shared range.
func publicAddress(ip netip.Addr) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !cgnat.Contains(ip)
}

// isLoopbackName reports whether host is localhost or a loopback address.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// sourceKey names the key source of a policy, so that policies trusting
// one issuer the same way share one cache.
func sourceKey(p store.FederationPolicy) string {
	switch {
	case len(p.JWKS) > 0:
		return "static:" + p.Name
	case p.JWKSURI != "":
		return fmt.Sprintf("jwks:%t:%s", p.AllowPrivateNetwork, p.JWKSURI)
	}
	return fmt.Sprintf("discovery:%t:%s", p.AllowPrivateNetwork, p.Issuer)
}
