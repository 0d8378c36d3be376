package web

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

func newPages(t *testing.T) *Pages {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// renderPage calls the render method for data's type.
func renderPage(p *Pages, w http.ResponseWriter, status int, data any) error {
	switch d := data.(type) {
	case LoginPage:
		return p.Login(w, status, d)
	case ConsentPage:
		return p.Consent(w, status, d)
	case DevicePage:
		return p.Device(w, status, d)
	case ErrorPage:
		return p.Error(w, status, d)
	case LoggedOutPage:
		return p.LoggedOut(w, status, d)
	case LogoutConfirmPage:
		return p.LogoutConfirm(w, status, d)
	}
	panic(fmt.Sprintf("no render method for %T", data))
}

func render(t *testing.T, p *Pages, status int, data any) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := renderPage(p, rec, status, data); err != nil {
		t.Fatalf("render %T: %v", data, err)
	}
	return rec
}

var sampleScopes = []ScopeItem{{Name: "openid"}, {Name: "email", Description: "Read your email address"}}

// pageCases holds one sample of every page: the names of all its form
// controls, tags that must be present (tag name, then attributes) and text.
var pageCases = []struct {
	name   string
	status int
	data   any
	fields []string // sorted
	tags   [][]string
	text   []string
	skip   []string // fields the XSS test must not set: not rendered in this case
}{
	{
		name:   "login",
		status: http.StatusUnauthorized,
		data: LoginPage{Action: "/login", CSRFToken: "csrf-1", Login: "alice", ClientName: "Example App",
			Error: "Incorrect username or password.", ReturnTo: "req-1"},
		fields: []string{"csrf_token", "password", "request", "username"},
		tags: [][]string{
			{"form", `method="post"`, `action="/login"`},
			{"input", `type="hidden"`, `name="csrf_token"`, `value="csrf-1"`},
			{"input", `type="hidden"`, `name="request"`, `value="req-1"`},
			{"input", `name="username"`, `autocomplete="username"`, `value="alice"`},
			{"input", `name="password"`, `type="password"`, `autocomplete="current-password"`},
			{"button", `type="submit"`},
		},
		text: []string{"Example App", `role="alert">Incorrect username or password.<`, ">Sign in</button>"},
	},
	{
		name:   "consent",
		status: http.StatusOK,
		data: ConsentPage{Action: "/consent", CSRFToken: "csrf-2", Request: "req-2", ClientName: "Example App",
			UserName: "alice", Scopes: sampleScopes},
		fields: []string{"csrf_token", "decision", "request"},
		tags: [][]string{
			{"form", `method="post"`, `action="/consent"`},
			{"input", `type="hidden"`, `name="csrf_token"`, `value="csrf-2"`},
			{"input", `type="hidden"`, `name="request"`, `value="req-2"`},
			{"button", `type="submit"`, `name="decision"`, `value="allow"`},
			{"button", `type="submit"`, `name="decision"`, `value="deny"`},
		},
		text: []string{"Example App wants to access your account", "alice", "openid",
			"Read your email address", ">Allow</button>", ">Deny</button>"},
	},
	{
		name:   "device enter",
		status: http.StatusBadRequest,
		data: DevicePage{Action: "/device", CSRFToken: "csrf-3", UserCode: "WDJB-MJHT",
			Error: "That code is not valid.", Step: DeviceStepEnter},
		fields: []string{"csrf_token", "user_code"},
		tags: [][]string{
			{"form", `method="post"`, `action="/device"`},
			{"input", `type="hidden"`, `name="csrf_token"`, `value="csrf-3"`},
			{"input", `name="user_code"`, `value="WDJB-MJHT"`, `autocomplete="off"`,
				`autocapitalize="characters"`, `inputmode="text"`},
		},
		text: []string{`role="alert">That code is not valid.<`, ">Continue</button>"},
		skip: []string{"Step", "ClientName", "Scopes", "Approved"},
	},
	{
		name:   "device confirm",
		status: http.StatusOK,
		data: DevicePage{Action: "/device", CSRFToken: "csrf-4", UserCode: "WDJB-MJHT", Step: DeviceStepConfirm,
			ClientName: "Example TV", Scopes: sampleScopes},
		fields: []string{"csrf_token", "decision", "user_code"},
		tags: [][]string{
			{"form", `method="post"`, `action="/device"`},
			{"input", `type="hidden"`, `name="csrf_token"`, `value="csrf-4"`},
			{"input", `type="hidden"`, `name="user_code"`, `value="WDJB-MJHT"`},
			{"button", `type="submit"`, `name="decision"`, `value="allow"`},
			{"button", `type="submit"`, `name="decision"`, `value="deny"`},
		},
		text: []string{"Only continue if you started this on a device you own; " +
			"you are authorizing a device to access your account", "Example TV", "WDJB-MJHT", "openid",
			"Read your email address"},
		skip: []string{"Step", "Approved"},
	},
	{
		name:   "device approved",
		status: http.StatusOK,
		data:   DevicePage{Step: DeviceStepDone, Approved: true, ClientName: "Example TV"},
		text:   []string{`<h1 id="device-result">Device approved</h1>`, "Example TV", "return to your device"},
		skip:   []string{"Step", "Approved", "Action", "CSRFToken", "UserCode", "Error", "Scopes"},
	},
	{
		name:   "device denied",
		status: http.StatusOK,
		data:   DevicePage{Step: DeviceStepDone, ClientName: "Example TV"},
		text:   []string{`<h1 id="device-result">Device denied</h1>`, "Example TV", "not given access"},
		skip:   []string{"Step", "Approved", "Action", "CSRFToken", "UserCode", "Error", "Scopes"},
	},
	{
		name:   "error",
		status: http.StatusBadRequest,
		data: ErrorPage{Title: "Invalid request", Message: "The redirect URI is not registered.",
			Code: "invalid_request", RequestID: "rid-5"},
		text: []string{"<title>Invalid request", `role="alert">The redirect URI is not registered.<`,
			"<code>invalid_request</code>", "<code>rid-5</code>"},
	},
	{
		name:   "logged out",
		status: http.StatusOK,
		data:   LoggedOutPage{Message: "You have been signed out of Example App."},
		text:   []string{"<title>Signed out", "<h1>Signed out</h1>", "You have been signed out of Example App."},
		skip:   []string{"StillSignedIn"},
	},
	{
		name:   "still signed in",
		status: http.StatusOK,
		data:   LoggedOutPage{StillSignedIn: true},
		text:   []string{"<title>Still signed in", "<h1>Still signed in</h1>", "<p>You are still signed in.</p>"},
		skip:   []string{"StillSignedIn", "Message"},
	},
	{
		name:   "logout confirm",
		status: http.StatusOK,
		data:   LogoutConfirmPage{Action: "/logout", CSRFToken: "csrf-6", Request: "req-6", ClientName: "Example App"},
		fields: []string{"csrf_token", "decision", "request"},
		tags: [][]string{
			{"form", `method="post"`, `action="/logout"`},
			{"input", `type="hidden"`, `name="csrf_token"`, `value="csrf-6"`},
			{"input", `type="hidden"`, `name="request"`, `value="req-6"`},
			{"button", `type="submit"`, `name="decision"`, `value="logout"`},
			{"button", `type="submit"`, `name="decision"`, `value="cancel"`},
		},
		text: []string{"Sign out of Gatehouse?", "Example App", ">Stay signed in</button>"},
	},
}

