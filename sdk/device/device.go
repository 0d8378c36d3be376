// Package device signs a user in to a Go command-line program, or any
// program on a device without a browser, with the OAuth 2.0 device
// authorization grant (RFC 8628) against Gatehouse or another OpenID
// Connect provider.
//
// The program asks the provider for a device code, shows the user a short
// code and where to enter it (on a phone or a laptop), and polls until the
// user has approved, denied or let the code expire:
//
//	tok, err := device.SignIn(ctx, device.Config{
//		Issuer:   "https://gatehouse.example.com",
//		ClientID: "cli",
//		Scopes:   []string{"openid", "offline_access"},
//		Prompt:   device.PrintTo(os.Stderr),
//	})
//
// Register the program as a public client (it cannot keep a secret) with
// the grant type urn:ietf:params:oauth:grant-type:device_code, and
// refresh_token if it should stay signed in. SignIn returns the tokens
// with the oauth2.Config they came from: Result.OAuth2.TokenSource keeps
// them fresh, refreshing when the access token expires.
//
// Polling follows the provider's interval, waits 5 s longer after every
// slow_down (RFC 8628 §3.5) and stops at the code's expiry or when ctx
// ends. A denial is ErrDenied, an expiry ErrExpired; other refusals are
// *oauth2.RetrieveError. When the token response carries an id_token (the
// openid scope), SignIn verifies it with the provider's keys before
// returning, so a token from anyone but the provider is never accepted.
package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// GrantType is the device grant's grant_type (RFC 8628 §3.4).
const GrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Errors SignIn returns.
var (
	// ErrInvalidConfig reports a Config that SignIn refuses.
	ErrInvalidConfig = errors.New("device: invalid configuration")
	// ErrDenied reports that the user denied the request (access_denied).
	ErrDenied = errors.New("device: the user denied the sign-in")
	// ErrExpired reports that the code expired before the user approved
	// it (expired_token, or its expires_in passed).
	ErrExpired = errors.New("device: the sign-in code expired")
)

// Prompt is what the user must be told: the code, and where to enter it.
type Prompt struct {
	// UserCode is the code to enter, as XXXX-XXXX.
	UserCode string
	// VerificationURI is where to enter it.
	VerificationURI string
	// VerificationURIComplete opens the page with the code filled in,
	// for a link or a QR code; the user still confirms it there.
	VerificationURIComplete string
	// Expires is when the code stops working.
	Expires time.Time
}

// Config configures SignIn. Issuer, ClientID and Prompt are required.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document must
	// name the same issuer and a device_authorization_endpoint.
	Issuer string
	// ClientID is the program's client. ClientSecret is for confidential
	// clients registered with client_secret_post; leave it empty for a
	// public client, which is what programs on users' devices are.
	ClientID     string
	ClientSecret string
	// Scopes are requested; include "openid" for an id_token and
	// "offline_access" (with a client allowed to refresh) to stay signed in.
	Scopes []string
	// Audiences, when set, are the APIs (RFC 8707 resources) the access
	// token is for; otherwise the client's registered audiences apply.
	Audiences []string
	// HTTPClient makes every request; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Prompt shows the user the code; SignIn fails if it returns an
	// error. See PrintTo.
	Prompt func(Prompt) error
}

// PrintTo returns a Prompt that writes the instructions to w.
func PrintTo(w io.Writer) func(Prompt) error {
	return func(p Prompt) error {
		_, err := fmt.Fprintf(w, "To sign in, open %s\nand enter the code %s\n(or open %s)\nThe code expires at %s.\n",
			p.VerificationURI, p.UserCode, p.VerificationURIComplete, p.Expires.Format("15:04:05"))
		return err
	}
}

// Result is a completed sign-in.
type Result struct {
	// Token holds the access token, the refresh token when one was
	// issued, and the raw id_token in Token.Extra("id_token").
	Token *oauth2.Token
	// IDToken is the verified id_token, nil without the openid scope.
	IDToken *oidc.IDToken
	// OAuth2 is the client configuration the token came from: use
	// OAuth2.TokenSource(ctx, Token) to refresh it.
	OAuth2 oauth2.Config
}

// SignIn runs the device flow and returns the tokens once the user has
// approved on another device.
func SignIn(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("device: discovery: %w", err)
	}
	ep := provider.Endpoint()
	if ep.DeviceAuthURL == "" {
		return nil, fmt.Errorf("device: %s offers no device authorization endpoint", cfg.Issuer)
	}
	ep.AuthStyle = oauth2.AuthStyleInParams
	conf := oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: ep, Scopes: cfg.Scopes}
	var opts []oauth2.AuthCodeOption
	if len(cfg.Audiences) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("audience", strings.Join(cfg.Audiences, " ")))
	}
	authOpts := opts
	if cfg.ClientSecret != "" {
		// x/oauth2 sends no credentials to the device authorization
		// endpoint by itself (RFC 8628 §3.1 asks for them).
		authOpts = append(authOpts, oauth2.SetAuthURLParam("client_secret", cfg.ClientSecret))
	}
	da, err := conf.DeviceAuth(ctx, authOpts...)
	if err != nil {
		return nil, fmt.Errorf("device: device authorization: %w", err)
	}
	if err := cfg.Prompt(Prompt{UserCode: da.UserCode, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, Expires: da.Expiry}); err != nil {
		return nil, fmt.Errorf("device: prompt: %w", err)
	}
	tok, err := conf.DeviceAccessToken(ctx, da, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "access_denied":
			return nil, fmt.Errorf("%w: %w", ErrDenied, err)
		case errors.As(err, &re) && re.ErrorCode == "expired_token",
			errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, fmt.Errorf("%w: %w", ErrExpired, err)
		}
		return nil, fmt.Errorf("device: %w", err)
	}
	res := &Result{Token: tok, OAuth2: conf}
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		res.IDToken, err = provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("device: the id_token does not verify: %w", err)
		}
	}
	return res, nil
}

func (cfg *Config) validate() error {
	var problems []string
	if cfg.Issuer == "" {
		problems = append(problems, "Issuer is required")
	}
	if cfg.ClientID == "" {
		problems = append(problems, "ClientID is required")
	}
	if cfg.Prompt == nil {
		problems = append(problems, "Prompt is required (device.PrintTo(os.Stderr) prints the instructions)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}
