package workload

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// fakeGatehouse answers discovery and token exchanges, accepting only the
// subject token "good-N" and recording what it was sent.
func fakeGatehouse(t *testing.T, exchanges *atomic.Int64, lastForm *atomic.Value) *httptest.Server {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/oauth/token"})
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		lastForm.Store(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") != GrantType || r.PostForm.Get("subject_token_type") != TokenTypeJWT ||
			len(r.PostForm.Get("subject_token")) < 5 || r.PostForm.Get("subject_token")[:5] != "good-" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"the token does not meet the policy's condition on sub"}`))
			return
		}
		n := exchanges.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + r.PostForm.Get("subject_token") + "-" + string(rune('0'+n)),
			"token_type": "Bearer", "expires_in": 300, "issued_token_type": TokenTypeAccessToken})
	})
	return srv
}

func TestExchangeFromFile(t *testing.T) {
	var n atomic.Int64
	var form atomic.Value
	srv := fakeGatehouse(t, &n, &form)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("good-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Issuer: srv.URL, SubjectToken: FromFile(file), Audiences: []string{"https://a.example", "https://b.example"}, Scopes: []string{"deploy"}}
	ts := TokenSource(t.Context(), cfg)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at-good-1-1" || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}
	if again, _ := ts.Token(); again.AccessToken != tok.AccessToken || n.Load() != 1 {
		t.Fatal("a valid token was exchanged again")
	}
	sent := form.Load().(url.Values)
	if len(sent["audience"]) != 2 || sent["scope"][0] != "deploy" || sent["requested_token_type"][0] != TokenTypeAccessToken {
		t.Fatalf("sent %v", sent)
	}
	// The file is read at every exchange (kubelet rotates it).
	if err := os.WriteFile(file, []byte("good-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := Exchange(t.Context(), cfg); err != nil || tok.AccessToken != "at-good-2-2" {
		t.Fatalf("after rotation: %+v %v", tok, err)
	}
}

func TestExchangeRefused(t *testing.T) {
	var n atomic.Int64
	var form atomic.Value
	srv := fakeGatehouse(t, &n, &form)
	_, err := Exchange(t.Context(), Config{Issuer: srv.URL, SubjectToken: func(context.Context) (string, error) { return "bad", nil }})
	var e *Error
	if !errors.As(err, &e) || e.Code != "invalid_grant" || e.Status != 400 || e.Description == "" {
		t.Fatalf("refusal: %v", err)
	}
	if _, err := Exchange(t.Context(), Config{Issuer: srv.URL, SubjectToken: FromFile(filepath.Join(t.TempDir(), "missing"))}); err == nil {
		t.Fatal("a missing token file was not an error")
	}
	if _, err := Exchange(t.Context(), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty config: %v", err)
	}
	if _, err := Exchange(t.Context(), Config{Issuer: srv.URL + "/other", SubjectToken: FromFile("x")}); err == nil {
		t.Fatal("an issuer whose discovery names another issuer was accepted")
	}
}

func TestFromGitHubActions(t *testing.T) {
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runtime-token" || r.URL.Query().Get("audience") != "https://gatehouse.example" ||
			r.URL.Query().Get("api-version") != "2.0" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"value":"good-gh"}`))
	}))
	defer runtime.Close()
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", runtime.URL+"/token?api-version=2.0")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runtime-token")
	tok, err := FromGitHubActions("https://gatehouse.example")(t.Context())
	if err != nil || tok != "good-gh" {
		t.Fatalf("GitHub token: %q %v", tok, err)
	}
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
	if _, err := FromGitHubActions("x")(t.Context()); err == nil {
		t.Fatal("outside GitHub Actions: no error")
	}
}
