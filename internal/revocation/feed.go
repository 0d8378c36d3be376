package revocation

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Feed limits.
const (
	// FeedPath is the route of the revocation feed.
	FeedPath = "/oauth/revocations"
	// MaxFeedWait caps the wait parameter. It stays well inside the
	// server's default write timeout (30 s).
	MaxFeedWait = 20 * time.Second
	// feedPageSize is the most entries one answer carries.
	feedPageSize = 1000
	// FeedPermission is what a client's roles must grant for it to read
	// the feed.
	FeedPermission = "revocations:read"
)

// FeedAccess reports whether an authenticated client may read the feed;
// an error means it cannot tell (503).
type FeedAccess func(ctx context.Context, c store.Client) (bool, error)

// ClientAuthenticator authenticates the client calling the feed (HTTP
// Basic, RFC 6749 §2.3.1).
type ClientAuthenticator interface {
	Authenticate(r *http.Request, f oauth.Form) (store.Client, error)
}

// feedEntry is the wire form of one entry: times in Unix seconds, rounded
// up so that no entry ends early and no not-before covers less.
type feedEntry struct {
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	NotBefore int64  `json:"not_before,omitempty"`
	ExpiresAt int64  `json:"expires_at"`
}

type feedAnswer struct {
	Cursor  string      `json:"cursor"`
	More    bool        `json:"more"`
	Entries []feedEntry `json:"entries"`
}

// FeedHandler serves GET /oauth/revocations, the revocation feed that the
// SDK's FeedChecker follows to keep its own copy of the list (docs/tokens.md):
//
//	GET /oauth/revocations?since=CURSOR&wait=SECONDS
//	Authorization: Basic <confidential client credentials>
//
// The answer holds the live entries after CURSOR (all of them without
// since), at most 1000, in the order they were written, with the cursor to
// send next and "more" when a full page was returned. When nothing is new
// the request is held up to wait seconds (at most MaxFeedWait) and is
// answered as soon as this node learns of an entry, which it does within
// its poll interval of any node writing one. Only confidential clients that
// may (FeedPermission, through their roles) read it: the entries name
// users who signed out, changed a password or were disabled, which is more
// than introspection tells a client about tokens not meant for it.
func (l *List) FeedHandler(auth ClientAuthenticator, may FeedAccess) http.Handler {
	return httpx.Handle(l.cfg.Logger, func(w http.ResponseWriter, r *http.Request) error {
		caller, err := auth.Authenticate(r, oauth.Form{})
		if err != nil {
			return err
		}
		if caller.Public {
			return oauth.NewError(oauth.CodeUnauthorizedClient, "public clients cannot read the revocation feed")
		}
		switch ok, err := may(r.Context(), caller); {
		case err != nil:
			return oauth.Unavailable(err)
		case !ok:
			return &oauth.Error{Code: oauth.CodeUnauthorizedClient, Status: http.StatusForbidden,
				Description: "this client may not read the revocation feed: give it a role with the " + FeedPermission + " permission"}
		}
		q := r.URL.Query()
		since, err := queryInt(q.Get("since"), math.MaxInt64)
		if err != nil {
			return oauth.NewError(oauth.CodeInvalidRequest, "since must be a cursor returned by this endpoint")
		}
		wait, err := queryInt(q.Get("wait"), math.MaxInt32)
		if err != nil {
			return oauth.NewError(oauth.CodeInvalidRequest, "wait must be a whole number of seconds")
		}
		rs, err := l.waitSince(r.Context(), since, min(time.Duration(wait)*time.Second, MaxFeedWait))
		if err != nil {
			if r.Context().Err() != nil {
				return nil // the follower went away
			}
			return oauth.Unavailable(err)
		}
		ans := feedAnswer{Cursor: strconv.FormatInt(since, 10), More: len(rs) == feedPageSize,
			Entries: make([]feedEntry, 0, len(rs))}
		for _, e := range rs {
			fe := feedEntry{Kind: e.Kind, Value: e.Value, ExpiresAt: ceilUnix(e.ExpiresAt)}
			if e.Kind == store.RevokeSubject {
				fe.NotBefore = ceilUnix(e.NotBefore)
			}
			ans.Entries = append(ans.Entries, fe)
			ans.Cursor = strconv.FormatInt(e.Seq, 10)
		}
		httpx.NoStore(w)
		httpx.WriteJSON(w, http.StatusOK, ans)
		return nil
	})
}

// waitSince returns the live entries after seq, waiting up to wait for one
// to be written when there are none.
func (l *List) waitSince(ctx context.Context, seq int64, wait time.Duration) ([]store.Revocation, error) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		// Take the channel before reading, so an entry written between
		// the read and the wait still wakes us.
		changed := l.changed()
		rs, err := l.cfg.Store.RevocationsSince(ctx, seq, l.cfg.Now(), feedPageSize)
		if err != nil || len(rs) > 0 || timeout == nil {
			return rs, err
		}
		select {
		case <-changed:
		case <-timeout:
			return nil, nil
		case <-l.ending:
			// Shutting down: answer now (nothing new, same cursor) so the
			// follower reconnects, to another node, at once.
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// EndWaits answers every feed request that is waiting for news, and every
// later one at once, with what it has (usually nothing). The server calls
// it when it starts shutting down: held long polls would otherwise keep
// shutdown waiting for their whole wait.
func (l *List) EndWaits() { l.endOnce.Do(func() { close(l.ending) }) }

var errOutOfRange = errors.New("out of range")

// queryInt parses an optional non-negative decimal of at most limit.
func queryInt(s string, limit int64) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return 0, err
	case n < 0 || n > limit:
		return 0, errOutOfRange
	}
	return n, nil
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
