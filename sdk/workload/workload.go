// Package workload gets Gatehouse access tokens for a workload (a CI job,
// a Kubernetes pod, a service) from the OpenID Connect token its platform
// already gives it, by RFC 8693 token exchange against a Gatehouse
// federation policy: no client secret or API key is stored anywhere.
//
// In a Kubernetes pod with a projected service-account token:
//
//	ts := workload.TokenSource(ctx, workload.Config{
//		Issuer:       "https://gatehouse.example.com",
//		SubjectToken: workload.FromFile("/var/run/secrets/tokens/gatehouse"),
//		Audiences:    []string{"https://api.example.com"},
//	})
//	client := oauth2.NewClient(ctx, ts) // adds "Authorization: Bearer ..."
//
// In a GitHub Actions job with "permissions: id-token: write", use
// FromGitHubActions("https://gatehouse.example.com") instead. The token
// source exchanges again shortly before each token expires, reading the
// platform token afresh each time (kubelet rotates the file; GitHub issues
// a new token per request). See docs/federation.md.
package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token exchange names (RFC 8693).
//
//nolint:gosec // G101: protocol URNs, not credentials
const (
	GrantType            = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// maxBody bounds every response read.
const maxBody = 1 << 20

// ErrInvalidConfig reports a Config that Exchange refuses.
var ErrInvalidConfig = errors.New("workload: invalid configuration")

// Error is an OAuth error answer of Gatehouse (RFC 6749 §5.2): Code is
// invalid_grant when no policy accepted the platform token, and
// Description says which rule failed.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("workload: token exchange refused (%d %s): %s", e.Status, e.Code, e.Description)
}

// Config configures Exchange and TokenSource.
type Config struct {
	// Issuer is Gatehouse's issuer URL; the token endpoint comes from its
	// discovery document, whose issuer must equal it.
	Issuer string
	// SubjectToken returns the workload's platform token; it is called
	// for every exchange. See FromFile and FromGitHubActions.
	SubjectToken func(ctx context.Context) (string, error)
	// Audiences and Scopes narrow what the policy grants; empty means
	// everything it grants.
	Audiences []string
	Scopes    []string
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// FromFile reads the platform token from path at every call, as
// Kubernetes rotates projected service-account tokens in place.
func FromFile(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(path) //nolint:gosec // G304: the caller names the token file
		if err != nil {
			return "", fmt.Errorf("workload: read the token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("workload: the token file %s is empty", path)
		}
		return tok, nil
	}
}

// FromGitHubActions requests an OIDC token for audience from the GitHub
// Actions runtime (the job needs "permissions: id-token: write", which
// sets ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN).
// audience must be the audience of the Gatehouse federation policy.
func FromGitHubActions(audience string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		reqURL, reqToken := os.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), os.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
		if reqURL == "" || reqToken == "" {
			return "", errors.New("workload: not in a GitHub Actions job with permissions id-token: write " +
				"(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are unset)")
		}
		u, err := url.Parse(reqURL)
		if err != nil {
			return "", fmt.Errorf("workload: ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
		}
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil) //nolint:gosec // G704: the Actions runtime's own URL
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+reqToken)
		var out struct {
			Value string `json:"value"`
		}
		if err := doJSON(http.DefaultClient, req, &out); err != nil {
			return "", fmt.Errorf("workload: GitHub Actions ID token: %w", err)
		}
		if out.Value == "" {
			return "", errors.New("workload: GitHub Actions returned no ID token")
		}
		return out.Value, nil
	}
}

// Exchange trades the platform token for a Gatehouse access token.
func Exchange(ctx context.Context, cfg Config) (*oauth2.Token, error) {
	if cfg.Issuer == "" || cfg.SubjectToken == nil {
		return nil, fmt.Errorf("%w: Issuer and SubjectToken are required", ErrInvalidConfig)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	tokenURL, err := tokenEndpoint(ctx, client, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	subject, err := cfg.SubjectToken(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {GrantType}, "subject_token": {subject}, "subject_token_type": {TokenTypeJWT},
		"requested_token_type": {TokenTypeAccessToken}}
	if len(cfg.Audiences) > 0 {
		form["audience"] = cfg.Audiences
	}
	if len(cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := doJSON(client, req, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, errors.New("workload: the token response has no access_token")
	}
	tok := &oauth2.Token{AccessToken: out.AccessToken, TokenType: out.TokenType}
	if out.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	return tok, nil
}

// TokenSource returns a token source that exchanges when it has no valid
// token (x/oauth2 treats a token as expired ten seconds early).
func TokenSource(ctx context.Context, cfg Config) oauth2.TokenSource {
	return oauth2.ReuseTokenSource(nil, exchanger{ctx: ctx, cfg: cfg})
}

type exchanger struct {
	ctx context.Context //nolint:containedctx // oauth2.TokenSource's Token takes none
	cfg Config
}

func (e exchanger) Token() (*oauth2.Token, error) { return Exchange(e.ctx, e.cfg) }

// tokenEndpoint reads the token endpoint from the issuer's discovery.
func tokenEndpoint(ctx context.Context, client *http.Client, issuer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", fmt.Errorf("workload: discovery: %w", err)
	}
	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := doJSON(client, req, &disc); err != nil {
		return "", fmt.Errorf("workload: discovery: %w", err)
	}
	if disc.Issuer != issuer || disc.TokenEndpoint == "" {
		return "", fmt.Errorf("workload: discovery at %s names issuer %q and no usable token endpoint", issuer, disc.Issuer)
	}
	return disc.TokenEndpoint, nil
}

// doJSON sends req and decodes a 200 JSON answer into out; an OAuth
// error answer becomes *Error.
func doJSON(client *http.Client, req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req) //nolint:gosec // G704: the configured issuer, or the runtime's token URL
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxBody {
		return errors.New("the answer is larger than 1 MiB")
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &body) == nil {
			e.Code, e.Description = body.Error, body.Description
		}
		return e
	}
	return json.Unmarshal(b, out)
}
