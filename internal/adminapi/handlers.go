package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/sdk"
)

// routes is the whole admin surface, each route with its policy.
func (a *API) routes() {
	perm := sdk.RequirePermissions
	for _, r := range []struct {
		pattern string
		policy  sdk.Policy
		fn      httpx.HandlerFunc
	}{
		{"GET /clients", perm("clients:read"), a.listClients},
		{"POST /clients", perm("clients:write"), a.createClient},
		{"GET /clients/{id}", perm("clients:read"), a.getClient},
		{"PATCH /clients/{id}", perm("clients:write"), a.updateClient},
		{"DELETE /clients/{id}", perm("clients:write"), a.deleteClient},
		{"POST /clients/{id}/secret", perm("clients:write"), a.rotateClientSecret},
		{"POST /clients/{id}/roles", perm("clients:write"), a.grantRole(admin.HolderClient)},
		{"DELETE /clients/{id}/roles/{role}", perm("clients:write"), a.revokeRole(admin.HolderClient)},

		{"GET /users", perm("users:read"), a.listUsers},
		{"POST /users", perm("users:write"), a.createUser},
		{"GET /users/{id}", perm("users:read"), a.getUser},
		{"PATCH /users/{id}", perm("users:write"), a.updateUser},
		{"DELETE /users/{id}", perm("users:write"), a.deleteUser},
		{"PUT /users/{id}/password", perm("users:write"), a.setPassword},
		{"POST /users/{id}/roles", perm("users:write"), a.grantRole(admin.HolderUser)},
		{"DELETE /users/{id}/roles/{role}", perm("users:write"), a.revokeRole(admin.HolderUser)},

		{"GET /roles", perm("roles:read"), a.listRoles},
		{"POST /roles", perm("roles:write"), a.createRole},
		{"GET /roles/{name}", perm("roles:read"), a.getRole},
		{"PUT /roles/{name}", perm("roles:write"), a.updateRole},
		{"DELETE /roles/{name}", perm("roles:write"), a.deleteRole},

		{"GET /apikeys", perm("apikeys:read"), a.listAPIKeys},
		{"POST /apikeys", perm("apikeys:write"), a.createAPIKey},
		{"GET /apikeys/{id}", perm("apikeys:read"), a.getAPIKey},
		{"DELETE /apikeys/{id}", perm("apikeys:write"), a.revokeAPIKey},
		{"POST /apikeys/{id}/rotate", perm("apikeys:write"), a.rotateAPIKey},

		{"GET /users/{id}/sessions", perm("sessions:read"), a.listSessions},
		{"DELETE /users/{id}/sessions", perm("sessions:write"), a.signOutEverywhere},
		{"DELETE /sessions/{sid}", perm("sessions:write"), a.endSession},

		{"GET /keys", perm("keys:read"), a.listSigningKeys},
		{"POST /keys/rotate", perm("keys:write"), a.rotateSigningKey},

		{"GET /federation/policies", perm("federation:read"), a.listFederationPolicies},
		{"GET /federation/policies/{name}", perm("federation:read"), a.getFederationPolicy},
		{"PUT /federation/policies/{name}", perm("federation:write"), a.putFederationPolicy},
		{"DELETE /federation/policies/{name}", perm("federation:write"), a.deleteFederationPolicy},

		{"GET /audit", perm("audit:read"), a.listAudit},
	} {
		method, path, _ := cutPattern(r.pattern)
		a.router.Handle(method+" "+Prefix+path, r.policy, httpx.Handle(a.cfg.Logger, a.audited(r.fn)))
	}
}

func cutPattern(p string) (method, path string, ok bool) {
	for i := range len(p) {
		if p[i] == ' ' {
			return p[:i], p[i+1:], true
		}
	}
	return "", p, false
}

// audited records every successful change in the audit log, naming the
// caller and the route.
func (a *API) audited(fn httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := fn(w, r)
		if err == nil && r.Method != http.MethodGet && a.cfg.Audit != nil {
			c, _ := caller(r)
			a.cfg.Audit.Record(r.Context(), store.AuditEvent{Time: a.cfg.Now(), Type: "admin_change",
				IP: httpx.ClientIP(r), Details: map[string]string{"actor": actor(c), "route": r.Pattern,
					"path": r.URL.Path}})
		}
		return err
	}
}

