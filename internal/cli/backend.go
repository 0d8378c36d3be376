package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The admin verbs run against a backend: the local store (localBackend,
// the default) or a server's admin API (remoteBackend, with --server).
// Both speak in the store's domain types, so one printer serves both and
// the output is the same. Errors wrap the store's sentinel errors
// (store.ErrNotFound, ErrConflict, ErrInUse) in both modes, so the verbs
// word them the same way.

// clientAdmin manages OAuth clients.
type clientAdmin interface {
	CreateClient(ctx context.Context, spec admin.ClientSpec) (c store.Client, secret string, err error)
	ListClients(ctx context.Context) ([]store.Client, error)
	GetClient(ctx context.Context, id string) (store.Client, error)
	UpdateClient(ctx context.Context, id string, u clientUpdate) (store.Client, error)
	DeleteClient(ctx context.Context, id string) error
	RotateClientSecret(ctx context.Context, id string) (string, error)
}

// clientUpdate holds the client fields to change; nil fields stay.
type clientUpdate struct {
	Name, AuthMethod                     *string
	RedirectURIs, PostLogoutRedirectURIs *[]string
	GrantTypes, Scopes, Audiences, Roles *[]string
	SkipConsent                          *bool
	RefreshGrace                         *time.Duration
	IDTokenAlg                           *string
}

// userAdmin manages end users. ref is an id, a username or an e-mail
// address; id is a user id.
type userAdmin interface {
	CreateUser(ctx context.Context, spec admin.UserSpec) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	FindUser(ctx context.Context, ref string) (store.User, error)
	SetUserDisabled(ctx context.Context, id string, disabled bool) (store.User, error)
	SetUserPassword(ctx context.Context, id, password string) (store.User, error)
	DeleteUser(ctx context.Context, id string) error
}

// roleAdmin manages roles and who holds them.
type roleAdmin interface {
	CreateRole(ctx context.Context, name, description string, perms []string) (store.Role, error)
	ListRoles(ctx context.Context) ([]store.Role, error)
	GetRole(ctx context.Context, name string) (store.Role, error)
	SetRolePermissions(ctx context.Context, name string, perms []string, description *string) (store.Role, error)
	DeleteRole(ctx context.Context, name string) error
	// GrantRole and RevokeRole return the holder's roles afterwards;
	// holder is admin.HolderUser or admin.HolderClient.
	GrantRole(ctx context.Context, holder, id, role string) ([]string, error)
	RevokeRole(ctx context.Context, holder, id, role string) ([]string, error)
}

// apiKeyAdmin manages API keys.
type apiKeyAdmin interface {
	CreateAPIKey(ctx context.Context, req apikey.CreateRequest) (plain string, k apikey.Key, err error)
	ListAPIKeys(ctx context.Context) ([]apikey.Key, error)
	GetAPIKey(ctx context.Context, id string) (apikey.Key, error)
	RevokeAPIKey(ctx context.Context, id string) error
	RotateAPIKey(ctx context.Context, id string, overlap time.Duration) (plain string, next apikey.Key, err error)
}

// auditReader reads the audit log.
type auditReader interface {
	ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)
}

// signingKeyAdmin lists and rotates token signing keys. Listed keys carry
// no key material.
type signingKeyAdmin interface {
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// RotateSigningKeys rotates algs in order, or when algs is empty every
	// asymmetric algorithm in use, and returns the new keys: next keys that
	// activate after the configured pre-publication, or with immediate
	// active keys at once (keys.Manager Rotate and RotateNow).
	RotateSigningKeys(ctx context.Context, algs []string, immediate bool) ([]store.SigningKey, error)
}

// adminBackend is everything the admin verbs call.
type adminBackend interface {
	clientAdmin
	userAdmin
	roleAdmin
	apiKeyAdmin
	auditReader
	signingKeyAdmin
	federationAdmin
}

// withAdmin adapts an admin verb's body: it opens the backend (--server or
// the local store) and closes it afterwards.
func (e *env) withAdmin(fn func(cmd *cobra.Command, args []string, b adminBackend) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		b, done, err := e.openAdmin(cmd)
		if err != nil {
			return err
		}
		defer done()
		return fn(cmd, args, b)
	}
}

// openAdmin opens the admin backend for cmd: the server named by --server,
// or else the local store.
func (e *env) openAdmin(cmd *cobra.Command) (adminBackend, func(), error) {
	if e.server != "" {
		b, err := e.newRemote(cmd)
		return b, func() {}, err
	}
	st, cfg, done, err := e.openStoreConfig(cmd)
	if err != nil {
		return nil, nil, err
	}
	return &localBackend{st: st, cfg: cfg, log: newLogger(cfg.Log, e.stderr)}, done, nil
}

// serverFlag declares --server on an admin command group (inherited by its
// verbs).
func (e *env) serverFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&e.server, "server", "",
		"run against the admin API of the Gatehouse server at this URL (https; http only on a loopback host) "+
			"instead of the local store; the API key is read from "+config.APIKeyEnv)
}

