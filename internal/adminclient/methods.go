package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/federation"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// call sends one request to the admin API: path is relative to /admin/v1,
// in (if not nil) is the JSON body, out (if not nil) receives the JSON
// answer.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	_, err := c.send(ctx, method, path, query, in, out)
	return err
}

// send is call, also returning the status of a successful answer.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	u := *c.base
	u.Path += adminapi.Prefix + path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the method and URL, which hold no secret.
		return 0, fmt.Errorf("admin API: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, fmt.Errorf("admin API: %s %s: reading the answer: %w", method, u.Path, err)
	}
	if len(data) > maxBody {
		return 0, fmt.Errorf("admin API: %s %s: the answer is over %d bytes", method, u.Path, maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(data, &e) // a proxy's HTML page leaves e empty
		return 0, &Error{Status: resp.StatusCode, Code: printable(e.Error), Description: printable(e.Description),
			RetryAfter: printable(resp.Header.Get("Retry-After")), keyName: c.keyName}
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return 0, fmt.Errorf("admin API: %s %s: the answer is not the JSON expected (is --server a Gatehouse server?): %w", method, u.Path, err)
	}
	return resp.StatusCode, nil
}

// list reads the list at path (GET) and converts each view.
func list[V, T any](ctx context.Context, c *Client, path string, query url.Values, conv func(V) (T, error)) ([]T, error) {
	var vs []V
	if err := c.call(ctx, http.MethodGet, path, query, nil, &vs); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(vs))
	for _, v := range vs {
		x, err := conv(v)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// plain adapts a conversion that cannot fail.
func plain[V, T any](conv func(V) T) func(V) (T, error) {
	return func(v V) (T, error) { return conv(v), nil }
}

// seg escapes one path segment.
func seg(s string) string { return "/" + url.PathEscape(s) }

// parseViewTime parses a view's RFC 3339 time; empty is zero.
func parseViewTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("admin API: bad time %q: %w", printable(s), err)
	}
	return t.UTC(), nil
}

// --- clients

func clientOf(v adminapi.ClientView) (store.Client, error) {
	created, err := parseViewTime(v.CreatedAt)
	if err != nil {
		return store.Client{}, err
	}
	updated, err := parseViewTime(v.UpdatedAt)
	if err != nil {
		return store.Client{}, err
	}
	return store.Client{ID: v.ClientID, Name: v.Name, Public: v.Public, TokenEndpointAuthMethod: v.TokenEndpointAuthMethod,
		RedirectURIs: v.RedirectURIs, PostLogoutRedirectURIs: v.PostLogoutRedirectURIs, GrantTypes: v.GrantTypes,
		Scopes: v.Scopes, Audiences: v.Audiences, Roles: v.Roles, SkipConsent: v.SkipConsent,
		RefreshGrace: time.Duration(v.RefreshGraceSeconds) * time.Second, IDTokenAlg: idTokenAlgOf(v.IDTokenAlg),
		OmitRefreshIDToken: v.OmitRefreshIDToken, CreatedAt: created, UpdatedAt: updated}, nil
}

// idTokenAlgOf is a view's algorithm as the store keeps it: RS256, the
// default, as empty.
func idTokenAlgOf(alg string) string {
	if alg == "RS256" {
		return ""
	}
	return alg
}

// CreateClient registers a client (POST /clients); the secret is in clear
// this once.
func (c *Client) CreateClient(ctx context.Context, s admin.ClientSpec) (store.Client, string, error) {
	var v adminapi.ClientView
	if err := c.call(ctx, http.MethodPost, "/clients", nil, adminapi.NewClientRequest(s), &v); err != nil {
		return store.Client{}, "", err
	}
	cl, err := clientOf(v)
	return cl, v.ClientSecret, err
}

// ListClients lists the clients (GET /clients).
func (c *Client) ListClients(ctx context.Context) ([]store.Client, error) {
	return list(ctx, c, "/clients", nil, clientOf)
}

// GetClient returns a client (GET /clients/{id}).
func (c *Client) GetClient(ctx context.Context, id string) (store.Client, error) {
	var v adminapi.ClientView
	if err := c.call(ctx, http.MethodGet, "/clients"+seg(id), nil, nil, &v); err != nil {
		return store.Client{}, err
	}
	return clientOf(v)
}

