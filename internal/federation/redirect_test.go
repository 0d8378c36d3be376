package federation

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestKeyFetchRedirects: the client that fetches issuer documents follows
// a redirect only to a URL a policy could name itself (https, or plain http
// to loopback where private networks are allowed), and at most three; a
// redirect elsewhere is an outage, not a document.
func TestKeyFetchRedirects(t *testing.T) {
	var hops atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case "/to-jwks":
			http.Redirect(w, r, "/jwks", http.StatusFound)
		case "/to-plain-http":
			http.Redirect(w, r, "http://192.0.2.10/jwks", http.StatusFound)
		case "/to-user-info":
			http.Redirect(w, r, "https://user:pass@192.0.2.10/jwks", http.StatusFound)
		case "/loop":
			hops.Add(1)
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	c := guardedClient(true, 2*time.Second)
	get := func(path string) error {
		resp, err := c.Get(srv.URL + path)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	if err := get("/to-jwks"); err != nil {
		t.Errorf("redirect to the same loopback issuer: %v", err)
	}
	for path, want := range map[string]string{
		"/to-plain-http": "must be https",
		"/to-user-info":  "user info",
		"/loop":          "too many redirects",
	} {
		err := get(path)
		if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrKeysUnavailable mentioning %q", path, err, want)
		}
	}
	if n := hops.Load(); n > 3 {
		t.Errorf("followed %d redirects, want at most 3", n)
	}
	// Without allow_private_network, the loopback issuer is not dialled at
	// all, whatever redirects it would send.
	if _, err := guardedClient(false, 2*time.Second).Get(srv.URL + "/to-jwks"); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("fetch from loopback without allow_private_network: %v, want ErrBlockedAddress", err)
	}
}
