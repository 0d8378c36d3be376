package device

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProvider serves discovery, a device authorization endpoint and a
// token endpoint that answers the polls from answers, in order.
type fakeProvider struct {
	srv *httptest.Server

	mu       sync.Mutex
	answers  []string // token endpoint errors; "" is success
	polls    int
	authForm map[string][]string
}

func newFakeProvider(t *testing.T, answers ...string) *fakeProvider {
	f := &fakeProvider{answers: answers}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize",
			"token_endpoint": f.srv.URL + "/token", "jwks_uri": f.srv.URL + "/jwks",
			"device_authorization_endpoint": f.srv.URL + "/device_authorization"})
	})
	mux.HandleFunc("POST /device_authorization", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.authForm = r.PostForm
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"device_code": "dc", "user_code": "BCDF-GHJK",
			"verification_uri": f.srv.URL + "/device", "verification_uri_complete": f.srv.URL + "/device?user_code=BCDF-GHJK",
			"expires_in": 600, "interval": 1})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.PostForm.Get("grant_type") != GrantType || r.PostForm.Get("device_code") != "dc" {
			writeJSON(w, 400, map[string]any{"error": "invalid_request"})
			return
		}
		answer := f.answers[min(f.polls, len(f.answers)-1)]
		f.polls++
		if answer != "" {
			writeJSON(w, 400, map[string]any{"error": answer})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 900, "refresh_token": "rt"})
	})
	return f
}

func (f *fakeProvider) pollCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polls
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestSignInPollsUntilApproved(t *testing.T) {
	f := newFakeProvider(t, "authorization_pending", "")
	var shown Prompt
	res, err := SignIn(t.Context(), Config{Issuer: f.srv.URL, ClientID: "cli", ClientSecret: "s3cret",
		Scopes: []string{"offline_access"}, Audiences: []string{"https://a.example", "https://b.example"},
		Prompt: func(p Prompt) error { shown = p; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Token.AccessToken != "at" || res.Token.RefreshToken != "rt" || res.IDToken != nil || f.pollCount() != 2 {
		t.Fatalf("result %+v after %d polls", res, f.pollCount())
	}
	if shown.UserCode != "BCDF-GHJK" || !strings.HasSuffix(shown.VerificationURIComplete, "?user_code=BCDF-GHJK") ||
		time.Until(shown.Expires) < 9*time.Minute {
		t.Fatalf("prompt %+v", shown)
	}
	f.mu.Lock()
	got := f.authForm
	f.mu.Unlock()
	if got["client_id"][0] != "cli" || got["client_secret"][0] != "s3cret" ||
		got["audience"][0] != "https://a.example https://b.example" || got["scope"][0] != "offline_access" {
		t.Fatalf("device authorization request %v", got)
	}
}

func TestSignInRefusals(t *testing.T) {
	for answer, want := range map[string]error{"access_denied": ErrDenied, "expired_token": ErrExpired} {
		f := newFakeProvider(t, answer)
		_, err := SignIn(t.Context(), Config{Issuer: f.srv.URL, ClientID: "cli", Prompt: func(Prompt) error { return nil }})
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", answer, err, want)
		}
	}
	f := newFakeProvider(t, "")
	boom := errors.New("no terminal")
	if _, err := SignIn(t.Context(), Config{Issuer: f.srv.URL, ClientID: "cli", Prompt: func(Prompt) error { return boom }}); !errors.Is(err, boom) || f.pollCount() != 0 {
		t.Errorf("failing prompt: %v after %d polls", err, f.pollCount())
	}
}

func TestSignInConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Issuer: "https://x.example"}, {Issuer: "https://x.example", ClientID: "c"}} {
		if _, err := SignIn(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SignIn(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	// A provider without a device endpoint is refused before any prompt.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"issuer": "http://" + r.Host, "authorization_endpoint": "http://" + r.Host + "/a",
			"token_endpoint": "http://" + r.Host + "/t", "jwks_uri": "http://" + r.Host + "/j"})
	}))
	defer srv.Close()
	_, err := SignIn(t.Context(), Config{Issuer: srv.URL, ClientID: "c", Prompt: func(Prompt) error {
		t.Error("prompted without a device endpoint")
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), "no device authorization endpoint") {
		t.Errorf("provider without device endpoint: %v", err)
	}
}