// UpdateClient patches the client; roles, which PATCH does not take, are
// changed through the role routes afterwards (so a role taken away also
// revokes the client's older tokens).
func (c *Client) UpdateClient(ctx context.Context, id string, p admin.ClientPatch) (store.Client, error) {
	var v adminapi.ClientView
	if err := c.call(ctx, http.MethodPatch, "/clients"+seg(id), nil, adminapi.NewClientPatch(p), &v); err != nil {
		return store.Client{}, err
	}
	if p.Roles == nil || slices.Equal(v.Roles, *p.Roles) {
		return clientOf(v)
	}
	for _, role := range *p.Roles {
		if !slices.Contains(v.Roles, role) {
			if _, err := c.GrantRole(ctx, admin.HolderClient, id, role); err != nil {
				return store.Client{}, fmt.Errorf("client %s updated, but granting role %s failed: %w", id, role, err)
			}
		}
	}
	for _, role := range v.Roles {
		if !slices.Contains(*p.Roles, role) {
			if _, err := c.RevokeRole(ctx, admin.HolderClient, id, role); err != nil {
				return store.Client{}, fmt.Errorf("client %s updated, but taking role %s away failed: %w", id, role, err)
			}
		}
	}
	return c.GetClient(ctx, id)
}

// DeleteClient deletes a client (DELETE /clients/{id}).
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/clients"+seg(id), nil, nil, nil)
}

// RotateClientSecret replaces a client's secret (POST /clients/{id}/secret).
func (c *Client) RotateClientSecret(ctx context.Context, id string) (string, error) {
	var out struct {
		ClientSecret string `json:"client_secret"`
	}
	err := c.call(ctx, http.MethodPost, "/clients"+seg(id)+"/secret", nil, struct{}{}, &out)
	return out.ClientSecret, err
}

// --- users

func userOf(v adminapi.UserView) (store.User, error) {
	created, err := parseViewTime(v.CreatedAt)
	if err != nil {
		return store.User{}, err
	}
	updated, err := parseViewTime(v.UpdatedAt)
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: v.ID, Username: v.Username, Email: v.Email, EmailVerified: v.EmailVerified, Roles: v.Roles,
		Disabled: v.Disabled, CreatedAt: created, UpdatedAt: updated}, nil
}

func (c *Client) user(ctx context.Context, method, path string, in any) (store.User, error) {
	var v adminapi.UserView
	if err := c.call(ctx, method, path, nil, in, &v); err != nil {
		return store.User{}, err
	}
	return userOf(v)
}

// CreateUser creates a user (POST /users).
func (c *Client) CreateUser(ctx context.Context, s admin.UserSpec) (store.User, error) {
	return c.user(ctx, http.MethodPost, "/users", map[string]any{"username": s.Username, "email": s.Email,
		"email_verified": s.EmailVerified, "password": s.Password, "roles": s.Roles})
}

// ListUsers lists the users (GET /users).
func (c *Client) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, c, "/users", nil, userOf)
}

// FindUser uses GET /users/{id}, which takes an id, a username or an
// e-mail address as the local lookup does.
func (c *Client) FindUser(ctx context.Context, ref string) (store.User, error) {
	return c.user(ctx, http.MethodGet, "/users"+seg(ref), nil)
}

// UpdateUser changes a user (PATCH /users/{id}).
func (c *Client) UpdateUser(ctx context.Context, ref string, p admin.UserPatch) (store.User, error) {
	body := map[string]bool{}
	if p.Disabled != nil {
		body["disabled"] = *p.Disabled
	}
	return c.user(ctx, http.MethodPatch, "/users"+seg(ref), body)
}

// SetUserPassword sets a user's password (PUT /users/{id}/password) and
// returns the user.
func (c *Client) SetUserPassword(ctx context.Context, id, password string) (store.User, error) {
	if err := c.call(ctx, http.MethodPut, "/users"+seg(id)+"/password", nil, map[string]string{"password": password}, nil); err != nil {
		return store.User{}, err
	}
	return c.FindUser(ctx, id)
}

// DeleteUser deletes a user (DELETE /users/{id}).
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/users"+seg(id), nil, nil, nil)
}

// --- roles

