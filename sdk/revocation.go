package sdk

import (
	"context"
	"sync"
	"time"
)

// RevocationChecker tells a Verifier whether Gatehouse has revoked a token
// whose signature and claims hold. Gatehouse keeps three kinds of entry
// (docs/tokens.md): a token ("jti"), a browser session ("sid": logout ends
// every token of the session) and a subject not-before ("sub": every token
// of the user issued before a time, after a password change, a disabled
// account or a role removed).
//
// Implementations answer from memory in steady state: Verify calls
// Revoked on every request, cached tokens included. FeedChecker follows
// Gatehouse's revocation feed; package redisrevocation reads the entries
// Gatehouse mirrors to Redis.
type RevocationChecker interface {
	// Revoked reports whether c is revoked. An error means the checker
	// cannot answer; the Verifier then fails with ErrRevocationUnavailable
	// rather than let the token through.
	Revoked(ctx context.Context, c *Claims) (bool, error)
}

// InsecureNoRevocation is a RevocationChecker that never reports a token
// revoked. With it, logout, refresh-token reuse and a disabled account do
// not stop access tokens already issued before their "exp" (15 minutes by
// default). Use it only where that is acceptable and written down.
var InsecureNoRevocation RevocationChecker = noRevocation{}

type noRevocation struct{}

func (noRevocation) Revoked(context.Context, *Claims) (bool, error) { return false, nil }

// Revocation kinds, as Gatehouse names them.
const (
	RevokeJTI     = "jti"
	RevokeSession = "sid"
	RevokeSubject = "sub"
)

// RevocationEntry is one entry of Gatehouse's revocation list.
type RevocationEntry struct {
	Kind  string // RevokeJTI, RevokeSession or RevokeSubject
	Value string // the jti, sid or sub
	// NotBefore, for RevokeSubject: tokens of the subject issued before it
	// are revoked.
	NotBefore time.Time
	// ExpiresAt is when the entry may be forgotten: every token it covers
	// has expired by then.
	ExpiresAt time.Time
}

// revocationSet is an in-memory copy of the revocation list. Checks take a
// read lock and at most three map lookups, with no allocation.
type revocationSet struct {
	mu  sync.RWMutex
	jti map[string]time.Time // value -> expiry
	sid map[string]time.Time
	sub map[string]subjectEntry
}

type subjectEntry struct{ notBefore, expires time.Time }

func newRevocationSet() *revocationSet {
	return &revocationSet{jti: map[string]time.Time{}, sid: map[string]time.Time{}, sub: map[string]subjectEntry{}}
}

// add merges entries; an entry seen again keeps its latest times.
func (s *revocationSet) add(es []RevocationEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		switch e.Kind {
		case RevokeJTI:
			s.jti[e.Value] = latest(s.jti[e.Value], e.ExpiresAt)
		case RevokeSession:
			s.sid[e.Value] = latest(s.sid[e.Value], e.ExpiresAt)
		case RevokeSubject:
			old := s.sub[e.Value]
			s.sub[e.Value] = subjectEntry{notBefore: latest(old.notBefore, e.NotBefore), expires: latest(old.expires, e.ExpiresAt)}
		}
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// revoked reports whether c is covered by a live entry. A token without
// "iat" is covered by any subject entry: its age cannot be shown.
func (s *revocationSet) revoked(c *Claims, now time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if exp, ok := s.jti[c.ID]; ok && c.ID != "" && now.Before(exp) {
		return true
	}
	if exp, ok := s.sid[c.SID]; ok && c.SID != "" && now.Before(exp) {
		return true
	}
	if e, ok := s.sub[c.Subject]; ok && c.Subject != "" && now.Before(e.expires) && c.IssuedAt.Before(e.notBefore) {
		return true
	}
	return false
}

// prune drops entries that have expired.
func (s *revocationSet) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.jti {
		if !now.Before(exp) {
			delete(s.jti, k)
		}
	}
	for k, exp := range s.sid {
		if !now.Before(exp) {
			delete(s.sid, k)
		}
	}
	for k, e := range s.sub {
		if !now.Before(e.expires) {
			delete(s.sub, k)
		}
	}
}

func (s *revocationSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.jti) + len(s.sid) + len(s.sub)
}
