package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/internal/authorize"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/throttle"
	"github.com/gatehouse/gatehouse/web"
)

// DevicePath is the device verification page (RFC 8628 §3.3).
const DevicePath = "/device"

// DeviceCodes is what the device page needs from the store.
type DeviceCodes interface {
	GetDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte, now time.Time) (store.DeviceCode, error)
	DecideDeviceCode(ctx context.Context, userCodeHash []byte, approve bool, userID, sessionID string, authTime, now time.Time) error
}

// DefaultDeviceIPThrottle allows 10 wrong user codes per address, then
// locks it for 1 s doubling to at most 15 minutes (RFC 8628 §5.1).
func DefaultDeviceIPThrottle() throttle.Policy {
	return throttle.Policy{Free: 10, BaseLock: time.Second, MaxLock: 15 * time.Minute, Forget: time.Hour}
}

// DefaultDeviceGlobalThrottle bounds wrong user codes from everywhere
// together, against guessing spread over many addresses: 200 free, then
// locks from 1 s doubling to at most a minute, forgotten after 10 quiet
// minutes. With 20^8 codes and a 10-minute lifetime, guessing stays hopeless.
func DefaultDeviceGlobalThrottle() throttle.Policy {
	return throttle.Policy{Free: 200, BaseLock: time.Second, MaxLock: time.Minute, Forget: 10 * time.Minute}
}

const (
	// badUserCode is the one answer for a code that is malformed, unknown,
	// expired or already answered: none of these may be told apart.
	badUserCode = "That code is not valid or has expired. Check the code on your device and try again."
	// globalDeviceKey is the throttle key shared by every address.
	globalDeviceKey = "device:all"
)

// DeviceForm serves GET /device: the form to enter the code shown on the
// device (prefilled from verification_uri_complete's user_code), or, after
// signing in, the confirmation of the code entered before. It never
// decides anything: approval is by POST only.
func (p *Pages) DeviceForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if blob := q.Get(authorize.ResumeParam); blob != "" {
		req, err := p.cfg.Sealer.Open(blob, authorize.KindDevice)
		if err != nil {
			p.renderDeviceEnter(w, r, http.StatusBadRequest, "", "This request has expired. Please enter the code again.")
			return
		}
		p.deviceConfirm(w, r, req.UserCode)
		return
	}
	typed := q.Get("user_code")
	if len(typed) > 32 {
		typed = ""
	}
	p.renderDeviceEnter(w, r, http.StatusOK, typed, "")
}

// DeviceSubmit serves POST /device: the code entered (throttled per
// address and globally), or the decision on the confirmation page (CSRF
// token bound to the code and the signed-in session).
func (p *Pages) DeviceSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if r.PostForm.Has("decision") {
		p.deviceDecide(w, r)
		return
	}
	if !p.cfg.CSRF.Check(r) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Please go back and try again.")
		return
	}
	typed := r.PostForm.Get("user_code")
	ip := httpx.ClientIP(r)
	ipKey := "device-ip:" + ip
	if wait := max(p.cfg.DeviceIPLimiter.Wait(ipKey), p.cfg.DeviceGlobalLimiter.Wait(globalDeviceKey)); wait > 0 {
		p.cfg.Auditor.Record(r.Context(), store.AuditEvent{Type: "device_code_throttled", IP: ip})
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		p.renderDeviceEnter(w, r, http.StatusTooManyRequests, "",
			fmt.Sprintf("Too many wrong codes. Try again in %d seconds.", int(wait.Seconds())+1))
		return
	}
	code, ok := secret.NormalizeUserCode(typed)
	if ok {
		d, err := p.cfg.Devices.GetDeviceCodeByUserCode(r.Context(), secret.Hash(code), p.cfg.Now())
		switch {
		case err == nil && d.Status == store.DevicePending:
		case err == nil, errors.Is(err, store.ErrNotFound):
			ok = false
		default:
			p.unavailable(w, r, err)
			return
		}
	}
	if !ok {
		p.cfg.DeviceIPLimiter.Fail(ipKey)
		p.cfg.DeviceGlobalLimiter.Fail(globalDeviceKey)
		p.cfg.Auditor.Record(r.Context(), store.AuditEvent{Type: "device_code_failed", IP: ip})
		p.renderDeviceEnter(w, r, http.StatusBadRequest, "", badUserCode)
		return
	}
	p.deviceConfirm(w, r, code)
}