// maxBody bounds admin request bodies.
const maxBody = 64 << 10

// decode reads one JSON object into v, refusing unknown fields, trailing
// data and bodies over maxBody.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return oauth.NewError(oauth.CodeInvalidRequest, "the body could not be read")
	}
	if hasNULEscape(body) {
		return oauth.NewError(oauth.CodeInvalidRequest, "strings must not contain NUL characters")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return oauth.Errorf(oauth.CodeInvalidRequest, "the body must be one JSON object of the documented fields: %v", jsonProblem(err))
	}
	if dec.More() {
		return oauth.NewError(oauth.CodeInvalidRequest, "the body must hold exactly one JSON object")
	}
	return nil
}

// hasNULEscape reports whether the JSON text b holds a \u0000 escape, the
// only way a NUL can reach a decoded string (JSON forbids raw control
// characters): no store can hold one, so it is refused before decoding. An
// escape is real when an odd number of backslashes precedes the "u".
func hasNULEscape(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("u0000"))
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = j + 1
	}
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "incomplete JSON (or an empty or oversized body)"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if msg := err.Error(); len(msg) < 120 {
		return msg // json: unknown field "x"
	}
	return "invalid JSON"
}

// Error codes of RFC 7591 §3.2.2 for a client's metadata, which clients
// are created and changed with here.
const (
	// CodeInvalidRedirectURI: a redirect or post-logout redirect URI is
	// refused.
	CodeInvalidRedirectURI = "invalid_redirect_uri"
	// CodeInvalidClientMetadata: another field of a client is refused.
	CodeInvalidClientMetadata = "invalid_client_metadata"
)

