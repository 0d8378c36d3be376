package admin

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

type recorded struct {
	mu     sync.Mutex
	events []store.AuditEvent
	revs   []store.Revocation
}

func (r *recorded) Record(_ context.Context, e store.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorded) Apply(rs []store.Revocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revs = append(r.revs, rs...)
}

func newService(t *testing.T) (*Service, *sqlite.Store, *recorded) {
	t.Helper()
	st := openStore(t)
	keys, err := apikey.New(apikey.Config{Store: st, Hasher: apikey.NewArgon2id(apikey.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorded{}
	svc := New(Config{Issuer: "https://auth.example", Store: st, APIKeys: keys, Audit: rec, Revocations: rec,
		Passwords: login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1), AccessTTL: time.Minute})
	for name, perms := range map[string][]string{"admin": {"*:*"}, "clientmgr": {"clients:read", "clients:write"}} {
		if _, err := CreateRole(t.Context(), st, name, "", perms, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return svc, st, rec
}

// Every change of the Service is checked against its principal, and only
// changes made are audited, naming the principal, the action and what it
// changed.
func TestServiceChecksAndAuditsItsPrincipal(t *testing.T) {
	svc, _, rec := newService(t)
	ctx := t.Context()
	weak := svc.As(Principal{Actor: "apikey:ak_weak", Permissions: rbac.NewSet([]string{"clients:write"}), IP: "192.0.2.1",
		Origin: map[string]string{"route": "POST /admin/v1/clients"}})
	op := svc.As(Operator("alice"))

	for name, err := range map[string]error{
		"a role it lacks": func() error {
			_, _, err := weak.CreateClient(ctx, ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"}, Roles: []string{"admin"}})
			return err
		}(),
		"the admin audience": func() error {
			_, _, err := weak.CreateClient(ctx, ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"},
				Audiences: []string{"https://auth.example/admin"}})
			return err
		}(),
		"a scope it lacks": func() error {
			_, _, err := weak.CreateAPIKey(ctx, apikey.CreateRequest{Name: "k", Scopes: []string{"items:read"}})
			return err
		}(),
	} {
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("weak principal grants %s: %v, want ErrForbidden", name, err)
		}
	}
	if _, _, err := weak.CreateClient(ctx, ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"}, Roles: []string{"nope"}}); !errors.Is(err, ErrUnknownRole) {
		t.Errorf("unknown role: %v, want ErrUnknownRole", err)
	}
	if len(rec.events) != 0 {
		t.Fatalf("refusals were audited: %+v", rec.events)
	}

	if _, _, err := op.CreateClient(ctx, ClientSpec{ID: "robot", Name: "robot", GrantTypes: []string{"client_credentials"},
		Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := weak.RotateClientSecret(ctx, "robot"); !errors.Is(err, ErrForbidden) {
		t.Errorf("weak principal rotates an admin client's secret: %v, want ErrForbidden", err)
	}
	if _, _, err := weak.CreateClient(ctx, ClientSpec{ID: "ci", Name: "ci", GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(rec.events), rec.events)
	}
	opEvent, weakEvent := rec.events[0], rec.events[1]
	if opEvent.Type != AuditType || opEvent.ClientID != "robot" || opEvent.Details["actor"] != "operator:alice" ||
		opEvent.Details["action"] != "client.create" || opEvent.Details["client"] != "robot" {
		t.Errorf("operator's event: %+v", opEvent)
	}
	if weakEvent.IP != "192.0.2.1" || weakEvent.Details["actor"] != "apikey:ak_weak" || weakEvent.Details["route"] != "POST /admin/v1/clients" {
		t.Errorf("API caller's event: %+v", weakEvent)
	}
}

// The revocation entries a change writes reach the process's own list:
// a role taken away (by RevokeRole or by UpdateClient), a deleted client.
func TestServiceAppliesItsRevocations(t *testing.T) {
	svc, st, rec := newService(t)
	ctx := t.Context()
	op := svc.As(Operator("alice"))
	if _, _, err := op.CreateClient(ctx, ClientSpec{ID: "ci", Name: "ci", GrantTypes: []string{"client_credentials"},
		Roles: []string{"clientmgr", "admin"}}); err != nil {
		t.Fatal(err)
	}
	subjects := func() int {
		n := 0
		for _, r := range rec.revs {
			if r.Kind == store.RevokeSubject && r.Value == "ci" {
				n++
			}
		}
		return n
	}
	if roles, err := op.RevokeRole(ctx, HolderClient, "ci", "admin"); err != nil || !slices.Equal(roles, []string{"clientmgr"}) || subjects() != 1 {
		t.Fatalf("RevokeRole: %v %v, %d entries", roles, err, subjects())
	}
	if _, err := op.RevokeRole(ctx, HolderClient, "ci", "admin"); err != nil || subjects() != 1 {
		t.Fatalf("taking a role not held: %v, %d entries (want no new one)", err, subjects())
	}
	none := []string{}
	if c, err := op.UpdateClient(ctx, "ci", ClientPatch{Roles: &none}); err != nil || len(c.Roles) != 0 || subjects() != 2 {
		t.Fatalf("UpdateClient without roles: %+v %v, %d entries", c, err, subjects())
	}
	if err := op.DeleteClient(ctx, "ci"); err != nil || subjects() != 3 {
		t.Fatalf("DeleteClient: %v, %d entries", err, subjects())
	}
	err := op.DeleteClient(ctx, "ci")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound wrapping store.ErrNotFound", err)
	}
	if e, ok := errors.AsType[*Error](err); !ok || e.Message != "no such resource" {
		t.Errorf("not found says %q, want a message that names nothing internal", err)
	}
	if _, err := st.GetClient(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the client is still stored: %v", err)
	}
}

// Kinds are values: the refinements of ErrInvalid are ErrInvalid too, and
// nothing else is.
func TestKinds(t *testing.T) {
	for _, k := range []Kind{ErrInvalidRedirectURI, ErrInvalidClientMetadata, ErrUnknownRole} {
		if !errors.Is(&Error{Kind: k}, ErrInvalid) || !errors.Is(k, ErrInvalid) {
			t.Errorf("%v is not ErrInvalid", k)
		}
	}
	for _, k := range []Kind{ErrForbidden, ErrNotFound, ErrConflict, ErrInUse, ErrRotationPending, ErrUnavailable} {
		if errors.Is(&Error{Kind: k}, ErrInvalid) || errors.Is(ErrInvalid, k) {
			t.Errorf("%v and ErrInvalid match", k)
		}
		if got, ok := KindOf(&Error{Kind: k}); !ok || got != k {
			t.Errorf("KindOf(%v) = %v, %v", k, got, ok)
		}
	}
}
