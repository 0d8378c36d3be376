package admin

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/internal/federation"
	"github.com/gatehouse/gatehouse/internal/store"
)

// FederationStore is what federation policy administration needs.
type FederationStore interface {
	CreateFederationPolicy(ctx context.Context, p store.FederationPolicy) error
	UpdateFederationPolicy(ctx context.Context, name string, fn func(store.FederationPolicy) (store.FederationPolicy, error)) (store.FederationPolicy, error)
	GetRole(ctx context.Context, name string) (store.Role, error)
}

// PutFederationPolicy validates p (package federation's rules, and that
// its roles exist) and creates it, or replaces the policy of that name;
// created reports which. Every node applies the change within
// federation's policy cache lifetime (a second).
func PutFederationPolicy(ctx context.Context, st FederationStore, p store.FederationPolicy, now time.Time) (out store.FederationPolicy, created bool, err error) {
	p, err = federation.Normalize(p)
	if err != nil {
		return store.FederationPolicy{}, false, invalid("%v", err)
	}
	for _, r := range p.Roles {
		if _, err := st.GetRole(ctx, r); errors.Is(err, store.ErrNotFound) {
			return store.FederationPolicy{}, false, invalid("role %q does not exist", r)
		} else if err != nil {
			return store.FederationPolicy{}, false, err
		}
	}
	out, err = st.UpdateFederationPolicy(ctx, p.Name, func(old store.FederationPolicy) (store.FederationPolicy, error) {
		p.CreatedAt, p.UpdatedAt = old.CreatedAt, now
		return p, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		return out, false, err
	}
	p.CreatedAt, p.UpdatedAt = now, now
	if err := st.CreateFederationPolicy(ctx, p); err != nil {
		return store.FederationPolicy{}, false, err
	}
	return p, true, nil
}
