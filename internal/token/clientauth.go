package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/throttle"
)

// ClientStore looks clients up.
type ClientStore interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
}

// ClientAuthenticator authenticates clients at the token, introspection and
// revocation endpoints (RFC 6749 §2.3) and throttles repeated failures per
// client and address (RFC 6819 §5.1.4.2.3).
type ClientAuthenticator struct {
	clients ClientStore
	limiter *throttle.Limiter
	cache   *clientCache
}

// NewClientAuthenticator returns an authenticator over clients with a
// failure limiter (nil means a default policy: 10 free failures, then locks
// from 1 s doubling up to 5 min) and a clock (nil means time.Now).
func NewClientAuthenticator(clients ClientStore, limiter *throttle.Limiter, now func() time.Time) *ClientAuthenticator {
	if now == nil {
		now = time.Now
	}
	if limiter == nil {
		limiter = throttle.New(DefaultClientThrottle(), now)
	}
	return &ClientAuthenticator{clients: clients, limiter: limiter, cache: newClientCache(ClientCacheTTL, now)}
}

// ClientCacheTTL is how long a looked-up client is reused. It bounds how
// long a change to a client (a new secret, a removed grant type, a
// deletion) takes to reach every node, and saves a database round trip on
// all but one request per client per interval.
const ClientCacheTTL = time.Second

// DefaultClientThrottle is the failure policy for client authentication.
func DefaultClientThrottle() throttle.Policy {
	return throttle.Policy{Free: 10, BaseLock: time.Second, MaxLock: 5 * time.Minute, Forget: 15 * time.Minute}
}

// errClientAuth is the one answer for every authentication failure, so an
// unknown client and a wrong secret look the same (RFC 6749 §5.2).
func errClientAuth(cause error) *oauth.Error {
	h := http.Header{}
	h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	return &oauth.Error{Code: oauth.CodeInvalidClient, Description: "client authentication failed",
		Status: http.StatusUnauthorized, Header: h, Cause: cause}
}

// Authenticate returns the calling client. Public clients identify
// themselves with client_id only; confidential clients must use their
// registered method, and a request may use only one method.
func (a *ClientAuthenticator) Authenticate(r *http.Request, f oauth.Form) (store.Client, error) {
	basicID, basicSecret, hasBasic, err := basicCredentials(r)
	if err != nil {
		return store.Client{}, errClientAuth(err)
	}
	bodyID, bodySecret, hasBodySecret := f.Get("client_id"), f.Get("client_secret"), f.Has("client_secret")
	// RFC 7521 §4.2 / RFC 7523 §2.2 client assertions are a method of
	// their own: sent beside another one, the request is ambiguous.
	hasAssertion := f.Has("client_assertion") || f.Has("client_assertion_type")
	switch {
	case hasBasic && hasBodySecret, hasAssertion && (hasBasic || hasBodySecret):
		return store.Client{}, oauth.NewError(oauth.CodeInvalidRequest, "use exactly one client authentication method")
	case hasAssertion:
		e := errClientAuth(errors.New("client assertion sent"))
		e.Description = "client assertions are not supported; use the client's registered method"
		return store.Client{}, e
	case hasBasic && bodyID != "" && bodyID != basicID:
		return store.Client{}, oauth.NewError(oauth.CodeInvalidRequest, "client_id does not match the authenticated client")
	}
	id := bodyID
	if hasBasic {
		id = basicID
	}
	if id == "" {
		return store.Client{}, errClientAuth(errors.New("no client_id"))
	}

	key := id + "|" + httpx.ClientIP(r)
	if wait := a.limiter.Wait(key); wait > 0 {
		h := http.Header{}
		h.Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return store.Client{}, &oauth.Error{Code: oauth.CodeInvalidClient, Status: http.StatusTooManyRequests, Header: h,
			Description: "too many failed authentication attempts; retry later"}
	}

	c, err := a.lookup(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spend the same work as a real comparison.
		secret.Matches(basicSecret+bodySecret, make([]byte, 32))
		a.limiter.Fail(key)
		return store.Client{}, errClientAuth(fmt.Errorf("unknown client %q", id))
	case err != nil:
		return store.Client{}, oauth.Unavailable(fmt.Errorf("load client: %w", err))
	}

	var ok bool
	switch c.TokenEndpointAuthMethod {
	case store.AuthNone:
		ok = c.Public && !hasBasic && !hasBodySecret
	case store.AuthClientSecretBasic:
		ok = hasBasic && secret.Matches(basicSecret, c.SecretHash)
	case store.AuthClientSecretPost:
		ok = hasBodySecret && secret.Matches(bodySecret, c.SecretHash)
	}
	if !ok {
		a.limiter.Fail(key)
		return store.Client{}, errClientAuth(fmt.Errorf("client %q: wrong credentials for method %s", id, c.TokenEndpointAuthMethod))
	}
	a.limiter.Succeed(key)
	return c, nil
}

