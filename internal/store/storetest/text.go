package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var textTests = []namedTest{
	{"LookupsOfUnstorableText", testLookupsOfUnstorableText},
}

// testLookupsOfUnstorableText: an identifier no backend can store (a NUL,
// invalid UTF-8) names nothing: every lookup and change by it answers
// ErrNotFound on every backend, never a driver error (PostgreSQL refuses
// such text outright, which callers would report as an outage).
func testLookupsOfUnstorableText(t *testing.T, s store.Store) {
	ctx, now := t.Context(), base()
	for _, bad := range []string{"web\x00", "\x00", "caf\xe9"} {
		ops := map[string]func(context.Context) error{
			"GetClient":         func(ctx context.Context) error { _, err := s.GetClient(ctx, bad); return err },
			"DeleteClient":      func(ctx context.Context) error { return s.DeleteClient(ctx, bad) },
			"GetUser":           func(ctx context.Context) error { _, err := s.GetUser(ctx, bad); return err },
			"GetUserByLogin":    func(ctx context.Context) error { _, err := s.GetUserByLogin(ctx, bad); return err },
			"DeleteUser":        func(ctx context.Context) error { return s.DeleteUser(ctx, bad) },
			"GetRole":           func(ctx context.Context) error { _, err := s.GetRole(ctx, bad); return err },
			"DeleteRole":        func(ctx context.Context) error { return s.DeleteRole(ctx, bad) },
			"GetAPIKey":         func(ctx context.Context) error { _, err := s.GetAPIKey(ctx, bad); return err },
			"GetAPIKeyByPrefix": func(ctx context.Context) error { _, err := s.GetAPIKeyByPrefix(ctx, bad); return err },
			"RevokeAPIKey":      func(ctx context.Context) error { return s.RevokeAPIKey(ctx, bad, now) },
			"GetConsent":        func(ctx context.Context) error { _, err := s.GetConsent(ctx, bad, bad); return err },
			"GetGrant":          func(ctx context.Context) error { _, err := s.GetGrant(ctx, bad); return err },
			"RevokeGrant": func(ctx context.Context) error {
				_, err := s.RevokeGrant(ctx, bad, now)
				return err
			},
			"GetSigningKey": func(ctx context.Context) error { _, err := s.GetSigningKey(ctx, bad); return err },
			"UpdateClient": func(ctx context.Context) error {
				_, err := s.UpdateClient(ctx, bad, func(c store.Client) (store.Client, error) { return c, nil })
				return err
			},
			"UpdateUser": func(ctx context.Context) error {
				_, err := s.UpdateUser(ctx, bad, func(u store.User) (store.User, error) { return u, nil })
				return err
			},
		}
		for name, op := range ops {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := op(ctx); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%q): got %v, want ErrNotFound", name, bad, err)
			}
			cancel()
		}
	}
}
