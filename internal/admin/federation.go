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
	GetFederationPolicy(ctx context.Context, name string) (store.FederationPolicy, error)
	ListFederationPolicies(ctx context.Context) ([]store.FederationPolicy, error)
	UpdateFederationPolicy(ctx context.Context, name string, fn func(store.FederationPolicy) (store.FederationPolicy, error)) (store.FederationPolicy, error)
	DeleteFederationPolicy(ctx context.Context, name string) error
}

// FederationCache is told when a policy changes through this node, so its
// next exchange sees the change at once (other nodes within a second).
type FederationCache interface{ Invalidate() }

// putFederationPolicy creates p (already normalized, its roles checked), or
// replaces the policy of that name; created reports which.
func putFederationPolicy(ctx context.Context, st FederationStore, p store.FederationPolicy, now time.Time) (out store.FederationPolicy, created bool, err error) {
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

// ListFederationPolicies returns every federation policy.
func (a Actions) ListFederationPolicies(ctx context.Context) ([]store.FederationPolicy, error) {
	ps, err := a.s.cfg.Store.ListFederationPolicies(ctx)
	return ps, fail(err)
}

// GetFederationPolicy returns the policy of that name.
func (a Actions) GetFederationPolicy(ctx context.Context, name string) (store.FederationPolicy, error) {
	p, err := a.s.cfg.Store.GetFederationPolicy(ctx, name)
	return p, fail(err)
}

// PutFederationPolicy validates p (package federation's rules) and creates
// it, or replaces the policy of that name; created reports which. A policy
// hands out roles, scopes and audiences to workloads, so the principal
// must hold what it grants, and what a replaced policy granted. Every node
// applies the change within federation's policy cache lifetime (a second).
func (a Actions) PutFederationPolicy(ctx context.Context, p store.FederationPolicy) (store.FederationPolicy, bool, error) {
	// Every problem with the policy first, then the principal's rights.
	p, err := federation.Normalize(p)
	if err != nil {
		return store.FederationPolicy{}, false, &Error{Kind: ErrInvalid, Message: err.Error(), Err: err}
	}
	if err := a.mayGrantRoles(ctx, p.Roles); err != nil {
		return store.FederationPolicy{}, false, fail(err)
	}
	if err := a.mayGrantScopes(p.Scopes); err != nil {
		return store.FederationPolicy{}, false, err
	}
	if err := a.mayTouchAdminAudience(p.Audiences); err != nil {
		return store.FederationPolicy{}, false, err
	}
	switch old, err := a.s.cfg.Store.GetFederationPolicy(ctx, p.Name); {
	case err == nil:
		if err := a.mayActOn(ctx, old.Roles); err != nil {
			return store.FederationPolicy{}, false, fail(err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return store.FederationPolicy{}, false, err
	}
	out, created, err := putFederationPolicy(ctx, a.s.cfg.Store, p, a.now())
	if err == nil {
		a.invalidateFederation()
	}
	a.record(ctx, err, "federation_policy.put", target{kind: "federation_policy", id: p.Name})
	return out, created, fail(err)
}

// DeleteFederationPolicy deletes the policy of that name, if the principal
// holds what it grants.
func (a Actions) DeleteFederationPolicy(ctx context.Context, name string) error {
	old, err := a.s.cfg.Store.GetFederationPolicy(ctx, name)
	if err != nil {
		return fail(err)
	}
	if err := a.mayActOn(ctx, old.Roles); err != nil {
		return fail(err)
	}
	err = a.s.cfg.Store.DeleteFederationPolicy(ctx, old.Name)
	if err == nil {
		a.invalidateFederation()
	}
	a.record(ctx, err, "federation_policy.delete", target{kind: "federation_policy", id: old.Name})
	return fail(err)
}

func (a Actions) invalidateFederation() {
	if a.s.cfg.Federation != nil {
		a.s.cfg.Federation.Invalidate()
	}
}
