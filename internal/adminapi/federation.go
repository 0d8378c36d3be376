package adminapi

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/federation"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// FederationCache is told when a policy changes through this node, so its
// next exchange sees the change at once (other nodes within a second).
type FederationCache interface{ Invalidate() }

func (a *API) listFederationPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.cfg.Store.ListFederationPolicies(r.Context())
	if err != nil {
		return problem(err)
	}
	out := make([]federation.Document, 0, len(ps))
	for _, p := range ps {
		out = append(out, federation.DocumentOf(p))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) getFederationPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.cfg.Store.GetFederationPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, federation.DocumentOf(p))
}

// putFederationPolicy creates or replaces the policy named in the path. A
// policy hands out roles, scopes and audiences to workloads, so the caller
// must hold what it grants, and what a replaced policy granted.
func (a *API) putFederationPolicy(w http.ResponseWriter, r *http.Request) error {
	var d federation.Document
	if err := decode(r, &d); err != nil {
		return err
	}
	name := r.PathValue("name")
	if d.Name == "" {
		d.Name = name
	}
	if d.Name != name {
		return oauth.NewError(oauth.CodeInvalidRequest, "the body's name differs from the path's")
	}
	// Every problem with the document first, then the caller's rights.
	p, err := federation.Normalize(d.Policy())
	if err != nil {
		return oauth.Errorf(oauth.CodeInvalidRequest, "%v", err)
	}
	if err := a.mayGrantRoles(r, p.Roles); err != nil {
		return err
	}
	if err := mayGrantScopes(r, p.Scopes); err != nil {
		return err
	}
	if err := a.mayTouchAdminAudience(r, p.Audiences); err != nil {
		return err
	}
	if old, err := a.cfg.Store.GetFederationPolicy(r.Context(), name); err == nil {
		if err := a.mayActOn(r, old.Roles); err != nil {
			return err
		}
	}
	out, created, err := admin.PutFederationPolicy(r.Context(), a.cfg.Store, p, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	a.invalidateFederation()
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return reply(w, status, federation.DocumentOf(out))
}

func (a *API) deleteFederationPolicy(w http.ResponseWriter, r *http.Request) error {
	old, err := a.cfg.Store.GetFederationPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		return problem(err)
	}
	if err := a.mayActOn(r, old.Roles); err != nil {
		return err
	}
	if err := a.cfg.Store.DeleteFederationPolicy(r.Context(), old.Name); err != nil {
		return problem(err)
	}
	a.invalidateFederation()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) invalidateFederation() {
	if a.cfg.Federation != nil {
		a.cfg.Federation.Invalidate()
	}
}
