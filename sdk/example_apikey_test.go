package sdk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/sdktest"
)

// ExampleAcceptAPIKeys lets a CI job's API key call one route. Here the
// issuer is sdktest's fake; against Gatehouse, APIKeyConfig names the
// issuer and the API's own client, and Revocation is the same checker as
// the Verifier's.
func ExampleAcceptAPIKeys() {
	t := &exampleT{}
	defer t.done()
	iss := sdktest.NewIssuer(t)
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, iss.Config("https://api.example"))
	if err != nil {
		panic(err)
	}
	keys, err := sdk.NewAPIKeyVerifier(ctx, iss.APIKeyConfig())
	if err != nil {
		panic(err)
	}
	rt := sdk.NewRouter(v, sdk.AcceptAPIKeys(keys))
	rt.HandleFunc("POST /deployments", sdk.RequireRoles("deployer"), func(w http.ResponseWriter, r *http.Request) {
		c, _ := sdk.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "deployed by %s (API key: %v)", c.Subject, c.APIKey)
	})

	ci := iss.APIKey(sdktest.Claims{Subject: "ci-key", Roles: []string{"deployer"}})
	call := func(key string) {
		req := httptest.NewRequest("POST", "/deployments", nil)
		req.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Body.String())
	}
	call(ci)
	iss.Revoke("ci-key") // as `gatehouse apikeys revoke` does
	call(ci)
	// Output:
	// 200 deployed by ci-key (API key: true)
	// 401 {"error":"invalid_token","error_description":"the access token or API key is invalid, expired or revoked"}
}

// exampleT stands in for the *testing.T a real test passes to
// sdktest.NewIssuer: it runs the cleanups when done.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (e *exampleT) Helper()                           {}
func (e *exampleT) Cleanup(f func())                  { e.cleanups = append(e.cleanups, f) }
func (e *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleT) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}
