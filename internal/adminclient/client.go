// Package adminclient is a Go client of Gatehouse's admin API
// (docs/admin-api.md), authenticated by an API key: the command line's
// --server mode.
//
// A Client has the methods of admin.Actions, with the same domain types
// (package store's records, apikey.Key) and the same kinds of refusal:
// an answer of the API is an *Error that errors.Is matches against the
// admin.Kind its code stands for (admin.ErrNotFound for not_found). So a
// caller can run against the local admin service or a server behind one
// interface of its own.
package adminclient

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
)

// Limits of a call to the admin API.
const (
	// DefaultTimeout bounds a call when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// maxBody bounds an answer: 1000 audit events fit many times.
	maxBody = 16 << 20
)

// Config describes the server and the credential.
type Config struct {
	// Server is the server's URL: https, or http on a loopback host (a
	// development server); no credentials, query or fragment. A path
	// prefix (a server behind a proxy) is kept.
	Server string
	// APIKey authenticates every call. It is never printed and never in
	// an error.
	APIKey string
	// KeyName says where the key came from, in error messages ("the API
	// key in GATEHOUSE_API_KEY"); empty means "the API key".
	KeyName string
	// UserAgent is sent with every call.
	UserAgent string
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client calls one server's admin API.
type Client struct {
	base      *url.URL // the server; "/admin/v1/..." is added to its path
	key       string
	keyName   string
	userAgent string
	http      *http.Client
}

// New checks cfg.Server and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.KeyName == "" {
		cfg.KeyName = "the API key"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	base, err := parseServerURL(cfg.Server, cfg.KeyName)
	if err != nil {
		return nil, err
	}
	return &Client{base: base, key: cfg.APIKey, keyName: cfg.KeyName, userAgent: cfg.UserAgent, http: &http.Client{
		Timeout: cfg.Timeout,
		// A redirect could carry the key elsewhere: refuse it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// parseServerURL checks a server's URL: an absolute https URL, or http on
// a loopback host; no credentials, query or fragment.
func parseServerURL(raw, keyName string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q: want the server's URL, such as https://auth.example.com", raw)
	}
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("the server's URL must not hold credentials: %s carries them", keyName)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("%q: no query or fragment", raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return nil, fmt.Errorf("%q: http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https, the API key must not cross the network in clear", raw)
	default:
		return nil, fmt.Errorf("%q: the scheme must be https", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Error is an error answer of the admin API.
type Error struct {
	Status      int
	Code        string // "not_found", "in_use", ...; empty when the answer had none (a proxy's page)
	Description string
	RetryAfter  string
	keyName     string
}

func (e *Error) Error() string {
	code := strconv.Itoa(e.Status)
	if e.Code != "" {
		code += " " + e.Code
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("the server refused %s (%s): it is unknown, revoked or expired", e.keyName, code)
	case http.StatusForbidden:
		desc := e.Description
		if desc == "" {
			desc = "-"
		}
		return fmt.Sprintf("%s lacks the permission for this (%s): %s", e.keyName, code, desc)
	case http.StatusTooManyRequests:
		msg := "the server is throttling this client (" + code + ")"
		if e.RetryAfter != "" {
			msg += ": retry after " + e.RetryAfter + " s"
		}
		return msg
	}
	if e.Description == "" {
		return "the server answered " + code + " " + http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s (server: %s)", e.Description, code)
}

// Kind is the admin service's kind of refusal the answer stands for: by
// its code, or by its status when it has none.
func (e *Error) Kind() (admin.Kind, bool) {
	if e.Code != "" {
		return adminapi.KindOfCode(e.Code)
	}
	switch e.Status {
	case http.StatusBadRequest:
		return admin.ErrInvalid, true
	case http.StatusForbidden:
		return admin.ErrForbidden, true
	case http.StatusNotFound:
		return admin.ErrNotFound, true
	case http.StatusConflict:
		return admin.ErrConflict, true
	}
	return 0, false
}

// Is matches the admin.Kind the answer stands for, so a caller tells
// refusals apart as from the local service.
func (e *Error) Is(target error) bool {
	k, ok := e.Kind()
	return ok && k.Is(target)
}

// printable trims a server-supplied text to one short line.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
