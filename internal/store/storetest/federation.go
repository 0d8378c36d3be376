package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var federationTests = []namedTest{
	{"FederationPolicies", testFederationPolicies},
}

func testFederationPolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := store.FederationPolicy{
		Name: "gh-main", Issuer: "https://token.actions.githubusercontent.com", Audience: "https://gatehouse.example",
		Algorithms: []string{"RS256"}, Conditions: map[string]string{"sub": "repo:acme/app:ref:refs/heads/main", "kubernetes.io/namespace": "ci-*"},
		Subject: "ci:{sub}", Roles: []string{"deployer"}, Scopes: []string{"deploy"}, Audiences: []string{"https://api.example"},
		TokenTTL: 10 * time.Minute, MaxLifetime: time.Hour, JWKS: []byte(`{"keys":[]}`), AllowPrivateNetwork: true,
		CreatedAt: base(), UpdatedAt: base(),
	}
	if err := s.CreateFederationPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFederationPolicy(ctx, p); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate name: %v, want ErrConflict", err)
	}
	got, err := s.GetFederationPolicy(ctx, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.CreatedAt, want.UpdatedAt = base().Truncate(time.Microsecond).UTC(), base().Truncate(time.Microsecond).UTC()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	other := store.FederationPolicy{Name: "a-k8s", Issuer: "https://kubernetes.default.svc", Audience: "gatehouse", Subject: "{sub}"}
	if err := s.CreateFederationPolicy(ctx, other); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListFederationPolicies(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a-k8s" || list[1].Name != "gh-main" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	upd, err := s.UpdateFederationPolicy(ctx, p.Name, func(old store.FederationPolicy) (store.FederationPolicy, error) {
		old.Roles, old.UpdatedAt = []string{"reader"}, at(time.Hour)
		return old, nil
	})
	if err != nil || upd.Roles[0] != "reader" {
		t.Fatalf("update: %+v, %v", upd, err)
	}
	if got, _ := s.GetFederationPolicy(ctx, p.Name); got.Roles[0] != "reader" || !got.UpdatedAt.Equal(at(time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("after update: %+v", got)
	}
	if _, err := s.UpdateFederationPolicy(ctx, p.Name, func(old store.FederationPolicy) (store.FederationPolicy, error) {
		old.Name = "renamed"
		return old, nil
	}); err == nil {
		t.Fatal("a rename was accepted")
	}
	boom := errors.New("boom")
	if _, err := s.UpdateFederationPolicy(ctx, p.Name, func(store.FederationPolicy) (store.FederationPolicy, error) { return store.FederationPolicy{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("update function error: %v", err)
	}
	if _, err := s.UpdateFederationPolicy(ctx, "nope", func(o store.FederationPolicy) (store.FederationPolicy, error) { return o, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing policy: %v", err)
	}
	if err := s.DeleteFederationPolicy(ctx, p.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFederationPolicy(ctx, p.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.DeleteFederationPolicy(ctx, p.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