var (
	controlName = regexp.MustCompile(`<(?:input|button|select|textarea)\b[^>]*\bname="([^"]*)"`)
	inputTag    = regexp.MustCompile(`<input\b[^>]*>`)
	idAttr      = regexp.MustCompile(`\bid="([^"]+)"`)
)

// openTags returns every opening tag named tag in body.
func openTags(body, tag string) []string {
	return regexp.MustCompile(`<`+tag+`\b[^>]*>`).FindAllString(body, -1)
}

// hasTag reports whether some tag named tag carries all attrs.
func hasTag(body, tag string, attrs ...string) bool {
	for _, s := range openTags(body, tag) {
		if !slices.ContainsFunc(attrs, func(a string) bool { return !strings.Contains(s, a) }) {
			return true
		}
	}
	return false
}

func TestPages(t *testing.T) {
	t.Parallel()
	p := newPages(t)
	for _, tc := range pageCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := render(t, p, tc.status, tc.data)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			for k, want := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Cache-Control":           "no-store",
				"Content-Security-Policy": ContentSecurityPolicy,
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP %q lacks frame-ancestors 'none'", csp)
			}
			body := rec.Body.String()
			for _, want := range []string{`<!DOCTYPE html>`, `<html lang="en">`, `<meta name="viewport"`,
				`<title>`, `<main`, `<link rel="stylesheet" href="` + StaticPattern + `gatehouse.css">`} {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q", want)
				}
			}
			if strings.Contains(body, "<a ") {
				t.Error("page contains a link")
			}

			var names []string
			for _, m := range controlName.FindAllStringSubmatch(body, -1) {
				names = append(names, m[1])
			}
			slices.Sort(names)
			if names = slices.Compact(names); !slices.Equal(names, tc.fields) {
				t.Errorf("form fields = %q, want %q", names, tc.fields)
			}
			forms := openTags(body, "form")
			for _, f := range forms {
				if !strings.Contains(f, `method="post"`) {
					t.Errorf("form %s is not POST", f)
				}
			}
			if n := len(forms); n != strings.Count(body, `name="csrf_token"`) {
				t.Errorf("%d forms but %d csrf_token fields", n, strings.Count(body, `name="csrf_token"`))
			}
			for _, want := range tc.tags {
				if !hasTag(body, want[0], want[1:]...) {
					t.Errorf("no <%s> with %q in\n%s", want[0], want[1:], body)
				}
			}
			for _, b := range openTags(body, "button") {
				if !strings.Contains(b, `type="submit"`) {
					t.Errorf("button %s is not type=submit", b)
				}
			}
			for _, in := range inputTag.FindAllString(body, -1) {
				if strings.Contains(in, `type="hidden"`) {
					continue
				}
				m := idAttr.FindStringSubmatch(in)
				if m == nil || !strings.Contains(body, `<label for="`+m[1]+`">`) {
					t.Errorf("input %s has no label", in)
				}
			}
			for _, want := range tc.text {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q in\n%s", want, body)
				}
			}
		})
	}
}

