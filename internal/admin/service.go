package admin

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Store is what the Service needs from the store.
type Store interface {
	ClientStore
	UserStore
	RoleStore
	FederationStore
	ListRoles(ctx context.Context) ([]store.Role, error)
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error)
	EndSession(ctx context.Context, sid string, now, sidExpiresAt time.Time) ([]store.Revocation, error)
	ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
}

// Signing rotates token signing keys (package keys' Manager).
type Signing interface {
	Rotate(ctx context.Context, alg string) (store.SigningKey, error)
	RotateNow(ctx context.Context, alg string) (store.SigningKey, error)
	// AccessTokenAlg is the algorithm access tokens are signed with.
	AccessTokenAlg() string
}

// Revocations applies revocation entries to this process's list, so that
// the change is enforced here at once rather than at the next poll of the
// store's feed.
type Revocations interface {
	Apply(rs []store.Revocation)
}

// Auditor records audit events (package audit's Log).
type Auditor interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// AuditType is the type of the audit event every change records.
const AuditType = "admin_change"

// Config holds the Service's dependencies.
type Config struct {
	// Issuer names the admin audience (AdminAudience), whose clients only
	// a holder of every permission may manage.
	Issuer    string
	Store     Store
	APIKeys   APIKeys
	Signing   Signing
	Passwords PasswordHasher
	Audit     Auditor
	// Revocations, when set, hears of the revocation entries each change
	// writes (a server's own list); other processes follow the store.
	Revocations Revocations
	// Federation, when set, hears of policy changes.
	Federation FederationCache
	// AccessTTL bounds how long a subject revocation entry must be kept.
	AccessTTL time.Duration
	Now       func() time.Time
}

// Service is Gatehouse's administration: every change to clients, users,
// roles, API keys, sessions, signing keys and federation policies, for
// the command line and the admin API alike. Each change is made by a
// principal (As): the Service validates it, refuses what would hand out
// more than the principal holds, applies the revocations it implies, and
// records it in the audit log.
type Service struct {
	cfg      Config
	audience string
}

// New returns a Service; Now nil means time.Now.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, audience: AdminAudience(cfg.Issuer)}
}

