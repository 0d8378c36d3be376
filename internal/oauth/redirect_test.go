package oauth

import "testing"

func TestValidateRedirectURI(t *testing.T) {
	cases := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb?x=1", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:8400/cb", true},
		{"http://[::1]:8400/cb", true},
		{"com.example.app:/oauth2redirect", true},
		{"http://localhost:8400/cb", false},
		{"http://app.example/cb", false},
		{"https://app.example/cb#frag", false},
		{"https://*.example/cb", false},
		{"https://app.example/*", false},
		{"/relative/cb", false},
		{"", false},
		{"javascript:alert(1)", false},
		{"myapp:/cb", false},
		{"https://user:pw@app.example/cb", false},
		{"https:///cb", false},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			if err := ValidateRedirectURI(c.uri); (err == nil) != c.ok {
				t.Fatalf("ValidateRedirectURI = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

// TestMatchRedirectURINearMisses is RED-02: every near-miss of a registered
// URI is refused.
func TestMatchRedirectURINearMisses(t *testing.T) {
	registered := []string{"https://app.example/cb?x=1", "http://127.0.0.1/native/cb"}
	cases := []struct {
		name, uri string
		want      bool
	}{
		{"exact", "https://app.example/cb?x=1", true},
		{"trailing slash", "https://app.example/cb/?x=1", false},
		{"path case", "https://app.example/CB?x=1", false},
		{"host case", "https://APP.example/cb?x=1", false},
		{"extra param", "https://app.example/cb?x=1&y=2", false},
		{"changed value", "https://app.example/cb?x=2", false},
		{"dropped query", "https://app.example/cb", false},
		{"fragment", "https://app.example/cb?x=1#f", false},
		{"explicit 443", "https://app.example:443/cb?x=1", false},
		{"http", "http://app.example/cb?x=1", false},
		{"extra segment", "https://app.example/cb/x?x=1", false},
		{"encoded slash", "https://app.example%2Fcb?x=1", false},
		{"userinfo", "https://app.example@evil.example/cb?x=1", false},
		{"loopback any port", "http://127.0.0.1:51234/native/cb", true},
		{"loopback other path", "http://127.0.0.1:51234/native/cb2", false},
		{"loopback other host", "http://[::1]:51234/native/cb", false},
		{"loopback fragment", "http://127.0.0.1:5/native/cb#x", false},
		{"loopback query added", "http://127.0.0.1:5/native/cb?a=b", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := MatchRedirectURI(registered, c.uri); got != c.want {
				t.Fatalf("MatchRedirectURI(%q) = %v, want %v", c.uri, got, c.want)
			}
		})
	}
}
