package sdk_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/sdk"
)

// staticVerifier stands in for an *sdk.Verifier: it knows a fixed set of
// tokens.
type staticVerifier map[string]*sdk.Claims

func (s staticVerifier) Verify(_ context.Context, token string) (*sdk.Claims, error) {
	if c, ok := s[token]; ok {
		return c, nil
	}
	return nil, sdk.ErrInvalidToken
}

// ExampleRouter declares a products API with a policy on every route. In a
// real service the router is built with sdk.NewRouter(verifier), where
// verifier comes from sdk.NewVerifier.
func ExampleRouter() {
	v := staticVerifier{
		"tok-viewer":  {Subject: "user-1", Roles: []string{"viewer"}},
		"tok-manager": {Subject: "user-2", Roles: []string{"product_manager"}},
	}
	rt := sdk.NewRouter(v)
	rt.HandleFunc("GET /products", sdk.Authenticated(), func(w http.ResponseWriter, r *http.Request) {
		c, _ := sdk.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "products for %s", c.Subject)
	})
	rt.HandleFunc("DELETE /products/{id}", sdk.RequireRoles("admin", "product_manager"), func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "deleted "+r.PathValue("id"))
	})

	for _, r := range rt.Routes() {
		fmt.Println(r.Method, r.Pattern, r.Policy)
	}
	call := func(method, path, token string) {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		fmt.Println(method, path, w.Code)
		if ch := w.Header().Get("WWW-Authenticate"); ch != "" {
			fmt.Println("  ", ch)
		}
		if w.Code == http.StatusOK {
			fmt.Println("  ", w.Body.String())
		}
	}
	call("GET", "/products", "")
	call("GET", "/products", "tok-viewer")
	call("DELETE", "/products/7", "tok-viewer")
	call("DELETE", "/products/7", "tok-manager")
	// Output:
	// GET /products authenticated
	// DELETE /products/{id} roles(admin|product_manager)
	// GET /products 401
	//    Bearer realm="api"
	// GET /products 200
	//    products for user-1
	// DELETE /products/7 403
	//    Bearer realm="api", error="insufficient_scope", error_description="requires one of the roles 'admin', 'product_manager'"
	// DELETE /products/7 200
	//    deleted 7
}
