package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures Wrap.
type Options struct {
	Logger *slog.Logger
	// Metrics receives request counts and latencies; nil disables them.
	Metrics *Metrics
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64
	// HSTS sends Strict-Transport-Security (only meaningful over https).
	HSTS bool
	// LogRequests writes one log line per request.
	LogRequests bool
}

// Wrap applies Gatehouse's common middleware to h, outermost first: panic
// recovery, request ID, metrics and access log, security headers, body limit.
func Wrap(h http.Handler, o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		r = r.WithContext(WithRequestID(r.Context(), id))
		rec := &statusRecorder{ResponseWriter: w}

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // a panic value, compared by identity as net/http does
					panic(p)
				}
				o.Logger.ErrorContext(r.Context(), "panic serving request",
					slog.Any("panic", p), slog.String("path", r.URL.Path))
				if !rec.wroteHeader {
					WriteError(rec, r, o.Logger, errPanic)
				}
			}
			// ServeMux records the matched pattern on the request it was
			// given, which is r: a bounded label set for metrics.
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			if o.Metrics != nil {
				o.Metrics.observe(route, r.Method, status, elapsed)
			}
			if o.LogRequests {
				o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method), slog.String("route", route),
					slog.Int("status", status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
			}
		}()

		hdr := rec.Header()
		hdr.Set("X-Request-ID", id)
		setSecurityHeaders(hdr, o.HSTS)
		if r.Body != nil && o.MaxBodyBytes > 0 {
			r.Body = http.MaxBytesReader(rec, r.Body, o.MaxBodyBytes)
		}
		h.ServeHTTP(rec, r)
	})
}

type panicError struct{}

func (panicError) Error() string { return "handler panicked" }

var errPanic error = panicError{}

// setSecurityHeaders sets the headers every response carries. HTML pages
// replace the Content-Security-Policy with their own, still keeping
// frame-ancestors 'none'.
func setSecurityHeaders(h http.Header, hsts bool) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if hsts {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

// validRequestID accepts a caller-supplied ID (from a proxy) only when it is
// short and made of safe characters, so it cannot forge log structure.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Metrics holds the HTTP request metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics creates the HTTP metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *Metrics) observe(route, method string, status int, d time.Duration) {
	if !knownMethod(method) {
		method = "other" // keep label cardinality bounded
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}