// AdminAudience is the audience an access token needs to call the admin
// API: issuer + "/admin".
func AdminAudience(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/admin" }

// Principal is who makes a change: the caller of the admin API (an API
// key, or a user or client with an admin-audience token) or the operator
// of the command line.
type Principal struct {
	// Actor names the principal in audit events: "apikey:<id>" for an API
	// key, a token's subject, "operator:<name>" for the command line.
	Actor string
	// Permissions are what the principal holds, from its roles' current
	// definitions.
	Permissions rbac.Set
	// Scopes are the principal's own scopes: the only ones it may hand
	// out, unless it holds every permission.
	Scopes []string
	// IP is the principal's address, when it came over the network.
	IP string
	// Origin is copied into the details of its audit events (the admin
	// API's route and path).
	Origin map[string]string
}

// everything is the permission that covers every other.
const everything = rbac.Wildcard + ":" + rbac.Wildcard

// Operator is the principal of the command line run on the store's own
// configuration: it holds every permission, since whoever can run it could
// write to the database anyway. name says who it is in the audit log.
func Operator(name string) Principal {
	return Principal{Actor: "operator:" + name, Permissions: rbac.NewSet([]string{everything})}
}

// As returns the Service's actions made by p.
func (s *Service) As(p Principal) Actions { return Actions{s: s, p: p} }

// Actions are the admin actions of one principal. Every error they return
// is an *Error (a refusal: test with errors.Is against a Kind) or an
// unexpected failure of the store or another dependency.
type Actions struct {
	s *Service
	p Principal
}

func (a Actions) now() time.Time { return a.s.cfg.Now() }

// apply hands revocation entries written by a change to this process's
// list.
func (a Actions) apply(revs []store.Revocation) {
	if a.s.cfg.Revocations != nil && len(revs) > 0 {
		a.s.cfg.Revocations.Apply(revs)
	}
}

// target is what a change is about, in its audit event.
type target struct {
	kind, id         string
	userID, clientID string
	details          map[string]string
}

func clientTarget(id string) target { return target{kind: "client", id: id, clientID: id} }
func userTarget(id string) target   { return target{kind: "user", id: id, userID: id} }

// record writes the audit event of a change that was made: err is nil, or
// says that only what follows the change failed.
func (a Actions) record(ctx context.Context, err error, action string, t target) {
	if a.s.cfg.Audit == nil || err != nil && !errors.Is(err, ErrUnavailable) {
		return
	}
	details := map[string]string{"actor": a.p.Actor, "action": action, t.kind: t.id}
	maps.Copy(details, t.details)
	maps.Copy(details, a.p.Origin)
	if err != nil {
		details["incomplete"] = err.Error()
	}
	a.s.cfg.Audit.Record(ctx, store.AuditEvent{Time: a.now(), Type: AuditType, IP: a.p.IP, UserID: t.userID,
		ClientID: t.clientID, Details: details})
}

// mayGrantPermissions checks that the principal holds every permission in
// perms.
func (a Actions) mayGrantPermissions(perms []string) error {
	for _, p := range perms {
		if !a.p.Permissions.Covers(p) {
			return refuse(ErrForbidden, "you cannot grant the permission '%s': your own permissions do not cover it", p)
		}
	}
	return nil
}

// mayGrantRoles checks that roles exist and that the principal holds every
// permission they grant.
func (a Actions) mayGrantRoles(ctx context.Context, roles []string) error {
	if err := CheckRolesExist(ctx, a.s.cfg.Store, roles); err != nil {
		return err
	}
	return a.mayActOn(ctx, roles)
}

// mayActOn checks that the principal holds every permission of the roles
// of the user, client, key or policy it is about to change: resetting the
// password of, rotating the secret of, disabling, deleting or taking roles
// from a holder of more power would hand that power over, or take it
// away, from below. Role names that no longer exist grant nothing and are
// skipped.
func (a Actions) mayActOn(ctx context.Context, roles []string) error {
	for _, name := range roles {
		role, err := a.s.cfg.Store.GetRole(ctx, strings.TrimSpace(name))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := a.mayGrantPermissions(role.Permissions); err != nil {
			return err
		}
	}
	return nil
}

// mayGrantScopes checks that the principal may hand out scopes (on an API
// key or a federation policy): scopes it holds itself, or any when it
// holds every permission. Scopes are what resource servers check with
// sdk.RequireScopes.
func (a Actions) mayGrantScopes(scopes []string) error {
	if a.p.Permissions.Covers(everything) {
		return nil
	}
	for _, sc := range scopes {
		if !slices.Contains(a.p.Scopes, sc) {
			if oauth.ValidScopeToken(sc) && len(sc) <= 100 {
				// Only a well-formed scope is named: the message stays in
				// the RFC 6749 charset.
				return refuse(ErrForbidden, "you cannot grant the scope '%s': you do not hold it", sc)
			}
			return refuse(ErrForbidden, "you cannot grant a scope you do not hold")
		}
	}
	return nil
}

// mayTouchAdminAudience checks that only a principal holding every
// permission creates or changes a client (or a federation policy) whose
// tokens reach the admin API: its users' tokens carry their roles there,
// so its redirect URIs and consent settings decide who can obtain an
// administrator's power.
func (a Actions) mayTouchAdminAudience(audiences []string) error {
	if slices.Contains(audiences, a.s.audience) && !a.p.Permissions.Covers(everything) {
		return refuse(ErrForbidden, "only a holder of every permission (%s) may manage clients of the admin audience", everything)
	}
	return nil
}

// fail is the error an action returns: refusals as *Error (the store's
// sentinel errors classified), anything else as it is.
func fail(err error) error { return classify(err) }
