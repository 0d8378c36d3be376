package sdk_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
)

// ExampleVerifier verifies an access token from a stand-in issuer. Against
// a real Gatehouse only the Config and the Verify call are needed.
func ExampleVerifier() {
	// A stand-in for Gatehouse: discovery, a JWKS with one Ed25519 key, and
	// a token signed by it.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	b64 := base64.RawURLEncoding.EncodeToString
	var issuer string
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{
			{"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": "k1", "alg": "EdDSA", "use": "sig"},
		}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuer = srv.URL
	header, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": "k1", "typ": "at+jwt"})
	claims, _ := json.Marshal(map[string]any{
		"iss": issuer, "sub": "user-42", "aud": "https://api.example.com",
		"exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix(), "jti": "f3a9",
		"client_id": "web", "scope": "openid items:read", "roles": []string{"editor"},
	})
	input := b64(header) + "." + b64(claims)
	token := input + "." + b64(ed25519.Sign(priv, []byte(input)))

	// The resource server.
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, sdk.Config{
		Issuer:     issuer,
		Audience:   "https://api.example.com",
		Algorithms: []string{"EdDSA", "ES256"},
		// In production: a FeedChecker or a redisrevocation.Checker (see
		// ExampleFeedChecker), so that revoked tokens fail at once.
		Revocation: sdk.InsecureNoRevocation,
	})
	if err != nil {
		fmt.Println("setup:", err)
		return
	}
	c, err := v.Verify(ctx, token)
	if err != nil {
		fmt.Println("401:", err)
		return
	}
	fmt.Println(c.Subject, c.HasScope("items:read"), c.HasRole("admin"))

	_, err = v.Verify(ctx, token[:len(token)-4]+"AAAA")
	fmt.Println(errors.Is(err, sdk.ErrInvalidToken), errors.Is(err, sdk.ErrSignature))
	// Output:
	// user-42 true false
	// true true
}