// TestStillSignedInPage: after "Stay signed in" on the logout
// confirmation the page says so throughout, and nowhere that the user was
// signed out.
func TestStillSignedInPage(t *testing.T) {
	t.Parallel()
	body := render(t, newPages(t), http.StatusOK, LoggedOutPage{StillSignedIn: true}).Body.String()
	for _, want := range []string{"<title>Still signed in · Gatehouse</title>", "<h1>Still signed in</h1>", "You are still signed in."} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(strings.ToLower(body), "signed out") {
		t.Errorf("a still-signed-in page says signed out:\n%s", body)
	}
}

// xssPayloads are hostile values with their expected rendering in HTML
// text or attribute context and in a URL attribute (the form action).
var xssPayloads = []struct{ raw, html, url string }{
	{`<script>alert(1)</script>`, `&lt;script&gt;alert(1)&lt;/script&gt;`, `%3cscript%3ealert%281%29%3c/script%3e`},
	{`"><img src=x onerror=alert(1)>`, `&#34;&gt;&lt;img src=x onerror=alert(1)&gt;`,
		`%22%3e%3cimg%20src=x%20onerror=alert%281%29%3e`},
	{`javascript:alert(1)`, `javascript:alert(1)`, `#ZgotmplZ`},
}

var jsURLAttr = regexp.MustCompile(`(?i)\b(?:href|src|action|formaction)\s*=\s*"?\s*javascript:`)

// setField returns a copy of the page struct data with field (or, for a
// []ScopeItem field, sub of its only item) set to value.
func setField(t *testing.T, data any, field, sub, value string) any {
	t.Helper()
	v := reflect.New(reflect.TypeOf(data)).Elem()
	v.Set(reflect.ValueOf(data))
	f := v.FieldByName(field)
	switch {
	case f.Kind() == reflect.String:
		f.SetString(value)
	case f.Type() == reflect.TypeFor[[]ScopeItem]():
		item := ScopeItem{Name: "profile", Description: "Read your profile"}
		reflect.ValueOf(&item).Elem().FieldByName(sub).SetString(value)
		f.Set(reflect.ValueOf([]ScopeItem{item}))
	default:
		t.Fatalf("%T.%s: unhandled field type %s", data, field, f.Type())
	}
	return v.Interface()
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	p := newPages(t)
	for _, tc := range pageCases {
		typ := reflect.TypeOf(tc.data)
		for i := range typ.NumField() {
			field := typ.Field(i)
			if slices.Contains(tc.skip, field.Name) {
				continue
			}
			subs := []string{""}
			if field.Type == reflect.TypeFor[[]ScopeItem]() {
				subs = []string{"Name", "Description"}
			}
			for _, sub := range subs {
				for j, x := range xssPayloads {
					name := fmt.Sprintf("%s/%s%s/%d", tc.name, field.Name, sub, j)
					t.Run(name, func(t *testing.T) {
						data := setField(t, tc.data, field.Name, sub, x.raw)
						body := render(t, p, http.StatusOK, data).Body.String()
						want := x.html
						if field.Name == "Action" {
							want = x.url
						}
						if !strings.Contains(body, want) {
							t.Errorf("body lacks escaped %q in\n%s", want, body)
						}
						if x.raw != x.html && strings.Contains(body, x.raw) {
							t.Errorf("body contains raw %q", x.raw)
						}
						if strings.Contains(body, "<img") || strings.Contains(body, "<script") {
							t.Error("payload produced an element")
						}
						if jsURLAttr.MatchString(body) {
							t.Error("payload produced a javascript: URL attribute")
						}
					})
				}
			}
		}
	}
}

