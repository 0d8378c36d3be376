package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/login"
)

// signedInAs returns a browser signed in as a new user with the given name.
func signedInAs(t *testing.T, f *browserFixture, username string) *browser {
	t.Helper()
	const pw = "a long enough password for " + "tests"
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	if _, err := admin.CreateUser(t.Context(), f.srv.App.store, h, admin.UserSpec{Username: username,
		Password: pw}, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.srv.URL)
	p := b.get(f.web.AuthCodeURL("login-" + username))
	fields := formFields(t, p)
	fields.Set("username", username)
	fields.Set("password", pw)
	if p := b.post("/login", fields, nil); !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("%s did not reach the consent page (%d)", username, p.status)
	}
	return b
}

// consentPage signs alice in on b (if needed) and returns the consent page
// of a fresh authorization request with the given state.
func consentPage(t *testing.T, f *browserFixture, b *browser, state string) page {
	t.Helper()
	p := b.get(f.web.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "consent")))
	if strings.Contains(p.body, `name="password"`) {
		fields := formFields(t, p)
		fields.Set("username", "alice")
		fields.Set("password", alicePassword)
		p = b.post("/login", fields, nil)
	}
	if !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("no consent page (%d):\n%.300s", p.status, p.body)
	}
	return p
}

// postRaw posts a form without following any redirect.
func (b *browser) postRaw(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// codeFor reports whether p is a redirect to the web client carrying a code.
func codeFor(p page) string {
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		return ""
	}
	u, err := url.Parse(p.location)
	if err != nil || u.Host != "app.example" {
		return ""
	}
	return u.Query().Get("code")
}

// TestConsentApprovalIsBoundToTheUser: whatever POST /consent answers
// after alice allows, another signed-in user who opens it gets no code
// without seeing a consent page of their own (issue 9, item 1: the answer
// used to be a reusable /oauth/authorize?resume= link that issued a code
// for whoever opened it). Alice herself gets her code.
func TestConsentApprovalIsBoundToTheUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newBrowserFixture(t, backend)
		alice := newBrowser(t, f.srv.URL)
		mallory := signedInAs(t, f, "mallory")

		fields := formFields(t, consentPage(t, f, alice, "st-alice"))
		fields.Set("decision", "allow")
		answer := alice.postRaw("/consent", fields)
		if answer.status != http.StatusSeeOther {
			t.Fatalf("POST /consent: %d, want 303", answer.status)
		}
		if alice.internal(answer.location) {
			// Whatever link the answer holds, opened by someone else it
			// must not yield a code.
			if p := mallory.get(answer.location); codeFor(p) != "" {
				t.Fatalf("another user opening the consent answer %s got a code", answer.location)
			}
			answer = alice.get(answer.location)
		}
		if codeFor(answer) == "" {
			t.Fatalf("alice got no code: %d %s", answer.status, answer.location)
		}
	})
}

// TestConsentAnswerIsSingleUse: replaying the consent POST issues no
// second code, and a form token from one consent page approves no other
// page's request (issue 9, item 2).
func TestConsentAnswerIsSingleUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newBrowserFixture(t, backend)
		b := newBrowser(t, f.srv.URL)

		fields := formFields(t, consentPage(t, f, b, "st-1"))
		fields.Set("decision", "allow")
		if code := codeFor(b.post("/consent", fields, nil)); code == "" {
			t.Fatal("the first approval issued no code")
		}
		replay := b.post("/consent", fields, nil)
		if code := codeFor(replay); code != "" || replay.status != http.StatusBadRequest {
			t.Fatalf("replayed approval: %d %s, want 400 and no code", replay.status, replay.location)
		}
		if !strings.Contains(replay.body, "already been answered") {
			t.Errorf("replayed approval: the page does not say why:\n%.400s", replay.body)
		}
		// A denial is an answer too: allowing after denying is refused.
		deny := formFields(t, consentPage(t, f, b, "st-deny"))
		deny.Set("decision", "deny")
		if p := b.post("/consent", deny, nil); !strings.Contains(p.location, "error=access_denied") {
			t.Fatalf("deny: %d %s", p.status, p.location)
		}
		deny.Set("decision", "allow")
		if p := b.post("/consent", deny, nil); codeFor(p) != "" {
			t.Fatal("allow after deny issued a code")
		}

		// Two pages open in one browser: page one's token with page two's
		// request is refused, and page two still works with its own.
		one := formFields(t, consentPage(t, f, b, "st-one"))
		two := formFields(t, consentPage(t, f, b, "st-two"))
		cross := url.Values{"request": {two.Get("request")}, "csrf_token": {one.Get("csrf_token")}, "decision": {"allow"}}
		if p := b.post("/consent", cross, nil); p.status != http.StatusForbidden || codeFor(p) != "" {
			t.Fatalf("page one's token approving page two: %d %s, want 403", p.status, p.location)
		}
		two.Set("decision", "allow")
		if p := b.post("/consent", two, nil); codeFor(p) == "" {
			t.Fatalf("page two with its own token: %d %s", p.status, p.location)
		}
	})
}
