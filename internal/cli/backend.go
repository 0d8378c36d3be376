package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// adminBackend is what the admin verbs call: the admin service acting for
// the local operator (admin.Actions, the default), or a server's admin API
// (with --server). Both speak in the store's domain types, so one printer
// serves both and the output is the same, and both refuse with the admin
// service's kinds of error (errors.Is(err, admin.ErrNotFound)), so the
// verbs word them the same way.
type adminBackend interface {
	ListClients(ctx context.Context) ([]store.Client, error)
	GetClient(ctx context.Context, id string) (store.Client, error)
	CreateClient(ctx context.Context, spec admin.ClientSpec) (c store.Client, secret string, err error)
	UpdateClient(ctx context.Context, id string, p admin.ClientPatch) (store.Client, error)
	DeleteClient(ctx context.Context, id string) error
	RotateClientSecret(ctx context.Context, id string) (string, error)

	// ref is an id, a username or an e-mail address.
	ListUsers(ctx context.Context) ([]store.User, error)
	FindUser(ctx context.Context, ref string) (store.User, error)
	CreateUser(ctx context.Context, spec admin.UserSpec) (store.User, error)
	UpdateUser(ctx context.Context, ref string, p admin.UserPatch) (store.User, error)
	SetUserPassword(ctx context.Context, ref, password string) (store.User, error)
	DeleteUser(ctx context.Context, ref string) error

	ListRoles(ctx context.Context) ([]store.Role, error)
	GetRole(ctx context.Context, name string) (store.Role, error)
	CreateRole(ctx context.Context, name, description string, perms []string) (store.Role, error)
	SetRolePermissions(ctx context.Context, name string, perms []string, description *string) (store.Role, error)
	DeleteRole(ctx context.Context, name string) error
	// GrantRole and RevokeRole return the holder's roles afterwards;
	// holder is admin.HolderUser or admin.HolderClient.
	GrantRole(ctx context.Context, holder, ref, role string) ([]string, error)
	RevokeRole(ctx context.Context, holder, ref, role string) ([]string, error)

	ListAPIKeys(ctx context.Context) ([]apikey.Key, error)
	GetAPIKey(ctx context.Context, id string) (apikey.Key, error)
	CreateAPIKey(ctx context.Context, req apikey.CreateRequest) (plain string, k apikey.Key, err error)
	RevokeAPIKey(ctx context.Context, id string) error
	RotateAPIKey(ctx context.Context, id string, overlap time.Duration) (plain string, next apikey.Key, err error)

	ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)

	// Listed keys carry no key material. RotateSigningKeys rotates algs in
	// order, or when algs is empty the algorithms in use, and returns the
	// new keys.
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	RotateSigningKeys(ctx context.Context, algs []string, immediate bool) ([]store.SigningKey, error)

	ListFederationPolicies(ctx context.Context) ([]store.FederationPolicy, error)
	GetFederationPolicy(ctx context.Context, name string) (store.FederationPolicy, error)
	// PutFederationPolicy creates or replaces a policy; created says which.
	PutFederationPolicy(ctx context.Context, p store.FederationPolicy) (out store.FederationPolicy, created bool, err error)
	DeleteFederationPolicy(ctx context.Context, name string) error
}

var _ adminBackend = admin.Actions{}

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
	return e.localAdmin(st, cfg, newLazyAPIKeys(st, cfg)), done, nil
}

// serverFlag declares --server on an admin command group (inherited by its
// verbs).
func (e *env) serverFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&e.server, "server", "",
		"run against the admin API of the Gatehouse server at this URL (https; http only on a loopback host) "+
			"instead of the local store; the API key is read from "+config.APIKeyEnv)
}

// localAdmin is the admin service on the local store, acting for the
// operator: every change is checked, revoked and audited as the admin API
// would. Other nodes learn of its revocation entries from the store.
func (e *env) localAdmin(st app.Store, cfg *config.Config, keys admin.APIKeys) admin.Actions {
	svc := admin.New(admin.Config{
		Issuer:    cfg.Issuer,
		Store:     st,
		APIKeys:   keys,
		Signing:   &lazySigning{st: st, cfg: cfg, log: newLogger(cfg.Log, e.stderr)},
		Passwords: newHasher(),
		Audit:     storeAuditor{st: st, warn: e.stderr},
		AccessTTL: cfg.Tokens.AccessTTL,
	})
	return svc.As(admin.Operator(operatorName()))
}