// localBackend runs the admin verbs on the local store.
type localBackend struct {
	st  app.Store
	cfg *config.Config
	log *slog.Logger
	// svc is built on first use: only the apikeys verbs need the pepper
	// file.
	svc *apikey.Service
}

var _ adminBackend = (*localBackend)(nil)

// checkRoles refuses roles that do not exist, as the admin API does.
func (l *localBackend) checkRoles(ctx context.Context, roles []string) error {
	err := admin.CheckRolesExist(ctx, l.st, roles)
	if errors.Is(err, admin.ErrUnknownRole) {
		return fmt.Errorf("%w: create roles first (gatehouse roles create NAME --permissions ...)", err)
	}
	return err
}

func (l *localBackend) CreateClient(ctx context.Context, spec admin.ClientSpec) (store.Client, string, error) {
	if err := l.checkRoles(ctx, spec.Roles); err != nil {
		return store.Client{}, "", err
	}
	return admin.CreateClient(ctx, l.st, spec, time.Now())
}

func (l *localBackend) ListClients(ctx context.Context) ([]store.Client, error) {
	return l.st.ListClients(ctx)
}

func (l *localBackend) GetClient(ctx context.Context, id string) (store.Client, error) {
	return l.st.GetClient(ctx, id)
}

func (l *localBackend) UpdateClient(ctx context.Context, id string, u clientUpdate) (store.Client, error) {
	before, err := l.st.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if u.Roles != nil {
		if err := l.checkRoles(ctx, *u.Roles); err != nil {
			return store.Client{}, err
		}
	}
	c, err := l.updateClient(ctx, id, u)
	if err != nil {
		return c, err
	}
	// A role taken away must not live on in the client's older tokens
	// (RBAC-05), as with `roles revoke`.
	for _, r := range before.Roles {
		if !slices.Contains(c.Roles, r) {
			if _, err := admin.RevokeSubjectTokens(ctx, l.st, id, time.Now(), l.cfg.Tokens.AccessTTL); err != nil {
				return c, fmt.Errorf("client %s updated, but its older tokens (with role %s) could not be revoked (retry): %w", id, r, err)
			}
			break
		}
	}
	return c, nil
}

func (l *localBackend) updateClient(ctx context.Context, id string, u clientUpdate) (store.Client, error) {
	return admin.UpdateClient(ctx, l.st, id, func(s *admin.ClientSpec) {
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		setList := func(dst *[]string, v *[]string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&s.Name, u.Name)
		set(&s.AuthMethod, u.AuthMethod)
		setList(&s.RedirectURIs, u.RedirectURIs)
		setList(&s.PostLogoutRedirectURIs, u.PostLogoutRedirectURIs)
		setList(&s.GrantTypes, u.GrantTypes)
		setList(&s.Scopes, u.Scopes)
		setList(&s.Audiences, u.Audiences)
		setList(&s.Roles, u.Roles)
		if u.SkipConsent != nil {
			s.SkipConsent = *u.SkipConsent
		}
		if u.RefreshGrace != nil {
			s.RefreshGrace = *u.RefreshGrace
		}
		if u.IDTokenAlg != nil {
			s.IDTokenAlg = *u.IDTokenAlg
		}
	}, time.Now())
}

// DeleteClient and RotateClientSecret also refuse the client's access
// tokens issued until now: machine tokens have no grant to revoke, and
// whoever held the old secret may hold tokens minted with it.
func (l *localBackend) DeleteClient(ctx context.Context, id string) error {
	if err := l.st.DeleteClient(ctx, id); err != nil {
		return err
	}
	return l.endClientTokens(ctx, id)
}

func (l *localBackend) RotateClientSecret(ctx context.Context, id string) (string, error) {
	secret, err := admin.RotateClientSecret(ctx, l.st, id, time.Now())
	if err != nil {
		return "", err
	}
	return secret, l.endClientTokens(ctx, id)
}

func (l *localBackend) endClientTokens(ctx context.Context, id string) error {
	if _, err := admin.RevokeSubjectTokens(ctx, l.st, id, time.Now(), l.cfg.Tokens.AccessTTL); err != nil {
		return fmt.Errorf("client %s changed, but its older tokens could not be revoked (retry): %w", id, err)
	}
	return nil
}

func (l *localBackend) CreateUser(ctx context.Context, spec admin.UserSpec) (store.User, error) {
	if err := l.checkRoles(ctx, spec.Roles); err != nil {
		return store.User{}, err
	}
	return admin.CreateUser(ctx, l.st, newHasher(), spec, time.Now())
}

func (l *localBackend) ListUsers(ctx context.Context) ([]store.User, error) {
	return l.st.ListUsers(ctx)
}

func (l *localBackend) FindUser(ctx context.Context, ref string) (store.User, error) {
	return admin.FindUser(ctx, l.st, ref)
}