// deviceConfirm shows the confirmation of a pending code to the signed-in
// user, sending the browser to sign in first when needed.
func (p *Pages) deviceConfirm(w http.ResponseWriter, r *http.Request, code string) {
	ctx := r.Context()
	d, err := p.cfg.Devices.GetDeviceCodeByUserCode(ctx, secret.Hash(code), p.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && d.Status != store.DevicePending):
		p.renderDeviceEnter(w, r, http.StatusBadRequest, "", badUserCode)
		return
	case err != nil:
		p.unavailable(w, r, err)
		return
	}
	sess, _, signedIn, err := p.cfg.Sessions.Current(r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	if !signedIn {
		blob := p.cfg.Sealer.Seal(authorize.Request{Kind: authorize.KindDevice, ID: secret.ID(),
			ClientID: d.ClientID, UserCode: code})
		http.Redirect(w, r, authorize.LoginPath+"?"+url.Values{authorize.ResumeParam: {blob}}.Encode(), http.StatusSeeOther)
		return
	}
	items := make([]web.ScopeItem, 0, len(d.Scopes))
	for _, s := range d.Scopes {
		items = append(items, web.ScopeItem{Name: s, Description: scopeDescription(s)})
	}
	p.render(r, p.cfg.Pages.Device(w, http.StatusOK, web.DevicePage{
		Action: DevicePath, CSRFToken: p.cfg.CSRF.TokenFor(w, r, deviceBinding(code, sess)),
		UserCode: displayUserCode(code), Step: web.DeviceStepConfirm,
		ClientName: p.clientName(ctx, d.ClientID), Scopes: items,
	}))
}

// deviceDecide records the signed-in user's decision on a code whose
// confirmation page this session was shown.
func (p *Pages) deviceDecide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, user, signedIn, err := p.cfg.Sessions.Current(r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	code, ok := secret.NormalizeUserCode(r.PostForm.Get("user_code"))
	if !ok || !signedIn || !p.cfg.CSRF.CheckFor(r, deviceBinding(code, sess)) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Please enter the code again.")
		return
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "Please choose Allow or Deny.")
		return
	}
	hash := secret.Hash(code)
	d, err := p.cfg.Devices.GetDeviceCodeByUserCode(ctx, hash, p.cfg.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.unavailable(w, r, err)
		return
	}
	approve := decision == "allow"
	err = p.cfg.Devices.DecideDeviceCode(ctx, hash, approve, user.ID, sess.ID, sess.AuthTime, p.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		p.renderDeviceEnter(w, r, http.StatusBadRequest, "", "This code has expired or was already answered. Start again on your device.")
		return
	case err != nil:
		p.unavailable(w, r, err)
		return
	}
	typ := "device_denied"
	if approve {
		typ = "device_approved"
	}
	p.cfg.Auditor.Record(ctx, store.AuditEvent{Type: typ, UserID: user.ID, ClientID: d.ClientID, SessionID: sess.ID, IP: httpx.ClientIP(r)})
	p.render(r, p.cfg.Pages.Device(w, http.StatusOK, web.DevicePage{Step: web.DeviceStepDone, Approved: approve,
		ClientName: p.clientName(ctx, d.ClientID)}))
}

func (p *Pages) renderDeviceEnter(w http.ResponseWriter, r *http.Request, status int, typed, msg string) {
	p.render(r, p.cfg.Pages.Device(w, status, web.DevicePage{Action: DevicePath, CSRFToken: p.cfg.CSRF.Token(w, r),
		UserCode: typed, Error: msg, Step: web.DeviceStepEnter}))
}

// deviceBinding ties a device confirmation form to its code and to the
// session it was shown to.
func deviceBinding(code string, sess store.Session) string {
	return "device\x00" + code + "\x00" + sess.ID
}

// displayUserCode is code as devices show it: XXXX-XXXX.
func displayUserCode(code string) string {
	if len(code) != secret.UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}
