package authorize

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Request is a validated authorization request. While the user signs in
// and consents it travels between the pages sealed (AES-256-GCM, see
// Sealer), so no node needs to remember it and any node can resume it.
type Request struct {
	// Kind separates sealed authorization requests from sealed logout
	// requests, so one can never be replayed as the other.
	Kind          string   `json:"k"`
	ClientID      string   `json:"c"`
	RedirectURI   string   `json:"r"`
	Scopes        []string `json:"s"`
	Audiences     []string `json:"a,omitempty"`
	State         string   `json:"st,omitempty"`
	Nonce         string   `json:"n,omitempty"`
	CodeChallenge string   `json:"cc,omitempty"`
	Prompt        []string `json:"p,omitempty"`
	// MaxAge is -1 when not sent.
	MaxAge    int64  `json:"ma"`
	LoginHint string `json:"lh,omitempty"`
	// Issued bounds how long the user may take.
	Issued int64 `json:"i"`
	// ID names this request among all others: the consent page answers
	// each request once (see Endpoint.Approve), and its form token is
	// bound to it.
	ID string `json:"id"`
	// LoginSID is set by the login page: the session created by signing in
	// during this request, which satisfies prompt=login and max_age.
	LoginSID string `json:"ls,omitempty"`
	// UserCode is the normalized user code of a device request
	// (KindDevice), which the device page resumes after sign-in.
	UserCode string `json:"uc,omitempty"`
}

// Kinds of sealed requests.
const (
	KindAuthorize = "authorize"
	KindLogout    = "logout"
	// KindDevice is a device verification (RFC 8628 §3.3) waiting for the
	// user to sign in.
	KindDevice = "device"
)

// HasPrompt reports whether the request carries prompt value v.
func (r *Request) HasPrompt(v string) bool {
	for _, p := range r.Prompt {
		if p == v {
			return true
		}
	}
	return false
}

// ErrBadRequestToken reports a sealed request that is forged, corrupted or
// too old.
var ErrBadRequestToken = errors.New("authorize: invalid or expired request")

// Sealer seals and opens Requests.
type Sealer struct {
	aead   cipher.AEAD
	maxAge time.Duration
	now    func() time.Time
}

// NewSealer returns a sealer with a 32-byte key (derived from the master
// key, so every node shares it) that accepts requests up to maxAge old.
func NewSealer(key []byte, maxAge time.Duration, now func() time.Time) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("authorize: request key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("authorize: request key: %w", err)
	}
	return &Sealer{aead: aead, maxAge: maxAge, now: now}, nil
}

// additional data binds blobs to their purpose.
var sealAD = []byte("gatehouse authorization request v1")

// Seal returns r as an opaque URL-safe string. An empty Kind means
// KindAuthorize.
func (s *Sealer) Seal(r Request) string {
	if r.Kind == "" {
		r.Kind = KindAuthorize
	}
	if r.Issued == 0 {
		r.Issued = s.now().Unix()
	}
	plain, _ := json.Marshal(r) // a struct of strings and numbers always marshals
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, sealAD))
}

// Expires returns when a sealed r stops opening: nothing about it needs
// remembering after that.
func (s *Sealer) Expires(r Request) time.Time {
	return time.Unix(r.Issued, 0).Add(s.maxAge)
}

// maxSealed bounds what Open decodes.
const maxSealed = 8 << 10

// OpenAny returns the request sealed in blob if it is of one of kinds.
func (s *Sealer) OpenAny(blob string, kinds ...string) (Request, error) {
	for _, k := range kinds {
		if r, err := s.Open(blob, k); err == nil {
			return r, nil
		}
	}
	return Request{}, ErrBadRequestToken
}

// Open returns the request of the given kind sealed in blob.
func (s *Sealer) Open(blob, kind string) (Request, error) {
	if blob == "" || len(blob) > maxSealed {
		return Request{}, ErrBadRequestToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(blob)
	ns := s.aead.NonceSize()
	if err != nil || len(raw) < ns+s.aead.Overhead() {
		return Request{}, ErrBadRequestToken
	}
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], sealAD)
	if err != nil {
		return Request{}, ErrBadRequestToken
	}
	var r Request
	if err := json.Unmarshal(plain, &r); err != nil || r.Kind != kind {
		return Request{}, ErrBadRequestToken
	}
	age := s.now().Sub(time.Unix(r.Issued, 0))
	if age > s.maxAge || age < -time.Minute {
		return Request{}, ErrBadRequestToken
	}
	return r, nil
}
