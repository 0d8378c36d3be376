package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

func newLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(LogHandler(slog.NewJSONHandler(buf, nil)))
}

func serve(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return body
}

func TestHandleRendersOAuthErrors(t *testing.T) {
	var logs bytes.Buffer
	log := newLogger(&logs)
	secret := errors.New("pq: password authentication failed for user admin")
	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantDesc   string
	}{
		{"oauth error keeps code and status", &oauth.Error{Code: oauth.CodeInvalidClient, Description: "client authentication failed", Status: 401}, 401, "invalid_client", "client authentication failed"},
		{"zero status means 400", oauth.NewError(oauth.CodeInvalidRequest, "missing grant_type"), 400, "invalid_request", "missing grant_type"},
		{"plain error hides its cause", secret, 500, "server_error", "the server could not complete the request"},
		{"wrapped oauth error", errors.Join(oauth.NewError(oauth.CodeInvalidGrant, "bad code")), 400, "invalid_grant", "bad code"},
		{"unavailable is 503", oauth.Unavailable(secret), 503, "temporarily_unavailable", "a backing service is unavailable; retry shortly"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs.Reset()
			h := Wrap(Handle(log, func(http.ResponseWriter, *http.Request) error { return c.err }), Options{Logger: log})
			rec := serve(t, h, httptest.NewRequest("GET", "/x", nil))
			if rec.Code != c.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, c.wantStatus)
			}
			body := decodeError(t, rec)
			if body["error"] != c.wantCode || body["error_description"] != c.wantDesc {
				t.Fatalf("body %v, want %s / %s", body, c.wantCode, c.wantDesc)
			}
			if strings.Contains(rec.Body.String(), "password") {
				t.Fatal("internal cause leaked to the client")
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if c.wantStatus >= 500 && !strings.Contains(logs.String(), "request_id") {
				t.Errorf("server error not logged with request id: %s", logs.String())
			}
		})
	}
}

func TestUnavailableSetsRetryAfter(t *testing.T) {
	log := newLogger(&bytes.Buffer{})
	h := Handle(log, func(http.ResponseWriter, *http.Request) error { return oauth.Unavailable(errors.New("db down")) })
	rec := serve(t, h, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestWrapSecurityHeadersAndRequestID(t *testing.T) {
	log := newLogger(&bytes.Buffer{})
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, RequestID(r.Context()))
	}), Options{Logger: log, HSTS: true})

	rec := serve(t, h, httptest.NewRequest("GET", "/", nil))
	want := map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q lacks frame-ancestors 'none'", csp)
	}
	id := rec.Header().Get("X-Request-ID")
	if len(id) != 24 || rec.Body.String() != id {
		t.Errorf("request id %q not generated or not in context (body %q)", id, rec.Body.String())
	}

	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-ID", "proxy-abc.123")
	if got := serve(t, h, req).Header().Get("X-Request-ID"); got != "proxy-abc.123" {
		t.Errorf("well-formed incoming id not kept: %q", got)
	}
	req.Header.Set("X-Request-ID", "evil\"}\n{\"level\":\"ERROR")
	if got := serve(t, h, req).Header().Get("X-Request-ID"); strings.ContainsAny(got, "\"{}\n") {
		t.Errorf("unsafe incoming id accepted: %q", got)
	}
}

func TestWrapRecoversPanics(t *testing.T) {
	var logs bytes.Buffer
	log := newLogger(&logs)
	h := Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), Options{Logger: log})
	rec := serve(t, h, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || decodeError(t, rec)["error"] != "server_error" {
		t.Fatalf("panic rendered as %d %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Fatal("panic value leaked")
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Fatal("panic not logged")
	}
}

func TestWrapLimitsBody(t *testing.T) {
	log := newLogger(&bytes.Buffer{})
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}), Options{Logger: log, MaxBodyBytes: 1024})
	rec := serve(t, h, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 4096))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
}

func TestMetricsUseRoutePattern(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})
	h := Wrap(mux, Options{Logger: newLogger(&bytes.Buffer{}), Metrics: m})
	for _, p := range []string{"/items/1", "/items/2", "/nope", "/random-123"} {
		serve(t, h, httptest.NewRequest("GET", p, nil))
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET /items/{id}", "GET", "200")); got != 2 {
		t.Errorf("items counter = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("unmatched", "GET", "404")); got != 2 {
		t.Errorf("unmatched counter = %v, want 2 (no per-path labels)", got)
	}
	serve(t, h, httptest.NewRequest("BREW", "/items/1", nil))
	if got := testutil.ToFloat64(m.requests.WithLabelValues("unmatched", "other", "405")); got != 1 {
		t.Errorf("odd method not folded into 'other': %v", got)
	}
}

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{"192.0.2.1:5000": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "@": "@", "": ""} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if got := ClientIP(r); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestWriteErrorKeepsDescriptionInCharset: a description holding characters
// RFC 6749 §5.2 excludes (a quote from a library's message) is rendered
// within the charset.
func TestWriteErrorKeepsDescriptionInCharset(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	WriteError(rec, req, slog.New(slog.DiscardHandler), oauth.NewError(oauth.CodeInvalidRequest, `bad "x"\y`))
	if got := decodeError(t, rec)["error_description"]; got != "bad _x__y" {
		t.Errorf("error_description %q, want %q", got, "bad _x__y")
	}
}
