package sdktest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/sdktest"
)

func decode(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exampleTB stands in for the *testing.T of a real test, which an Example
// does not have: it runs the cleanups when done.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (e *exampleTB) Helper()                           {}
func (e *exampleTB) Cleanup(f func())                  { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// Example tests a route's policy against tokens minted by a fake issuer.
// In a test, pass the test's t to NewIssuer; the server closes when the
// test ends.
func Example() {
	t := &exampleTB{}
	defer t.done()

	iss := sdktest.NewIssuer(t)
	v, err := sdk.NewVerifier(context.Background(), iss.Config("https://api.example"))
	if err != nil {
		panic(err)
	}
	rt := sdk.NewRouter(v)
	rt.HandleFunc("DELETE /products/{id}", sdk.RequireRoles("admin"), func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	call := func(token string) {
		req := httptest.NewRequest("DELETE", "/products/1", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	call("")
	call(iss.Mint(sdktest.Claims{Subject: "user-1", Audience: "https://api.example"}))
	call(iss.Mint(sdktest.Claims{Subject: "user-2", Audience: "https://api.example", Roles: []string{"admin"}}))
	// Output:
	// 401
	// 403
	// 204
}

// ExampleIssuer_Revoke tests that a handler stops accepting a token once
// Gatehouse revokes it (by jti here; RevokeSession and RevokeSubject work
// the same way).
func ExampleIssuer_Revoke() {
	t := &exampleTB{}
	defer t.done()

	iss := sdktest.NewIssuer(t)
	v, err := sdk.NewVerifier(context.Background(), iss.Config("https://api.example"))
	if err != nil {
		panic(err)
	}
	tok := iss.Mint(sdktest.Claims{Subject: "user-1", Audience: "https://api.example", ID: "token-1"})
	_, err = v.Verify(context.Background(), tok)
	fmt.Println(err)
	iss.Revoke("token-1")
	_, err = v.Verify(context.Background(), tok)
	fmt.Println(errors.Is(err, sdk.ErrRevoked))
	// Output:
	// <nil>
	// true
}
