package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ValidateRedirectURI checks a redirect URI at client registration (RFC 6749
// §3.1.2, RFC 9700 §2.1, RFC 8252 §7): absolute, no fragment, no wildcard,
// https unless it is a loopback IP literal over http, or a private-use scheme
// for native apps (reverse-DNS, containing a dot).
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("redirect URI is empty")
	case err != nil:
		return fmt.Errorf("redirect URI %q is not a URL", raw)
	case !u.IsAbs():
		return fmt.Errorf("redirect URI %q is not absolute", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q has a fragment", raw)
	case strings.Contains(raw, "*"):
		return fmt.Errorf("redirect URI %q has a wildcard", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q has user info", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
		return nil
	case "http":
		if isLoopbackIP(u.Hostname()) {
			return nil
		}
		if u.Hostname() == "localhost" {
			// RFC 8252 §8.3: "localhost" may resolve elsewhere.
			return fmt.Errorf("redirect URI %q: use http://127.0.0.1 or http://[::1] instead of localhost", raw)
		}
		return fmt.Errorf("redirect URI %q must use https (plain http is allowed only for loopback IPs)", raw)
	case "javascript", "data", "file", "vbscript":
		return fmt.Errorf("redirect URI %q uses a forbidden scheme", raw)
	}
	// RFC 8252 §7.1: private-use schemes must be reverse domain names.
	if !strings.Contains(u.Scheme, ".") {
		return fmt.Errorf("redirect URI %q: a custom scheme must be a reverse domain name such as com.example.app", raw)
	}
	return nil
}

// MatchRedirectURI reports whether requested equals one of registered by
// simple string comparison (RFC 9700 §4.1.3), except that for loopback IP
// redirect URIs over http the port is ignored (RFC 8252 §7.3).
func MatchRedirectURI(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackIP(req.Hostname()) || strings.Contains(requested, "#") {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || !isLoopbackIP(reg.Hostname()) {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() &&
			reg.RawQuery == req.RawQuery && req.User == nil && req.Opaque == "" {
			return true
		}
	}
	return false
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