func (l *localBackend) SetUserDisabled(ctx context.Context, id string, disabled bool) (store.User, error) {
	return admin.SetDisabled(ctx, l.st, id, disabled, time.Now(), l.cfg.Tokens.AccessTTL)
}

func (l *localBackend) SetUserPassword(ctx context.Context, id, password string) (store.User, error) {
	return admin.SetPassword(ctx, l.st, newHasher(), id, password, time.Now(), l.cfg.Tokens.AccessTTL)
}

func (l *localBackend) DeleteUser(ctx context.Context, id string) error {
	return l.st.DeleteUser(ctx, id)
}

func (l *localBackend) CreateRole(ctx context.Context, name, description string, perms []string) (store.Role, error) {
	return admin.CreateRole(ctx, l.st, name, description, perms, time.Now())
}

func (l *localBackend) ListRoles(ctx context.Context) ([]store.Role, error) {
	return l.st.ListRoles(ctx)
}

func (l *localBackend) GetRole(ctx context.Context, name string) (store.Role, error) {
	return l.st.GetRole(ctx, name)
}

func (l *localBackend) SetRolePermissions(ctx context.Context, name string, perms []string, description *string) (store.Role, error) {
	return admin.SetRolePermissions(ctx, l.st, name, perms, description, time.Now())
}

func (l *localBackend) DeleteRole(ctx context.Context, name string) error {
	return admin.DeleteRole(ctx, l.st, name)
}

func (l *localBackend) GrantRole(ctx context.Context, holder, id, role string) ([]string, error) {
	return admin.GrantRole(ctx, l.st, holder, id, role, time.Now())
}

func (l *localBackend) RevokeRole(ctx context.Context, holder, id, role string) ([]string, error) {
	roles, _, err := admin.RevokeRole(ctx, l.st, holder, id, role, time.Now(), l.cfg.Tokens.AccessTTL)
	return roles, err
}

// apiKeys builds the API key service the configuration describes.
func (l *localBackend) apiKeys() (*apikey.Service, error) {
	if l.svc == nil {
		svc, err := newAPIKeyService(l.st, l.cfg)
		if err != nil {
			return nil, err
		}
		l.svc = svc
	}
	return l.svc, nil
}

func (l *localBackend) CreateAPIKey(ctx context.Context, req apikey.CreateRequest) (string, apikey.Key, error) {
	svc, err := l.apiKeys()
	if err != nil {
		return "", apikey.Key{}, err
	}
	return svc.Create(ctx, req)
}

func (l *localBackend) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	svc, err := l.apiKeys()
	if err != nil {
		return nil, err
	}
	return svc.List(ctx)
}

func (l *localBackend) GetAPIKey(ctx context.Context, id string) (apikey.Key, error) {
	svc, err := l.apiKeys()
	if err != nil {
		return apikey.Key{}, err
	}
	return svc.Get(ctx, id)
}

func (l *localBackend) RevokeAPIKey(ctx context.Context, id string) error {
	svc, err := l.apiKeys()
	if err != nil {
		return err
	}
	_, err = admin.RevokeAPIKey(ctx, svc, l.st, id, time.Now())
	return err
}

func (l *localBackend) RotateAPIKey(ctx context.Context, id string, overlap time.Duration) (string, apikey.Key, error) {
	svc, err := l.apiKeys()
	if err != nil {
		return "", apikey.Key{}, err
	}
	return svc.Rotate(ctx, id, overlap)
}

func (l *localBackend) ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	return l.st.ListAuditEvents(ctx, q)
}

func (l *localBackend) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	list, err := l.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	for i := range list {
		list[i].PublicJWK, list[i].SealedPrivate = nil, nil
	}
	return list, nil
}

func (l *localBackend) RotateSigningKeys(ctx context.Context, algs []string, immediate bool) ([]store.SigningKey, error) {
	mk, err := app.LoadMasterKey(l.cfg, l.log)
	if err != nil {
		return nil, err
	}
	m, err := app.NewKeyManager(ctx, l.cfg, l.st, mk, l.log, time.Now)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		// id_tokens are always RS256; the access-token key is rotated too
		// unless it is the HS256 shared secret, which is not a stored key.
		algs = []string{keys.RS256}
		if a := m.AccessTokenAlg(); a != keys.HS256 && a != keys.RS256 {
			algs = append(algs, a)
		}
	}
	var rotated []store.SigningKey
	for _, alg := range algs {
		rotate := m.Rotate
		if immediate {
			rotate = m.RotateNow
		}
		k, err := rotate(ctx, alg)
		if err != nil {
			return nil, fmt.Errorf("rotate %s: %w", alg, err)
		}
		k.PublicJWK, k.SealedPrivate = nil, nil
		rotated = append(rotated, k)
	}
	return rotated, nil
}

// errNoServerKey is the usage error of --server without an API key.
var errNoServerKey = errors.New("--server needs an admin API key in the environment variable " + config.APIKeyEnv +
	" (it is never taken as a flag: flags show in shell history and process listings)")
