package admin

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/store"
)

// APIKeyRevocationTTL is how long the revocation entry of a revoked API key
// is kept. Resource servers cache accepted keys for at most 5 minutes
// (sdk.MaxAPIKeyCacheTTL) and check the revocation list on every request,
// so the entry must outlive any such cache.
const APIKeyRevocationTTL = 10 * time.Minute

// APIKeys manages API keys (package apikey's Service).
type APIKeys interface {
	Create(ctx context.Context, req apikey.CreateRequest) (string, apikey.Key, error)
	List(ctx context.Context) ([]apikey.Key, error)
	Get(ctx context.Context, id string) (apikey.Key, error)
	Revoke(ctx context.Context, id string) error
	Rotate(ctx context.Context, id string, overlap time.Duration) (string, apikey.Key, error)
}

var _ APIKeys = (*apikey.Service)(nil)

// RevocationWriter records revocation entries (the store).
type RevocationWriter interface {
	AddRevocations(ctx context.Context, rs []store.Revocation, now time.Time) ([]store.Revocation, error)
}

// revokeAPIKey revokes a key in the store (every Gatehouse node refuses it
// within apikey.MaxCacheTTL) and lists its id on the revocation list, so
// resource servers that cached it refuse it as soon as they follow the
// list. It returns the entries written, for a server to apply to its own
// list.
func revokeAPIKey(ctx context.Context, keys APIKeys, st RevocationWriter, id string, now time.Time) ([]store.Revocation, error) {
	if err := keys.Revoke(ctx, id); err != nil {
		return nil, err
	}
	revs, err := st.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeJTI, Value: id,
		ExpiresAt: now.Add(APIKeyRevocationTTL)}}, now)
	if err != nil {
		return nil, incomplete(err, "API key %s is revoked, but resource servers that cached it may accept it for up to 5 minutes (retry to shorten that)", id)
	}
	return revs, nil
}

// ListAPIKeys returns every API key, revoked and expired ones included.
func (a Actions) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	ks, err := a.s.cfg.APIKeys.List(ctx)
	return ks, fail(err)
}

// GetAPIKey returns the API key with that id.
func (a Actions) GetAPIKey(ctx context.Context, id string) (apikey.Key, error) {
	k, err := a.s.cfg.APIKeys.Get(ctx, id)
	return k, fail(err)
}

// CreateAPIKey creates an API key, returned in clear this once, with roles
// that exist and that the principal covers and scopes it may hand out.
func (a Actions) CreateAPIKey(ctx context.Context, req apikey.CreateRequest) (string, apikey.Key, error) {
	if err := a.mayGrantRoles(ctx, req.Roles); err != nil {
		return "", apikey.Key{}, fail(err)
	}
	if err := a.mayGrantScopes(req.Scopes); err != nil {
		return "", apikey.Key{}, err
	}
	plain, k, err := a.s.cfg.APIKeys.Create(ctx, req)
	a.record(ctx, err, "apikey.create", target{kind: "apikey", id: k.ID})
	return plain, k, fail(err)
}

// RevokeAPIKey revokes an API key at once, and lists it on the revocation
// list for resource servers that cached it.
func (a Actions) RevokeAPIKey(ctx context.Context, id string) error {
	k, err := a.s.cfg.APIKeys.Get(ctx, id)
	if err != nil {
		return fail(err)
	}
	if err := a.mayActOn(ctx, k.Roles); err != nil {
		return fail(err)
	}
	revs, err := revokeAPIKey(ctx, a.s.cfg.APIKeys, a.s.cfg.Store, k.ID, a.now())
	a.apply(revs)
	a.record(ctx, err, "apikey.revoke", target{kind: "apikey", id: k.ID})
	return fail(err)
}

// RotateAPIKey issues a successor of an API key, with its name, roles,
// scopes and lifetime, returned in clear this once; the old key ends after
// overlap.
func (a Actions) RotateAPIKey(ctx context.Context, id string, overlap time.Duration) (string, apikey.Key, error) {
	old, err := a.s.cfg.APIKeys.Get(ctx, id)
	if err != nil {
		return "", apikey.Key{}, fail(err)
	}
	// The successor holds the old key's roles and scopes.
	if err := a.mayActOn(ctx, old.Roles); err != nil {
		return "", apikey.Key{}, fail(err)
	}
	if err := a.mayGrantScopes(old.Scopes); err != nil {
		return "", apikey.Key{}, err
	}
	plain, k, err := a.s.cfg.APIKeys.Rotate(ctx, old.ID, overlap)
	a.record(ctx, err, "apikey.rotate", target{kind: "apikey", id: old.ID, details: map[string]string{"successor": k.ID}})
	return plain, k, fail(err)
}
