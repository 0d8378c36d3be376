// Package httpx holds Gatehouse's HTTP plumbing: the error-returning handler
// adapter, JSON rendering, request IDs, security headers, body limits,
// metrics, access logs and panic recovery. It knows nothing of OAuth flows;
// it renders *oauth.Error values and hides every other error behind a
// generic server_error.
package httpx

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

// HandlerFunc is an HTTP handler that returns its error instead of writing
// it. Handlers decode, validate, act and render; failures go up.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts fn to http.Handler. An *oauth.Error is rendered as RFC 6749
// JSON with its status; any other error becomes a 500 server_error whose
// cause is logged with the request ID and never sent.
func Handle(log *slog.Logger, fn HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(w, r, log, err)
		}
	})
}

// StatusClientClosedRequest is recorded (nginx's 499) for a request whose
// client went away before the answer: nobody reads it, and metrics and logs
// must not count it as a server error.
const StatusClientClosedRequest = 499

// ClientGone reports whether the client of r has gone away: its context
// ends only when the connection closes (the server's base context is never
// canceled), so a failure after that is the client's doing, typically a
// store call canceled with it.
func ClientGone(r *http.Request) bool { return r.Context().Err() != nil }

// ClientClosed records that the client went away before the answer, at
// debug level and as StatusClientClosedRequest, and reports whether it did.
// Error paths call it before logging a failure as the server's.
func ClientClosed(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) bool {
	if !ClientGone(r) {
		return false
	}
	log.DebugContext(r.Context(), "client went away before the answer", slog.Any("cause", err))
	w.WriteHeader(StatusClientClosedRequest)
	return true
}

// WriteError renders err as an OAuth JSON error response and logs it when
// it is the server's fault.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if ClientClosed(w, r, log, err) {
		return
	}
	oe := oauth.As(err)
	status := oe.HTTPStatus()
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed",
			slog.String("error", oe.Code), slog.Any("cause", oe.Cause))
	}
	for k, v := range oe.Header {
		w.Header()[k] = v
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.Code, oauth.DescriptionText(oe.Description)}
	NoStore(w)
	WriteJSON(w, status, body)
}

// NoStore marks a response as uncacheable (RFC 6749 §5.1).
func NoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only programming errors reach here: every rendered type marshals.
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	WriteJSONBytes(w, status, append(b, '\n'))
}

// WriteJSONBytes writes pre-rendered JSON.
func WriteJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ClientIP is the address of r's peer, without the port: what throttling,
// audit events and access logs key on. Forwarded headers are not read, so a
// client cannot choose its address; behind a proxy it is the proxy's, which
// errs on the side of throttling more (a trusted-proxy setting would be the
// way to read forwarded addresses).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type requestIDKey struct{}

// RequestID returns the request ID stored in ctx by the middleware, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying id, as the middleware does.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// LogHandler wraps h so every record logged with a request's context carries
// its request_id.
func LogHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
