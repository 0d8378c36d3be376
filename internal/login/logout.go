package login

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse/gatehouse/internal/authorize"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/web"
)

// LogoutPath is the RP-initiated logout endpoint.
const LogoutPath = "/oauth/logout"

// Logout serves GET and POST /oauth/logout (OpenID Connect RP-Initiated
// Logout 1.0). With a valid id_token_hint for the browser's session it ends
// the session at once; otherwise it asks the user to confirm with a
// CSRF-protected form. A post_logout_redirect_uri is followed only when it
// is registered, byte for byte, for the client the request identifies.
func (p *Pages) Logout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "The logout request could not be read.")
		return
	}
	if r.Method == http.MethodPost && r.PostForm.Has("decision") {
		p.logoutConfirmed(w, r)
		return
	}
	v := r.Form
	hint, clientID, redirect := v.Get("id_token_hint"), v.Get("client_id"), v.Get("post_logout_redirect_uri")
	var hintSID string
	if hint != "" {
		aud, _, sid, err := p.cfg.VerifyHint(hint)
		if err != nil {
			p.errorPage(w, r, http.StatusBadRequest, "Logout refused", "The logout request carries an invalid or expired ID token.")
			return
		}
		if clientID != "" && clientID != aud {
			p.errorPage(w, r, http.StatusBadRequest, "Logout refused", "The client_id does not match the ID token.")
			return
		}
		clientID, hintSID = aud, sid
	}
	req := authorize.Request{Kind: authorize.KindLogout, ClientID: clientID, State: v.Get("state")}
	if redirect != "" {
		if clientID == "" {
			p.errorPage(w, r, http.StatusBadRequest, "Logout refused", "A post-logout redirect needs client_id or id_token_hint.")
			return
		}
		c, err := p.cfg.Store.GetClient(r.Context(), clientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.unavailable(w, r, err)
			return
		}
		if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, redirect) {
			p.errorPage(w, r, http.StatusBadRequest, "Logout refused", "The post-logout redirect URI is not registered for this application.")
			return
		}
		req.RedirectURI = redirect
	}

	sess, _, signedIn, err := p.cfg.Sessions.Current(r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	switch {
	case !signedIn:
		p.finishLogout(w, r, req)
	case hintSID != "" && hintSID == sess.ID:
		p.endSession(w, r, sess, req)
	default:
		p.render(r, p.cfg.Pages.LogoutConfirm(w, http.StatusOK, web.LogoutConfirmPage{
			Action: LogoutPath, CSRFToken: p.cfg.CSRF.Token(w, r), Request: p.cfg.Sealer.Seal(req),
			ClientName: p.clientName(r.Context(), clientID),
		}))
	}
}

func (p *Pages) logoutConfirmed(w http.ResponseWriter, r *http.Request) {
	if !p.cfg.CSRF.Check(r) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site.")
		return
	}
	req, err := p.cfg.Sealer.Open(r.PostForm.Get("request"), authorize.KindLogout)
	if err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Logout request expired", "Please sign out again from the application.")
		return
	}
	if r.PostForm.Get("decision") != "logout" {
		p.render(r, p.cfg.Pages.LoggedOut(w, http.StatusOK, web.LoggedOutPage{StillSignedIn: true}))
		return
	}
	sess, _, signedIn, err := p.cfg.Sessions.Current(r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	if !signedIn {
		p.finishLogout(w, r, req)
		return
	}
	p.endSession(w, r, sess, req)
}

// endSession deletes the session, revokes its grants and puts its sid on
// the revocation list, so every token of the session stops working at once.
func (p *Pages) endSession(w http.ResponseWriter, r *http.Request, sess store.Session, req authorize.Request) {
	now := p.cfg.Now()
	rs, err := p.cfg.Store.EndSession(r.Context(), sess.ID, now, now.Add(p.cfg.SIDRevocationTTL))
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	p.cfg.Revocations.Apply(rs)
	p.cfg.Sessions.Clear(w)
	p.cfg.Auditor.Record(r.Context(), store.AuditEvent{Type: "logout", UserID: sess.UserID, SessionID: sess.ID,
		ClientID: req.ClientID, IP: httpx.ClientIP(r)})
	p.finishLogout(w, r, req)
}

func (p *Pages) finishLogout(w http.ResponseWriter, r *http.Request, req authorize.Request) {
	if req.RedirectURI == "" {
		p.render(r, p.cfg.Pages.LoggedOut(w, http.StatusOK, web.LoggedOutPage{}))
		return
	}
	target := req.RedirectURI
	if req.State != "" {
		sep := "?"
		if u, err := url.Parse(target); err == nil && u.RawQuery != "" {
			sep = "&"
		}
		target += sep + url.Values{"state": {req.State}}.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