func roleOf(v adminapi.RoleView) store.Role {
	return store.Role{Name: v.Name, Description: v.Description, Permissions: v.Permissions,
		CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
}

func (c *Client) role(ctx context.Context, method, path string, in any) (store.Role, error) {
	var v adminapi.RoleView
	if err := c.call(ctx, method, path, nil, in, &v); err != nil {
		return store.Role{}, err
	}
	return roleOf(v), nil
}

// CreateRole creates a role (POST /roles).
func (c *Client) CreateRole(ctx context.Context, name, description string, perms []string) (store.Role, error) {
	return c.role(ctx, http.MethodPost, "/roles", map[string]any{"name": name, "description": description, "permissions": nonNil(perms)})
}

// ListRoles lists the roles (GET /roles).
func (c *Client) ListRoles(ctx context.Context) ([]store.Role, error) {
	return list(ctx, c, "/roles", nil, plain(roleOf))
}

// GetRole returns a role (GET /roles/{name}).
func (c *Client) GetRole(ctx context.Context, name string) (store.Role, error) {
	return c.role(ctx, http.MethodGet, "/roles"+seg(name), nil)
}

// SetRolePermissions replaces a role's permissions, and its description
// when not nil (PUT /roles/{name}).
func (c *Client) SetRolePermissions(ctx context.Context, name string, perms []string, description *string) (store.Role, error) {
	in := map[string]any{"permissions": nonNil(perms)}
	if description != nil {
		in["description"] = *description
	}
	return c.role(ctx, http.MethodPut, "/roles"+seg(name), in)
}

// DeleteRole deletes a role (DELETE /roles/{name}).
func (c *Client) DeleteRole(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/roles"+seg(name), nil, nil, nil)
}

// holderPath is the admin API path of a role holder.
func holderPath(holder, id string) string {
	if holder == admin.HolderClient {
		return "/clients" + seg(id)
	}
	return "/users" + seg(id)
}

// GrantRole gives a role to a user or a client (POST .../roles) and
// returns its roles.
func (c *Client) GrantRole(ctx context.Context, holder, id, role string) ([]string, error) {
	var out struct {
		Roles []string `json:"roles"`
	}
	err := c.call(ctx, http.MethodPost, holderPath(holder, id)+"/roles", nil, map[string]string{"role": role}, &out)
	return out.Roles, err
}

// RevokeRole takes a role from a user or a client (DELETE
// .../roles/{role}) and returns its roles.
func (c *Client) RevokeRole(ctx context.Context, holder, id, role string) ([]string, error) {
	var out struct {
		Roles []string `json:"roles"`
	}
	err := c.call(ctx, http.MethodDelete, holderPath(holder, id)+"/roles"+seg(role), nil, nil, &out)
	return out.Roles, err
}

// --- API keys

func apiKeyOf(v adminapi.APIKeyView) apikey.Key {
	prefix := strings.TrimSuffix(strings.TrimPrefix(v.Prefix, apikey.KeyPrefix), "…")
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC()
	}
	return apikey.Key{ID: v.ID, Prefix: prefix, Name: v.Name, Roles: v.Roles, Scopes: v.Scopes, CreatedAt: utc(v.CreatedAt),
		ExpiresAt: utc(v.ExpiresAt), LastUsedAt: utc(v.LastUsedAt), RevokedAt: utc(v.RevokedAt)}
}

func (c *Client) apiKey(ctx context.Context, method, path string, in any) (string, apikey.Key, error) {
	var v adminapi.APIKeyView
	if err := c.call(ctx, method, path, nil, in, &v); err != nil {
		return "", apikey.Key{}, err
	}
	return v.Key, apiKeyOf(v), nil
}

// CreateAPIKey creates an API key (POST /apikeys), in clear this once.
func (c *Client) CreateAPIKey(ctx context.Context, req apikey.CreateRequest) (string, apikey.Key, error) {
	return c.apiKey(ctx, http.MethodPost, "/apikeys", map[string]any{"name": req.Name, "roles": req.Roles,
		"scopes": req.Scopes, "expires_in_seconds": int64(req.ExpiresIn / time.Second)})
}

// ListAPIKeys lists the API keys (GET /apikeys).
func (c *Client) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	return list(ctx, c, "/apikeys", nil, plain(apiKeyOf))
}

// GetAPIKey returns an API key (GET /apikeys/{id}).
func (c *Client) GetAPIKey(ctx context.Context, id string) (apikey.Key, error) {
	_, k, err := c.apiKey(ctx, http.MethodGet, "/apikeys"+seg(id), nil)
	return k, err
}

// RevokeAPIKey revokes an API key (DELETE /apikeys/{id}).
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/apikeys"+seg(id), nil, nil, nil)
}

