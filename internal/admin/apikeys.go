package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/store"
)

// APIKeyRevocationTTL is how long the revocation entry of a revoked API key
// is kept. Resource servers cache accepted keys for at most 5 minutes
// (sdk.MaxAPIKeyCacheTTL) and check the revocation list on every request,
// so the entry must outlive any such cache.
const APIKeyRevocationTTL = 10 * time.Minute

// RevocationWriter records revocation entries (the store).
type RevocationWriter interface {
	AddRevocations(ctx context.Context, rs []store.Revocation, now time.Time) ([]store.Revocation, error)
}

// RevokeAPIKey revokes a key in the store (every Gatehouse node refuses it
// within apikey.MaxCacheTTL) and lists its id on the revocation list, so
// resource servers that cached it refuse it as soon as they follow the
// list. It returns the entries written, for a server to apply to its own
// list.
func RevokeAPIKey(ctx context.Context, keys *apikey.Service, st RevocationWriter, id string, now time.Time) ([]store.Revocation, error) {
	if err := keys.Revoke(ctx, id); err != nil {
		return nil, err
	}
	revs, err := st.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeJTI, Value: id,
		ExpiresAt: now.Add(APIKeyRevocationTTL)}}, now)
	if err != nil {
		return nil, fmt.Errorf("API key %s is revoked, but resource servers that cached it may accept it for up to 5 minutes (retry to shorten that): %w", id, err)
	}
	return revs, nil
}
