package signin_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/sdk/signin"
)

// An application that signs users in with Gatehouse. It needs a running
// provider, so it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	c, err := signin.New(ctx, signin.Config{
		Issuer:       "https://gatehouse.example.com",
		ClientID:     "shop",
		ClientSecret: os.Getenv("SHOP_CLIENT_SECRET"),
		RedirectURL:  "https://shop.example.com/auth/callback",
		Scopes:       []string{"email", "profile"},
		HTTPClient:   &http.Client{Timeout: 10 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err *signin.Error) {
			// err.Error() may hold provider responses: log it, show Message.
			log.Printf("sign-in failed: %v", err)
			if errors.Is(err, signin.ErrDenied) && err.OAuthError == "access_denied" {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			http.Error(w, err.Message, err.Status)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	// <a href="/auth/login?return_to=/orders">Sign in</a>
	mux.HandleFunc("GET /auth/login", c.Login)
	mux.Handle("GET /auth/callback", c.Callback(func(w http.ResponseWriter, r *http.Request, res *signin.Result) {
		// Key the account on the subject, never on the email address.
		startSession(w, res.Claims.Subject)
		// ReturnTo is always a local path, so this is not an open redirect.
		http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		if !hasSession(r) {
			// Straight to the provider, and back here afterwards.
			c.LoginTo(w, r, r.URL.RequestURI())
			return
		}
		w.Write([]byte("your orders"))
	})
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// startSession and hasSession stand for the application's own session
// management, which this package leaves to it.
func startSession(http.ResponseWriter, string) {}
func hasSession(*http.Request) bool            { return false }
