package adminapi

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/federation"
)

func (a *API) listFederationPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.as(r).ListFederationPolicies(r.Context())
	return list(w, ps, err, federation.DocumentOf)
}

func (a *API) getFederationPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.as(r).GetFederationPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, federation.DocumentOf(p))
}

// putFederationPolicy creates or replaces the policy named in the path.
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
		return badRequest("the body's name differs from the path's")
	}
	out, created, err := a.as(r).PutFederationPolicy(r.Context(), d.Policy())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return reply(w, status, federation.DocumentOf(out))
}

func (a *API) deleteFederationPolicy(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).DeleteFederationPolicy(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	return noContent(w)
}