// basicCredentials decodes HTTP Basic client credentials, which RFC 6749
// §2.3.1 form-urlencodes before base64.
func basicCredentials(r *http.Request) (id, pw string, ok bool, err error) {
	rawID, rawPW, ok := r.BasicAuth()
	if !ok {
		return "", "", false, nil
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", true, errors.New("malformed basic credentials")
	}
	if pw, err = url.QueryUnescape(rawPW); err != nil {
		return "", "", true, errors.New("malformed basic credentials")
	}
	if !oauth.ValidParams(id, pw) {
		return "", "", true, errors.New("basic credentials are not UTF-8 text without NUL")
	}
	return id, pw, true, nil
}

// lookup returns the client, from the cache when it was looked up (found
// or not) less than ClientCacheTTL ago. Unknown ids are cached too, so
// that a repeated unknown id is refused from memory exactly as fast as a
// known one: the time of the answer does not tell which ids exist.
func (a *ClientAuthenticator) lookup(ctx context.Context, id string) (store.Client, error) {
	if c, found, ok := a.cache.get(id); ok {
		if !found {
			return store.Client{}, store.ErrNotFound
		}
		return c, nil
	}
	c, err := a.clients.GetClient(ctx, id)
	switch {
	case err == nil:
		a.cache.put(id, c, true)
	case errors.Is(err, store.ErrNotFound):
		a.cache.put(id, store.Client{}, false)
	}
	return c, err
}

// clientCache keeps recently looked-up clients, and ids found to name no
// client, for a short TTL. Each kind is bounded on its own, so random
// unknown ids can neither grow the cache nor push known clients out.
type clientCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	found   map[string]cachedClient
	missing map[string]cachedClient
}

type cachedClient struct {
	c       store.Client
	expires time.Time
}

const maxCachedClients = 10_000

func newClientCache(ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{ttl: ttl, now: now, found: map[string]cachedClient{}, missing: map[string]cachedClient{}}
}

// get returns the cached answer for id: the client and whether it exists;
// ok is false when nothing fresh is cached.
func (c *clientCache) get(id string) (cl store.Client, found, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e, hit := c.found[id]; hit && now.Before(e.expires) {
		return e.c, true, true
	}
	if e, hit := c.missing[id]; hit && now.Before(e.expires) {
		return store.Client{}, false, true
	}
	return store.Client{}, false, false
}

func (c *clientCache) put(id string, cl store.Client, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	m, other := c.missing, c.found
	if found {
		m, other = c.found, c.missing
	}
	delete(other, id)
	if len(m) >= maxCachedClients {
		for k, e := range m {
			if !now.Before(e.expires) {
				delete(m, k)
			}
		}
		if len(m) >= maxCachedClients {
			clear(m)
		}
	}
	m[id] = cachedClient{c: cl, expires: now.Add(c.ttl)}
}

// parseAuthenticatedForm parses the form of an endpoint that only
// authenticated clients may use (introspection, revocation). A request
// that is unreadable and carries no Authorization header is answered 401
// invalid_client, not 400: an anonymous caller learns nothing of what the
// endpoint would accept (RFC 7662 §2.1, RFC 7009 §2.1).
func parseAuthenticatedForm(r *http.Request) (oauth.Form, error) {
	f, err := oauth.ParseForm(r)
	if err != nil && r.Header.Get("Authorization") == "" {
		return oauth.Form{}, errClientAuth(err)
	}
	return f, err
}