// operatorName names whoever runs the command line in the audit log: the
// system user of the process, looked up by its uid (the environment, which
// anyone can set, is not read).
func operatorName() string {
	uid := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(uid); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + uid
}

// storeAuditor stores each audit event at once: the process ends with the
// command, so nothing may wait in a queue.
type storeAuditor struct {
	st   store.Audit
	warn io.Writer
}

func (a storeAuditor) Record(ctx context.Context, e store.AuditEvent) {
	// The change is made: its event is stored even if the command is
	// interrupted now.
	if _, err := a.st.AppendAuditEvent(context.WithoutCancel(ctx), e); err != nil {
		_, _ = fmt.Fprintf(a.warn, "gatehouse: warning: the change is made, but its audit event could not be stored: %v\n", err) // the warning is all there is to do
	}
}

// lazyAPIKeys builds the API key service on first use: only the apikeys
// verbs need its pepper file.
type lazyAPIKeys struct {
	get func() (*apikey.Service, error)
}

var _ admin.APIKeys = lazyAPIKeys{}

func newLazyAPIKeys(st app.Store, cfg *config.Config) lazyAPIKeys {
	return lazyAPIKeys{get: sync.OnceValues(func() (*apikey.Service, error) { return newAPIKeyService(st, cfg) })}
}

func (l lazyAPIKeys) Create(ctx context.Context, req apikey.CreateRequest) (string, apikey.Key, error) {
	svc, err := l.get()
	if err != nil {
		return "", apikey.Key{}, err
	}
	return svc.Create(ctx, req)
}

func (l lazyAPIKeys) List(ctx context.Context) ([]apikey.Key, error) {
	svc, err := l.get()
	if err != nil {
		return nil, err
	}
	return svc.List(ctx)
}

func (l lazyAPIKeys) Get(ctx context.Context, id string) (apikey.Key, error) {
	svc, err := l.get()
	if err != nil {
		return apikey.Key{}, err
	}
	return svc.Get(ctx, id)
}

func (l lazyAPIKeys) Revoke(ctx context.Context, id string) error {
	svc, err := l.get()
	if err != nil {
		return err
	}
	return svc.Revoke(ctx, id)
}

func (l lazyAPIKeys) Rotate(ctx context.Context, id string, overlap time.Duration) (string, apikey.Key, error) {
	svc, err := l.get()
	if err != nil {
		return "", apikey.Key{}, err
	}
	return svc.Rotate(ctx, id, overlap)
}

// lazySigning builds the signing key manager on first use: only keys
// rotate needs the master key.
type lazySigning struct {
	st  app.Store
	cfg *config.Config
	log *slog.Logger
	m   *keys.Manager
}

var _ admin.Signing = (*lazySigning)(nil)

func (l *lazySigning) manager(ctx context.Context) (*keys.Manager, error) {
	if l.m != nil {
		return l.m, nil
	}
	mk, err := app.LoadMasterKey(l.cfg, l.log)
	if err != nil {
		return nil, err
	}
	if l.m, err = app.NewKeyManager(ctx, l.cfg, l.st, mk, l.log, time.Now); err != nil {
		return nil, err
	}
	return l.m, nil
}

func (l *lazySigning) Rotate(ctx context.Context, alg string) (store.SigningKey, error) {
	m, err := l.manager(ctx)
	if err != nil {
		return store.SigningKey{}, err
	}
	return m.Rotate(ctx, alg)
}

func (l *lazySigning) RotateNow(ctx context.Context, alg string) (store.SigningKey, error) {
	m, err := l.manager(ctx)
	if err != nil {
		return store.SigningKey{}, err
	}
	return m.RotateNow(ctx, alg)
}

// AccessTokenAlg is the configured one, which the manager would report.
func (l *lazySigning) AccessTokenAlg() string { return l.cfg.Signing.AccessTokenAlg }

// errNoServerKey is the usage error of --server without an API key.
var errNoServerKey = errors.New("--server needs an admin API key in the environment variable " + config.APIKeyEnv +
	" (it is never taken as a flag: flags show in shell history and process listings)")
