package adminapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
)

// Every admin route requires a permission: none is public or open to any
// authenticated caller. (A route without a policy cannot be registered at
// all: sdk.Router panics, so New would fail every test that builds it.)
func TestEveryRouteRequiresAPermission(t *testing.T) {
	routes := New(Config{Issuer: "https://auth.example"}).Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d admin routes", len(routes))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		if !strings.HasPrefix(r.Policy, "permissions(") {
			t.Errorf("%s %s has policy %s, want a permission", r.Method, r.Pattern, r.Policy)
		}
		if !strings.HasPrefix(r.Pattern, Prefix+"/") {
			t.Errorf("%s %s is outside %s", r.Method, r.Pattern, Prefix)
		}
		resource, _, _ := strings.Cut(strings.TrimPrefix(r.Policy, "permissions("), ":")
		seen[resource] = true
		if write := r.Method != "GET"; write != strings.HasSuffix(r.Policy, ":write)") {
			t.Errorf("%s %s: policy %s does not match the method", r.Method, r.Pattern, r.Policy)
		}
	}
	for _, res := range []string{"clients", "users", "roles", "apikeys", "sessions", "keys", "audit"} {
		if !seen[res] {
			t.Errorf("no route guarded by %s permissions", res)
		}
	}
}

func TestAdminAudience(t *testing.T) {
	for in, want := range map[string]string{"https://a.example": "https://a.example/admin", "https://a.example/": "https://a.example/admin"} {
		if got := AdminAudience(in); got != want {
			t.Errorf("AdminAudience(%q) = %q", in, got)
		}
	}
}

// Every kind of refusal has its own answer, which a client maps back to
// the kind; an unexpected error is a 500 that says nothing of its cause.
func TestRefusalAnswers(t *testing.T) {
	for k := admin.ErrInvalid; k <= admin.ErrUnavailable; k++ {
		status, code := StatusAndCode(k)
		if status < 400 || status == 500 || code == CodeServerError {
			t.Errorf("%v: %d %s", k, status, code)
		}
		back, ok := KindOfCode(code)
		if !ok || !k.Is(back) {
			t.Errorf("%v answers %s, which reads back as %v", k, code, back)
		}
		p := problemOf(fmt.Errorf("context: %w", &admin.Error{Kind: k, Message: "what is wrong", Err: errors.New("internal detail")}))
		if p.Status != status || p.Code != code || p.Description != "what is wrong" {
			t.Errorf("%v: problem %+v", k, p)
		}
	}
	p := problemOf(errors.New("sqlstore: connection refused to 10.0.0.5"))
	if p.Status != 500 || p.Code != CodeServerError || strings.Contains(p.Description, "10.0.0.5") {
		t.Errorf("unexpected error: %+v", p)
	}
}
