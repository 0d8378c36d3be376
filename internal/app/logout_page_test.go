package app

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestLogoutStaySignedInPage: choosing "Stay signed in" on the logout
// confirmation shows a page titled and headed "Still signed in" that says
// "You are still signed in." and nowhere "Signed out", and the session
// goes on; confirming shows "Signed out" and ends it.
func TestLogoutStaySignedInPage(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	if cb := f.signIn(t, b, f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); cb.Query().Get("code") == "" {
		t.Fatal("sign-in failed")
	}
	signedIn := func() bool {
		p := b.get(f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		return !strings.Contains(p.body, `name="password"`)
	}

	confirm := b.get("/oauth/logout")
	if confirm.status != http.StatusOK || !strings.Contains(confirm.body, `value="cancel"`) {
		t.Fatalf("no logout confirmation (%d):\n%s", confirm.status, confirm.body)
	}
	fields := formFields(t, confirm)
	fields.Set("decision", "cancel")
	p := b.post("/oauth/logout", fields, nil)
	if p.status != http.StatusOK {
		t.Fatalf("stay signed in: %d\n%s", p.status, p.body)
	}
	for _, want := range []string{"<title>Still signed in", "<h1>Still signed in</h1>", "You are still signed in."} {
		if !strings.Contains(p.body, want) {
			t.Errorf("stay signed in: page lacks %q:\n%s", want, p.body)
		}
	}
	if strings.Contains(strings.ToLower(p.body), "signed out") {
		t.Errorf("stay signed in: the page says signed out:\n%s", p.body)
	}
	if !signedIn() {
		t.Fatal("stay signed in ended the session")
	}

	fields = formFields(t, b.get("/oauth/logout"))
	fields.Set("decision", "logout")
	p = b.post("/oauth/logout", fields, nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Signed out</h1>") || strings.Contains(p.body, "still signed in") {
		t.Errorf("sign out: %d\n%s", p.status, p.body)
	}
	if signedIn() {
		t.Error("sign out left the session")
	}
}