// RotateAPIKey issues the successor of an API key (POST
// /apikeys/{id}/rotate), in clear this once.
func (c *Client) RotateAPIKey(ctx context.Context, id string, overlap time.Duration) (string, apikey.Key, error) {
	return c.apiKey(ctx, http.MethodPost, "/apikeys"+seg(id)+"/rotate", map[string]int64{"overlap_seconds": int64(overlap / time.Second)})
}

// --- audit

// ListAuditEvents lists audit events, newest first (GET /audit).
func (c *Client) ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	v := url.Values{}
	v.Set("limit", strconv.Itoa(q.Limit))
	if q.BeforeID != 0 {
		v.Set("before", strconv.FormatInt(q.BeforeID, 10))
	}
	for k, s := range map[string]string{"type": q.Type, "user": q.UserID, "client": q.ClientID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return list(ctx, c, "/audit", v, plain(func(a adminapi.AuditView) store.AuditEvent {
		return store.AuditEvent{ID: a.ID, Time: a.Time, Type: a.Type, ClientID: a.ClientID, UserID: a.UserID,
			SessionID: a.SessionID, IP: a.IP, RequestID: a.RequestID, Details: a.Details}
	}))
}

// --- signing keys

// ListSigningKeys lists the signing keys, without key material (GET
// /keys).
func (c *Client) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return list(ctx, c, "/keys", nil, plain(signingKeyOf))
}

// RotateSigningKeys with no algs rotates RS256 (id_tokens) and every other
// algorithm with an active key: the admin API does not say which
// access-token algorithm the server is configured with, so the active keys
// stand for it.
func (c *Client) RotateSigningKeys(ctx context.Context, algs []string, immediate bool) ([]store.SigningKey, error) {
	if len(algs) == 0 {
		list, err := c.ListSigningKeys(ctx)
		if err != nil {
			return nil, err
		}
		algs = []string{keys.RS256}
		var others []string
		for _, k := range list {
			if k.State == store.KeyActive && k.Algorithm != keys.RS256 && !slices.Contains(others, k.Algorithm) {
				others = append(others, k.Algorithm)
			}
		}
		slices.Sort(others)
		algs = append(algs, others...)
	}
	var rotated []store.SigningKey
	for _, alg := range algs {
		var k keys.KeyInfo
		if err := c.call(ctx, http.MethodPost, "/keys/rotate", nil, map[string]any{"alg": alg, "immediate": immediate}, &k); err != nil {
			return nil, fmt.Errorf("rotate %s: %w", alg, err)
		}
		rotated = append(rotated, signingKeyOf(k))
	}
	return rotated, nil
}

func signingKeyOf(k keys.KeyInfo) store.SigningKey {
	return store.SigningKey{ID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt,
		RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil, ActivateAt: k.ActivateAt}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// --- federation policies

// policyOf is a policy as the admin API shows it.
func policyOf(d federation.Document) store.FederationPolicy {
	p := d.Policy()
	if d.CreatedAt != nil && d.UpdatedAt != nil {
		p.CreatedAt, p.UpdatedAt = *d.CreatedAt, *d.UpdatedAt
	}
	return p
}

// ListFederationPolicies lists the federation policies (GET
// /federation/policies).
func (c *Client) ListFederationPolicies(ctx context.Context) ([]store.FederationPolicy, error) {
	return list(ctx, c, "/federation/policies", nil, plain(policyOf))
}

// GetFederationPolicy returns a federation policy (GET
// /federation/policies/{name}).
func (c *Client) GetFederationPolicy(ctx context.Context, name string) (store.FederationPolicy, error) {
	var d federation.Document
	err := c.call(ctx, http.MethodGet, "/federation/policies"+seg(name), nil, nil, &d)
	return policyOf(d), err
}

// PutFederationPolicy creates or replaces a policy (PUT
// /federation/policies/{name}) and reports whether it created it: the
// API's answer is 201 then, 200 for a replacement.
func (c *Client) PutFederationPolicy(ctx context.Context, p store.FederationPolicy) (store.FederationPolicy, bool, error) {
	var out federation.Document
	status, err := c.send(ctx, http.MethodPut, "/federation/policies"+seg(p.Name), nil, federation.DocumentOf(p), &out)
	return policyOf(out), status == http.StatusCreated, err
}

// DeleteFederationPolicy deletes a federation policy (DELETE
// /federation/policies/{name}).
func (c *Client) DeleteFederationPolicy(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/federation/policies"+seg(name), nil, nil, nil)
}