// problem maps an error of the admin operations to an API error. Store
// errors get fixed descriptions: their text names internals.
func problem(err error) error {
	if _, ok := errors.AsType[*oauth.Error](err); ok {
		return err
	}
	e := func(status int, code, desc string) error {
		return &oauth.Error{Code: code, Status: status, Description: desc, Cause: err}
	}
	switch {
	// A redirect URI first: one error may join several refusals.
	case errors.Is(err, admin.ErrInvalidRedirectURI):
		return e(http.StatusBadRequest, CodeInvalidRedirectURI, err.Error())
	case errors.Is(err, admin.ErrInvalidClientMetadata):
		return e(http.StatusBadRequest, CodeInvalidClientMetadata, err.Error())
	case errors.Is(err, admin.ErrInvalid), errors.Is(err, apikey.ErrInvalidRequest):
		return e(http.StatusBadRequest, oauth.CodeInvalidRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return e(http.StatusNotFound, "not_found", "no such resource")
	case errors.Is(err, store.ErrInUse):
		desc := "the role is still held; take it from its holders first"
		if m := heldBy.FindString(err.Error()); m != "" {
			desc = "the role is still " + m + "; take it from them first"
		}
		return e(http.StatusConflict, "in_use", desc)
	case errors.Is(err, store.ErrConflict):
		return e(http.StatusConflict, "conflict", "a resource with this name or id already exists")
	case errors.Is(err, store.ErrRevoked):
		return e(http.StatusConflict, "conflict", "the API key is revoked")
	case errors.Is(err, store.ErrExpired):
		return e(http.StatusConflict, "conflict", "the API key has expired")
	}
	return oauth.ServerError(err)
}

var heldBy = regexp.MustCompile(`held by [0-9A-Za-z ,]+[0-9A-Za-z]`)

func writeJSONError(w http.ResponseWriter, e *oauth.Error) {
	httpx.NoStore(w)
	httpx.WriteJSON(w, e.HTTPStatus(), struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

func reply(w http.ResponseWriter, status int, v any) error {
	httpx.NoStore(w)
	httpx.WriteJSON(w, status, v)
	return nil
}

// forbidden is the answer to a caller handing out more than it holds.
func forbidden(perm string) error {
	return &oauth.Error{Code: oauth.CodeInsufficientScope, Status: http.StatusForbidden,
		Description: fmt.Sprintf("you cannot grant the permission '%s': your own permissions do not cover it", perm)}
}

// mayGrantPermissions checks that the caller holds every permission in perms.
func mayGrantPermissions(r *http.Request, perms []string) error {
	_, held := caller(r)
	for _, p := range perms {
		if !held.Covers(p) {
			return forbidden(p)
		}
	}
	return nil
}

// mayGrantRoles checks that the caller holds every permission of roles.
func (a *API) mayGrantRoles(r *http.Request, roles []string) error {
	for _, name := range roles {
		role, err := a.cfg.Store.GetRole(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			return oauth.Errorf(oauth.CodeInvalidRequest, "role %q does not exist", name)
		}
		if err != nil {
			return problem(err)
		}
		if err := mayGrantPermissions(r, role.Permissions); err != nil {
			return err
		}
	}
	return nil
}

// mayActOn checks that the caller holds every permission of the roles of
// the user, client or key it is about to change: resetting the password
// of, rotating the secret of, disabling, deleting or taking roles from a
// holder of more power would hand that power over, or take it away, from
// below. Role names that no longer exist grant nothing and are skipped.
func (a *API) mayActOn(r *http.Request, roles []string) error {
	for _, name := range roles {
		role, err := a.cfg.Store.GetRole(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return problem(err)
		}
		if err := mayGrantPermissions(r, role.Permissions); err != nil {
			return err
		}
	}
	return nil
}

// mayGrantScopes checks that the caller may hand out scopes on an API key:
// scopes it holds itself, or any when it holds every permission ("*:*").
// Scopes are what resource servers check with sdk.RequireScopes.
func mayGrantScopes(r *http.Request, scopes []string) error {
	c, held := caller(r)
	if held.Covers("*:*") {
		return nil
	}
	for _, sc := range scopes {
		if !c.HasScope(sc) {
			desc := "you cannot grant a scope you do not hold"
			if oauth.ValidScopeToken(sc) && len(sc) <= 100 {
				// Only a well-formed scope is named: the description
				// stays in the RFC 6749 charset.
				desc = fmt.Sprintf("you cannot grant the scope '%s': you do not hold it", sc)
			}
			return &oauth.Error{Code: oauth.CodeInsufficientScope, Status: http.StatusForbidden, Description: desc}
		}
	}
	return nil
}

// mayTouchAdminAudience checks that only a caller holding every
// permission creates or changes a client whose tokens reach the admin API:
// its users' tokens carry their roles there, so its redirect URIs and
// consent settings decide who can obtain an administrator's power.
func (a *API) mayTouchAdminAudience(r *http.Request, audiences ...[]string) error {
	for _, list := range audiences {
		for _, aud := range list {
			if aud == a.audience {
				if err := mayGrantPermissions(r, []string{"*:*"}); err != nil {
					return &oauth.Error{Code: oauth.CodeInsufficientScope, Status: http.StatusForbidden,
						Description: "only a holder of every permission (*:*) may manage clients of the admin audience"}
				}
			}
		}
	}
	return nil
}

// seconds turns a JSON count of seconds into a duration, refusing values
// that are negative or beyond max (and so could not overflow).
func seconds(n int64, max time.Duration, field string) (time.Duration, error) {
	if n < 0 || n > int64(max/time.Second) {
		return 0, oauth.Errorf(oauth.CodeInvalidRequest, "%s must be between 0 and %d", field, int64(max/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// clientGrace reads a client's refresh_grace_seconds; out of range, it is
// refused as client metadata like the fields admin checks.
func clientGrace(n int) (time.Duration, error) {
	d, err := seconds(int64(n), maxRefreshGrace, "refresh_grace_seconds")
	if oe, ok := errors.AsType[*oauth.Error](err); ok {
		oe.Code = CodeInvalidClientMetadata // a new error of seconds'
	}
	return d, err
}

// Bounds on durations given in requests.
const (
	maxKeyLifetime   = 10 * 365 * 24 * time.Hour
	maxRotateOverlap = 30 * 24 * time.Hour
	maxRefreshGrace  = time.Hour
)

// clientFor loads the client of the request's {id} and checks the caller
// may act on it.
func (a *API) clientFor(r *http.Request) (store.Client, error) {
	c, err := a.cfg.Store.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return store.Client{}, problem(err)
	}
	if err := a.mayActOn(r, c.Roles); err != nil {
		return store.Client{}, err
	}
	if err := a.mayTouchAdminAudience(r, c.Audiences); err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// userFor loads the user of the request's {id} (id, username or e-mail)
// and checks the caller may act on it.
func (a *API) userFor(r *http.Request) (store.User, error) {
	u, err := admin.FindUser(r.Context(), a.cfg.Store, r.PathValue("id"))
	if err != nil {
		return store.User{}, problem(err)
	}
	if err := a.mayActOn(r, u.Roles); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// endClientTokens refuses every access token issued to a client until now
// (its machine tokens have no grant to revoke).
func (a *API) endClientTokens(r *http.Request, id string) error {
	revs, err := admin.RevokeSubjectTokens(r.Context(), a.cfg.Store, id, a.cfg.Now(), a.cfg.AccessTTL)
	if err != nil {
		return oauth.Unavailable(fmt.Errorf("revoke the tokens of client %s: %w", id, err))
	}
	a.cfg.Revocations.Apply(revs)
	return nil
}

// --- clients

type clientRequest struct {
	ID                     string   `json:"client_id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	AuthMethod             string   `json:"token_endpoint_auth_method"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	Audiences              []string `json:"audiences"`
	Roles                  []string `json:"roles"`
	SkipConsent            bool     `json:"skip_consent"`
	RefreshGraceSeconds    int      `json:"refresh_grace_seconds"`
	IDTokenAlg             string   `json:"id_token_signed_response_alg"`
}

// clientPatch holds the fields PATCH may change; absent fields stay.
// Roles change through the roles routes.
type clientPatch struct {
	Name                   *string   `json:"name"`
	AuthMethod             *string   `json:"token_endpoint_auth_method"`
	RedirectURIs           *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
	GrantTypes             *[]string `json:"grant_types"`
	Scopes                 *[]string `json:"scopes"`
	Audiences              *[]string `json:"audiences"`
	SkipConsent            *bool     `json:"skip_consent"`
	RefreshGraceSeconds    *int      `json:"refresh_grace_seconds"`
	IDTokenAlg             *string   `json:"id_token_signed_response_alg"`
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.cfg.Store.ListClients(r.Context())
	if err != nil {
		return problem(err)
	}
	out := make([]ClientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, NewClientView(c, ""))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) error {
	var req clientRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.mayGrantRoles(r, req.Roles); err != nil {
		return err
	}
	if err := a.mayTouchAdminAudience(r, req.Audiences); err != nil {
		return err
	}
	grace, err := clientGrace(req.RefreshGraceSeconds)
	if err != nil {
		return err
	}
	c, secret, err := admin.CreateClient(r.Context(), a.cfg.Store, admin.ClientSpec{
		ID: req.ID, Name: req.Name, Public: req.Public, AuthMethod: req.AuthMethod, RedirectURIs: req.RedirectURIs,
		PostLogoutRedirectURIs: req.PostLogoutRedirectURIs, GrantTypes: req.GrantTypes, Scopes: req.Scopes,
		Audiences: req.Audiences, Roles: req.Roles, SkipConsent: req.SkipConsent,
		RefreshGrace: grace, IDTokenAlg: req.IDTokenAlg,
	}, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusCreated, NewClientView(c, secret))
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.cfg.Store.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, NewClientView(c, ""))
}

func (a *API) updateClient(w http.ResponseWriter, r *http.Request) error {
	var p clientPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	if _, err := a.clientFor(r); err != nil {
		return err
	}
	if p.Audiences != nil {
		if err := a.mayTouchAdminAudience(r, *p.Audiences); err != nil {
			return err
		}
	}
	var grace time.Duration
	if p.RefreshGraceSeconds != nil {
		var err error
		if grace, err = clientGrace(*p.RefreshGraceSeconds); err != nil {
			return err
		}
	}
	c, err := admin.UpdateClient(r.Context(), a.cfg.Store, r.PathValue("id"), func(s *admin.ClientSpec) {
		set := func(dst *[]string, v *[]string) {
			if v != nil {
				*dst = *v
			}
		}
		if p.Name != nil {
			s.Name = *p.Name
		}
		if p.AuthMethod != nil {
			s.AuthMethod = *p.AuthMethod
		}
		set(&s.RedirectURIs, p.RedirectURIs)
		set(&s.PostLogoutRedirectURIs, p.PostLogoutRedirectURIs)
		set(&s.GrantTypes, p.GrantTypes)
		set(&s.Scopes, p.Scopes)
		set(&s.Audiences, p.Audiences)
		if p.SkipConsent != nil {
			s.SkipConsent = *p.SkipConsent
		}
		if p.RefreshGraceSeconds != nil {
			s.RefreshGrace = grace
		}
		if p.IDTokenAlg != nil {
			s.IDTokenAlg = *p.IDTokenAlg
		}
	}, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, NewClientView(c, ""))
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.clientFor(r)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.DeleteClient(r.Context(), c.ID); err != nil {
		return problem(err)
	}
	if err := a.endClientTokens(r, c.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateClientSecret(w http.ResponseWriter, r *http.Request) error {
	c, err := a.clientFor(r)
	if err != nil {
		return err
	}
	secret, err := admin.RotateClientSecret(r.Context(), a.cfg.Store, c.ID, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	// Whoever held the old secret may hold tokens minted with it.
	if err := a.endClientTokens(r, c.ID); err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]string{"client_id": c.ID, "client_secret": secret})
}

// --- role grants

type grantRequest struct {
	Role string `json:"role"`
}

func (a *API) grantRole(holder string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req grantRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if err := a.mayGrantRoles(r, []string{req.Role}); err != nil {
			return err
		}
		id, err := a.holderID(r, holder)
		if err != nil {
			return err
		}
		roles, err := admin.GrantRole(r.Context(), a.cfg.Store, holder, id, req.Role, a.cfg.Now())
		if err != nil {
			return problem(err)
		}
		return reply(w, http.StatusOK, map[string]any{"id": id, "roles": nonNil(roles)})
	}
}

func (a *API) revokeRole(holder string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := a.holderID(r, holder)
		if err != nil {
			return err
		}
		roles, revs, err := admin.RevokeRole(r.Context(), a.cfg.Store, holder, id, r.PathValue("role"), a.cfg.Now(), a.cfg.AccessTTL)
		a.cfg.Revocations.Apply(revs)
		if err != nil {
			return problem(err)
		}
		return reply(w, http.StatusOK, map[string]any{"id": id, "roles": nonNil(roles)})
	}
}

// holderID resolves the {id} of a user (id, username or email) or client
// whose roles change, and checks the caller covers the roles it holds.
func (a *API) holderID(r *http.Request, holder string) (string, error) {
	if holder == admin.HolderClient {
		c, err := a.clientFor(r)
		return c.ID, err
	}
	u, err := a.userFor(r)
	return u.ID, err
}

// --- users

type userRequest struct {
	Username      string   `json:"username"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Password      string   `json:"password"`
	Roles         []string `json:"roles"`
}

type userPatch struct {
	Disabled *bool `json:"disabled"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.cfg.Store.ListUsers(r.Context())
	if err != nil {
		return problem(err)
	}
	out := make([]UserView, 0, len(us))
	for _, u := range us {
		out = append(out, NewUserView(u))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.mayGrantRoles(r, req.Roles); err != nil {
		return err
	}
	u, err := admin.CreateUser(r.Context(), a.cfg.Store, a.cfg.Passwords, admin.UserSpec{Username: req.Username,
		Email: req.Email, EmailVerified: req.EmailVerified, Password: req.Password, Roles: req.Roles}, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusCreated, NewUserView(u))
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := admin.FindUser(r.Context(), a.cfg.Store, r.PathValue("id"))
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, NewUserView(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	var p userPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	u, err := a.userFor(r)
	if err != nil {
		return err
	}
	if p.Disabled != nil {
		if u, err = admin.SetDisabled(r.Context(), a.cfg.Store, u.ID, *p.Disabled, a.cfg.Now(), a.cfg.AccessTTL); err != nil {
			return problem(err)
		}
	}
	return reply(w, http.StatusOK, NewUserView(u))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.userFor(r)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.DeleteUser(r.Context(), u.ID); err != nil {
		return problem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := a.userFor(r)
	if err != nil {
		return err
	}
	if _, err := admin.SetPassword(r.Context(), a.cfg.Store, a.cfg.Passwords, u.ID, req.Password, a.cfg.Now(), a.cfg.AccessTTL); err != nil {
		return problem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- roles

type roleRequest struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}

type rolePatch struct {
	Description *string  `json:"description"`
	Permissions []string `json:"permissions"`
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.cfg.Store.ListRoles(r.Context())
	if err != nil {
		return problem(err)
	}
	out := make([]RoleView, 0, len(rs))
	for _, x := range rs {
		out = append(out, NewRoleView(x))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) createRole(w http.ResponseWriter, r *http.Request) error {
	var req roleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validPermissions(req.Permissions); err != nil {
		return err
	}
	if err := mayGrantPermissions(r, req.Permissions); err != nil {
		return err
	}
	role, err := admin.CreateRole(r.Context(), a.cfg.Store, req.Name, req.Description, req.Permissions, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusCreated, NewRoleView(role))
}

func validPermissions(perms []string) error {
	for _, p := range perms {
		if err := rbac.ValidatePermission(p); err != nil {
			return oauth.Errorf(oauth.CodeInvalidRequest, "%v", err)
		}
	}
	return nil
}

func (a *API) getRole(w http.ResponseWriter, r *http.Request) error {
	role, err := a.cfg.Store.GetRole(r.Context(), r.PathValue("name"))
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, NewRoleView(role))
}

func (a *API) updateRole(w http.ResponseWriter, r *http.Request) error {
	var p rolePatch
	if err := decode(r, &p); err != nil {
		return err
	}
	if p.Permissions == nil {
		return oauth.NewError(oauth.CodeInvalidRequest, "permissions is required (an empty list removes every permission)")
	}
	if err := validPermissions(p.Permissions); err != nil {
		return err
	}
	if err := mayGrantPermissions(r, p.Permissions); err != nil {
		return err
	}
	if err := a.mayActOn(r, []string{r.PathValue("name")}); err != nil {
		return err
	}
	role, err := admin.SetRolePermissions(r.Context(), a.cfg.Store, r.PathValue("name"), p.Permissions, p.Description, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, NewRoleView(role))
}

func (a *API) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.mayActOn(r, []string{r.PathValue("name")}); err != nil {
		return err
	}
	if err := admin.DeleteRole(r.Context(), a.cfg.Store, r.PathValue("name")); err != nil {
		return problem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- API keys

type apiKeyRequest struct {
	Name             string   `json:"name"`
	Roles            []string `json:"roles"`
	Scopes           []string `json:"scopes"`
	ExpiresInSeconds int64    `json:"expires_in_seconds"`
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.cfg.APIKeys.List(r.Context())
	if err != nil {
		return problem(err)
	}
	out := make([]APIKeyView, 0, len(ks))
	for _, k := range ks {
		out = append(out, NewAPIKeyView(k, ""))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req apiKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	expiresIn, err := seconds(req.ExpiresInSeconds, maxKeyLifetime, "expires_in_seconds (0: never expires)")
	if err != nil {
		return err
	}
	if err := a.mayGrantRoles(r, req.Roles); err != nil {
		return err
	}
	if err := mayGrantScopes(r, req.Scopes); err != nil {
		return err
	}
	plain, k, err := a.cfg.APIKeys.Create(r.Context(), apikey.CreateRequest{Name: req.Name, Roles: req.Roles,
		Scopes: req.Scopes, ExpiresIn: expiresIn})
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusCreated, NewAPIKeyView(k, plain))
}

func (a *API) getAPIKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.cfg.APIKeys.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, NewAPIKeyView(k, ""))
}

func (a *API) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.cfg.APIKeys.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return problem(err)
	}
	if err := a.mayActOn(r, k.Roles); err != nil {
		return err
	}
	revs, err := admin.RevokeAPIKey(r.Context(), a.cfg.APIKeys, a.cfg.Store, k.ID, a.cfg.Now())
	a.cfg.Revocations.Apply(revs)
	if err != nil {
		return problem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		OverlapSeconds int64 `json:"overlap_seconds"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	old, err := a.cfg.APIKeys.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return problem(err)
	}
	overlap, err := seconds(req.OverlapSeconds, maxRotateOverlap, "overlap_seconds")
	if err != nil {
		return err
	}
	// Rotating mints a key with the old key's roles and scopes.
	if err := a.mayActOn(r, old.Roles); err != nil {
		return err
	}
	if err := mayGrantScopes(r, old.Scopes); err != nil {
		return err
	}
	plain, k, err := a.cfg.APIKeys.Rotate(r.Context(), old.ID, overlap)
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusCreated, NewAPIKeyView(k, plain))
}

// --- sessions

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) error {
	u, err := admin.FindUser(r.Context(), a.cfg.Store, r.PathValue("id"))
	if err != nil {
		return problem(err)
	}
	ss, err := a.cfg.Store.ListUserSessions(r.Context(), u.ID, a.cfg.Now())
	if err != nil {
		return problem(err)
	}
	out := make([]SessionView, 0, len(ss))
	for _, s := range ss {
		out = append(out, SessionView{ID: s.ID, UserID: s.UserID, AuthTime: s.AuthTime, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	u, err := a.userFor(r)
	if err != nil {
		return err
	}
	revs, err := admin.SignOutEverywhere(r.Context(), a.cfg.Store, u.ID, a.cfg.Now(), a.cfg.AccessTTL)
	if err != nil {
		return problem(err)
	}
	a.cfg.Revocations.Apply(revs)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request) error {
	now := a.cfg.Now()
	revs, err := a.cfg.Store.EndSession(r.Context(), r.PathValue("sid"), now, now.Add(a.cfg.AccessTTL+keys.MaxLeeway))
	if err != nil {
		return problem(err)
	}
	a.cfg.Revocations.Apply(revs)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- signing keys

func (a *API) listSigningKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.cfg.Signing.List(r.Context())
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusOK, nonNil(ks))
}

func (a *API) rotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Alg string `json:"alg"`
		// Immediate skips pre-publication (a compromised key).
		Immediate bool `json:"immediate"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	switch req.Alg {
	case "ES256", "RS256", "EdDSA":
	default:
		return oauth.NewError(oauth.CodeInvalidRequest, `alg must be "ES256", "RS256" or "EdDSA"`)
	}
	rotate := a.cfg.Signing.Rotate
	if req.Immediate {
		rotate = a.cfg.Signing.RotateNow
	}
	k, err := rotate(r.Context(), req.Alg)
	if errors.Is(err, keys.ErrRotationPending) {
		return &oauth.Error{Code: "rotation_pending", Status: http.StatusConflict, Cause: err,
			Description: "a rotation of this algorithm is pending; its key activates at the time keys list shows"}
	}
	if err != nil {
		return problem(err)
	}
	return reply(w, http.StatusCreated, keys.KeyInfo{KID: k.ID, Algorithm: k.Algorithm, State: k.State,
		CreatedAt: k.CreatedAt, ActivateAt: k.ActivateAt})
}

// --- audit

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := store.AuditQuery{Limit: 100, Type: q.Get("type"), UserID: q.Get("user"), ClientID: q.Get("client")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return oauth.NewError(oauth.CodeInvalidRequest, "limit must be 1 to 1000")
		}
		aq.Limit = n
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return oauth.NewError(oauth.CodeInvalidRequest, "before must be an event id")
		}
		aq.BeforeID = n
	}
	es, err := a.cfg.Store.ListAuditEvents(r.Context(), aq)
	if err != nil {
		return problem(err)
	}
	out := make([]AuditView, 0, len(es))
	for _, e := range es {
		out = append(out, AuditView{ID: e.ID, Time: e.Time, Type: e.Type, ClientID: e.ClientID, UserID: e.UserID,
			SessionID: e.SessionID, IP: e.IP, RequestID: e.RequestID, Details: e.Details})
	}
	return reply(w, http.StatusOK, out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
