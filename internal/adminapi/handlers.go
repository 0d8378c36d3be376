package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/httpx"
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
		method, path, _ := strings.Cut(r.pattern, " ")
		a.router.Handle(method+" "+Prefix+path, r.policy, a.handle(r.fn))
	}
}

// maxBody bounds admin request bodies.
const maxBody = 64 << 10

// decode reads one JSON object into v, refusing unknown fields, trailing
// data and bodies over maxBody.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("the body could not be read")
	}
	if hasNULEscape(body) {
		return badRequest("strings must not contain NUL characters")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body must be one JSON object of the documented fields: %v", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("the body must hold exactly one JSON object")
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

func reply(w http.ResponseWriter, status int, v any) error {
	httpx.NoStore(w)
	httpx.WriteJSON(w, status, v)
	return nil
}

func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// seconds turns a JSON count of seconds into a duration, refusing values
// that are negative or beyond max (and so could not overflow).
func seconds(n int64, max time.Duration, field string) (time.Duration, error) {
	if n < 0 || n > int64(max/time.Second) {
		return 0, badRequest("%s must be between 0 and %d", field, int64(max/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// clientGrace reads a client's refresh_grace_seconds; out of range, it is
// refused as client metadata like the fields the admin service checks.
func clientGrace(n int) (time.Duration, error) {
	d, err := seconds(int64(n), maxRefreshGrace, "refresh_grace_seconds")
	if p, ok := errors.AsType[*Problem](err); ok {
		p.Code = CodeInvalidClientMetadata // a new Problem of seconds'
	}
	return d, err
}

// Bounds on durations given in requests.
const (
	maxKeyLifetime   = 10 * 365 * 24 * time.Hour
	maxRotateOverlap = 30 * 24 * time.Hour
	maxRefreshGrace  = time.Hour
)

// list renders the items of a list read as views.
func list[T, V any](w http.ResponseWriter, items []T, err error, view func(T) V) error {
	if err != nil {
		return err
	}
	out := make([]V, 0, len(items))
	for _, x := range items {
		out = append(out, view(x))
	}
	return reply(w, http.StatusOK, out)
}

// --- clients

// ClientPatch is the body of PATCH /clients/{id}: the fields given change,
// absent ones stay. Roles change through the roles routes.
type ClientPatch struct {
	Name                   *string   `json:"name,omitempty"`
	AuthMethod             *string   `json:"token_endpoint_auth_method,omitempty"`
	RedirectURIs           *[]string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes             *[]string `json:"grant_types,omitempty"`
	Scopes                 *[]string `json:"scopes,omitempty"`
	Audiences              *[]string `json:"audiences,omitempty"`
	SkipConsent            *bool     `json:"skip_consent,omitempty"`
	RefreshGraceSeconds    *int      `json:"refresh_grace_seconds,omitempty"`
	IDTokenAlg             *string   `json:"id_token_signed_response_alg,omitempty"`
	OmitRefreshIDToken     *bool     `json:"omit_refresh_id_token,omitempty"`
}

// NewClientPatch is the body that asks for p, less its roles.
func NewClientPatch(p admin.ClientPatch) ClientPatch {
	out := ClientPatch{Name: p.Name, AuthMethod: p.AuthMethod, RedirectURIs: p.RedirectURIs,
		PostLogoutRedirectURIs: p.PostLogoutRedirectURIs, GrantTypes: p.GrantTypes, Scopes: p.Scopes,
		Audiences: p.Audiences, SkipConsent: p.SkipConsent, IDTokenAlg: p.IDTokenAlg,
		OmitRefreshIDToken: p.OmitRefreshIDToken}
	if p.RefreshGrace != nil {
		n := int(*p.RefreshGrace / time.Second)
		out.RefreshGraceSeconds = &n
	}
	return out
}

// change is the admin service's patch p asks for.
func (p ClientPatch) change() (admin.ClientPatch, error) {
	out := admin.ClientPatch{Name: p.Name, AuthMethod: p.AuthMethod, RedirectURIs: p.RedirectURIs,
		PostLogoutRedirectURIs: p.PostLogoutRedirectURIs, GrantTypes: p.GrantTypes, Scopes: p.Scopes,
		Audiences: p.Audiences, SkipConsent: p.SkipConsent, IDTokenAlg: p.IDTokenAlg,
		OmitRefreshIDToken: p.OmitRefreshIDToken}
	if p.RefreshGraceSeconds != nil {
		grace, err := clientGrace(*p.RefreshGraceSeconds)
		if err != nil {
			return admin.ClientPatch{}, err
		}
		out.RefreshGrace = &grace
	}
	return out, nil
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.as(r).ListClients(r.Context())
	return list(w, cs, err, func(c store.Client) ClientView { return NewClientView(c, "") })
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) error {
	var req ClientRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	grace, err := clientGrace(req.RefreshGraceSeconds)
	if err != nil {
		return err
	}
	c, secret, err := a.as(r).CreateClient(r.Context(), admin.ClientSpec{
		ID: req.ClientID, Name: req.Name, Public: req.Public, AuthMethod: req.TokenEndpointAuthMethod,
		RedirectURIs: req.RedirectURIs, PostLogoutRedirectURIs: req.PostLogoutRedirectURIs, GrantTypes: req.GrantTypes,
		Scopes: req.Scopes, Audiences: req.Audiences, Roles: req.Roles, SkipConsent: req.SkipConsent,
		RefreshGrace: grace, IDTokenAlg: req.IDTokenAlg, OmitRefreshIDToken: req.OmitRefreshIDToken,
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, NewClientView(c, secret))
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.as(r).GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewClientView(c, ""))
}

func (a *API) updateClient(w http.ResponseWriter, r *http.Request) error {
	var body ClientPatch
	if err := decode(r, &body); err != nil {
		return err
	}
	p, err := body.change()
	if err != nil {
		return err
	}
	c, err := a.as(r).UpdateClient(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewClientView(c, ""))
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).DeleteClient(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (a *API) rotateClientSecret(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	secret, err := a.as(r).RotateClientSecret(r.Context(), id)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]string{"client_id": id, "client_secret": secret})
}

// --- role grants

// holderRoles is the answer of a grant or a revocation of a role.
type holderRoles struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
}

func (a *API) grantRole(holder string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			Role string `json:"role"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		act := a.as(r)
		roles, err := act.GrantRole(r.Context(), holder, r.PathValue("id"), req.Role)
		if err != nil {
			return err
		}
		return a.replyHolder(w, r, act, holder, roles)
	}
}

func (a *API) revokeRole(holder string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		act := a.as(r)
		roles, err := act.RevokeRole(r.Context(), holder, r.PathValue("id"), r.PathValue("role"))
		if err != nil {
			return err
		}
		return a.replyHolder(w, r, act, holder, roles)
	}
}

// replyHolder answers with the holder's id (a user's {id} may be a
// username or an e-mail address) and roles.
func (a *API) replyHolder(w http.ResponseWriter, r *http.Request, act admin.Actions, holder string, roles []string) error {
	id := r.PathValue("id")
	if holder == admin.HolderUser {
		u, err := act.FindUser(r.Context(), id)
		if err != nil {
			return err
		}
		id = u.ID
	}
	return reply(w, http.StatusOK, holderRoles{ID: id, Roles: nonNil(roles)})
}

// --- users

type userRequest struct {
	Username      string   `json:"username"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Password      string   `json:"password"`
	Roles         []string `json:"roles"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.as(r).ListUsers(r.Context())
	return list(w, us, err, NewUserView)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := a.as(r).CreateUser(r.Context(), admin.UserSpec{Username: req.Username, Email: req.Email,
		EmailVerified: req.EmailVerified, Password: req.Password, Roles: req.Roles})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, NewUserView(u))
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.as(r).FindUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewUserView(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	var p struct {
		Disabled *bool `json:"disabled"`
	}
	if err := decode(r, &p); err != nil {
		return err
	}
	u, err := a.as(r).UpdateUser(r.Context(), r.PathValue("id"), admin.UserPatch{Disabled: p.Disabled})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewUserView(u))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).DeleteUser(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := a.as(r).SetUserPassword(r.Context(), r.PathValue("id"), req.Password); err != nil {
		return err
	}
	return noContent(w)
}

// --- roles

type roleRequest struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.as(r).ListRoles(r.Context())
	return list(w, rs, err, NewRoleView)
}

func (a *API) createRole(w http.ResponseWriter, r *http.Request) error {
	var req roleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := a.as(r).CreateRole(r.Context(), req.Name, req.Description, req.Permissions)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, NewRoleView(role))
}

func (a *API) getRole(w http.ResponseWriter, r *http.Request) error {
	role, err := a.as(r).GetRole(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewRoleView(role))
}

func (a *API) updateRole(w http.ResponseWriter, r *http.Request) error {
	var p struct {
		Description *string  `json:"description"`
		Permissions []string `json:"permissions"`
	}
	if err := decode(r, &p); err != nil {
		return err
	}
	if p.Permissions == nil {
		return badRequest("permissions is required (an empty list removes every permission)")
	}
	role, err := a.as(r).SetRolePermissions(r.Context(), r.PathValue("name"), p.Permissions, p.Description)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewRoleView(role))
}

func (a *API) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).DeleteRole(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	return noContent(w)
}

// --- API keys

type apiKeyRequest struct {
	Name             string   `json:"name"`
	Roles            []string `json:"roles"`
	Scopes           []string `json:"scopes"`
	ExpiresInSeconds int64    `json:"expires_in_seconds"`
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.as(r).ListAPIKeys(r.Context())
	return list(w, ks, err, func(k apikey.Key) APIKeyView { return NewAPIKeyView(k, "") })
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
	plain, k, err := a.as(r).CreateAPIKey(r.Context(), apikey.CreateRequest{Name: req.Name, Roles: req.Roles,
		Scopes: req.Scopes, ExpiresIn: expiresIn})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, NewAPIKeyView(k, plain))
}

func (a *API) getAPIKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.as(r).GetAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, NewAPIKeyView(k, ""))
}

func (a *API) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).RevokeAPIKey(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (a *API) rotateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		OverlapSeconds int64 `json:"overlap_seconds"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	overlap, err := seconds(req.OverlapSeconds, maxRotateOverlap, "overlap_seconds")
	if err != nil {
		return err
	}
	plain, k, err := a.as(r).RotateAPIKey(r.Context(), r.PathValue("id"), overlap)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, NewAPIKeyView(k, plain))
}

// --- sessions

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) error {
	ss, err := a.as(r).ListSessions(r.Context(), r.PathValue("id"))
	return list(w, ss, err, NewSessionView)
}

func (a *API) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).SignOutEverywhere(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request) error {
	if err := a.as(r).EndSession(r.Context(), r.PathValue("sid")); err != nil {
		return err
	}
	return noContent(w)
}

// --- signing keys

func (a *API) listSigningKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.as(r).ListSigningKeys(r.Context())
	return list(w, ks, err, NewSigningKeyView)
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
	if req.Alg == "" {
		// The admin service would pick its defaults: the API rotates
		// exactly the algorithm asked for.
		return badRequest(`alg must be "ES256", "RS256" or "EdDSA"`)
	}
	ks, err := a.as(r).RotateSigningKeys(r.Context(), []string{req.Alg}, req.Immediate)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, NewSigningKeyView(ks[0]))
}

// --- audit

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := store.AuditQuery{Limit: 100, Type: q.Get("type"), UserID: q.Get("user"), ClientID: q.Get("client")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be 1 to 1000")
		}
		aq.Limit = n
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before must be an event id")
		}
		aq.BeforeID = n
	}
	es, err := a.as(r).ListAuditEvents(r.Context(), aq)
	return list(w, es, err, NewAuditView)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