func TestRenderFailure(t *testing.T) {
	t.Parallel()
	p := newPages(t)
	tests := []struct {
		name   string
		render func(w http.ResponseWriter) error
	}{
		{"unknown device step", func(w http.ResponseWriter) error {
			return p.Device(w, http.StatusOK, DevicePage{Step: "approve"})
		}},
		{"empty device step", func(w http.ResponseWriter) error {
			return p.Device(w, http.StatusOK, DevicePage{})
		}},
		{"invalid status", func(w http.ResponseWriter) error {
			return p.LoggedOut(w, 0, LoggedOutPage{})
		}},
		{"unknown page", func(w http.ResponseWriter) error {
			return p.render(w, http.StatusOK, "nope", nil)
		}},
		{"template failure", func(w http.ResponseWriter) error {
			// A real page executed with data lacking its fields fails
			// part-way through the template.
			return p.render(w, http.StatusOK, pageLogin, struct{ Action string }{"/login"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			if err := tc.render(rec); err == nil {
				t.Fatal("err = nil, want a render error")
			}
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", rec.Code)
			}
			if got := rec.Body.String(); got != "internal error\n" {
				t.Errorf("body = %q, want plain internal error", got)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestConcurrentRender(t *testing.T) {
	t.Parallel()
	p := newPages(t)
	var wg sync.WaitGroup
	for range 8 {
		for _, tc := range pageCases {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				if err := renderPage(p, rec, tc.status, tc.data); err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
			})
		}
	}
	wg.Wait()
}

func TestStaticHandler(t *testing.T) {
	t.Parallel()
	p := newPages(t)
	css, err := staticFS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	h := p.StaticHandler()
	etag := fetchETag(t, h)

	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		body               string
	}{
		{name: "get css", method: http.MethodGet, path: "/static/gatehouse.css", status: http.StatusOK, body: string(css)},
		{name: "head css", method: http.MethodHead, path: "/static/gatehouse.css", status: http.StatusOK},
		{name: "revalidate", method: http.MethodGet, path: "/static/gatehouse.css",
			header: map[string]string{"If-None-Match": etag}, status: http.StatusNotModified},
		{name: "post", method: http.MethodPost, path: "/static/gatehouse.css", status: http.StatusMethodNotAllowed},
		{name: "put", method: http.MethodPut, path: "/static/gatehouse.css", status: http.StatusMethodNotAllowed},
		{name: "unknown file", method: http.MethodGet, path: "/static/missing.css", status: http.StatusNotFound},
		{name: "directory", method: http.MethodGet, path: "/static/", status: http.StatusNotFound},
		{name: "nested", method: http.MethodGet, path: "/static/static/gatehouse.css", status: http.StatusNotFound},
		{name: "traversal", method: http.MethodGet, path: "/static/../web.go", status: http.StatusNotFound},
		{name: "outside prefix", method: http.MethodGet, path: "/gatehouse.css", status: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			switch tc.status {
			case http.StatusOK:
				if ct := rec.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
					t.Errorf("Content-Type = %q, want text/css", ct)
				}
				if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=86400" {
					t.Errorf("Cache-Control = %q", cc)
				}
				if got := rec.Body.String(); got != tc.body {
					t.Errorf("body = %d bytes, want %d", len(got), len(tc.body))
				}
			case http.StatusMethodNotAllowed:
				if a := rec.Header().Get("Allow"); a != "GET, HEAD" {
					t.Errorf("Allow = %q, want GET, HEAD", a)
				}
			}
		})
	}
}

// fetchETag fetches the stylesheet once and returns its ETag.
func fetchETag(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/gatehouse.css", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	return etag
}

// TestEmbeddedFilesAreInert scans every embedded template and static file
// for anything the CSP would block or that loads from elsewhere.
func TestEmbeddedFilesAreInert(t *testing.T) {
	t.Parallel()
	forbidden := regexp.MustCompile(`(?i)<script|<style|\bstyle\s*=|\bon[a-z]+\s*=|javascript:|https?://|//[a-z0-9.-]+\.[a-z]|@import|url\(`)
	for _, fsys := range []fs.FS{templateFS, staticFS} {
		err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			if m := forbidden.Find(b); m != nil {
				t.Errorf("%s contains %q", name, m)
			}
			if strings.HasPrefix(name, "static/") && len(b) > 4096 {
				t.Errorf("%s is %d bytes, want at most 4096", name, len(b))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
