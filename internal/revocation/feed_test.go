package revocation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// basicAuth accepts "rs:pw" as a confidential client and "spa:" as a
// public one.
type basicAuth struct{}

func (basicAuth) Authenticate(r *http.Request, _ oauth.Form) (store.Client, error) {
	id, pw, ok := r.BasicAuth()
	switch {
	case ok && id == "rs" && pw == "pw":
		return store.Client{ID: "rs"}, nil
	case ok && id == "spa":
		return store.Client{ID: "spa", Public: true}, nil
	case ok && id == "other" && pw == "pw":
		return store.Client{ID: "other"}, nil
	}
	return store.Client{}, &oauth.Error{Code: oauth.CodeInvalidClient, Status: http.StatusUnauthorized}
}

// allowRS lets "rs" read the feed, and nobody else.
func allowRS(_ context.Context, c store.Client) (bool, error) { return c.ID == "rs", nil }

type feedResult struct {
	code int
	ans  feedAnswer
	err  string
}

func getFeed(t *testing.T, h http.Handler, query, user string) feedResult {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), "GET", FeedPath+query, nil)
	if user != "" {
		r.SetBasicAuth(user, "pw")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := feedResult{code: w.Code}
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &res.ans); err != nil {
			t.Fatalf("feed body %q: %v", w.Body, err)
		}
	} else {
		var e struct{ Error string }
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		res.err = e.Error
	}
	return res
}

func TestFeedRequests(t *testing.T) {
	st := openStore(t)
	l := New(Config{Store: st})
	h := l.FeedHandler(basicAuth{}, allowRS)
	for _, tc := range []struct {
		name, query, user string
		code              int
		err               string
	}{
		{"no client", "", "", 401, "invalid_client"},
		{"public client", "", "spa", 400, "unauthorized_client"},
		{"client without the permission", "", "other", 403, "unauthorized_client"},
		{"bad cursor", "?since=abc", "rs", 400, "invalid_request"},
		{"negative cursor", "?since=-1", "rs", 400, "invalid_request"},
		{"huge cursor", "?since=99999999999999999999", "rs", 400, "invalid_request"},
		{"bad wait", "?wait=1.5", "rs", 400, "invalid_request"},
		{"ok", "?since=0&wait=0", "rs", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := getFeed(t, h, tc.query, tc.user)
			if res.code != tc.code || res.err != tc.err {
				t.Errorf("got %d %q, want %d %q", res.code, res.err, tc.code, tc.err)
			}
		})
	}
}

// The feed pages through every live entry in write order, with a cursor
// to resume from, rounding times up.
func TestFeedPages(t *testing.T) {
	st := openStore(t)
	l := New(Config{Store: st})
	h := l.FeedHandler(basicAuth{}, allowRS)
	now := time.Now()
	var rs []store.Revocation
	for i := range feedPageSize + 1 {
		rs = append(rs, store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprint("j", i), ExpiresAt: now.Add(time.Hour)})
	}
	rs = append(rs, store.Revocation{Kind: store.RevokeSubject, Value: "alice",
		NotBefore: now.Truncate(time.Second).Add(1500 * time.Millisecond), ExpiresAt: now.Add(time.Hour)})
	rs = append(rs, store.Revocation{Kind: store.RevokeJTI, Value: "expired", ExpiresAt: now.Add(-time.Second)})
	if err := l.Revoke(t.Context(), rs...); err != nil {
		t.Fatal(err)
	}
	first := getFeed(t, h, "", "rs")
	if first.code != 200 || len(first.ans.Entries) != feedPageSize || !first.ans.More {
		t.Fatalf("first page: %d, %d entries, more=%v", first.code, len(first.ans.Entries), first.ans.More)
	}
	second := getFeed(t, h, "?since="+first.ans.Cursor, "rs")
	if second.code != 200 || len(second.ans.Entries) != 2 || second.ans.More {
		t.Fatalf("second page: %d, %+v", second.code, second.ans)
	}
	if e := second.ans.Entries[0]; e.Value != fmt.Sprint("j", feedPageSize) {
		t.Errorf("second page starts at %q", e.Value)
	}
	sub := second.ans.Entries[1]
	if sub.Kind != "sub" || sub.NotBefore != now.Truncate(time.Second).Unix()+2 {
		t.Errorf("subject entry %+v: not_before must round up", sub)
	}
	last := getFeed(t, h, "?since="+second.ans.Cursor, "rs")
	if last.code != 200 || len(last.ans.Entries) != 0 || last.ans.Cursor != second.ans.Cursor {
		t.Errorf("caught up: %+v", last.ans)
	}
}

// A held request is answered with the entry as soon as this node learns
// of it, whether it was written here or on another node.
func TestFeedLongPollWakes(t *testing.T) {
	st := openStore(t)
	nodeA := New(Config{Store: st, PollInterval: 20 * time.Millisecond})
	nodeB := New(Config{Store: st})
	go nodeA.Run(t.Context())
	h := nodeA.FeedHandler(basicAuth{}, allowRS)
	cursor := getFeed(t, h, "", "rs").ans.Cursor

	for _, tc := range []struct {
		name string
		node *List
	}{{"same node", nodeA}, {"other node", nodeB}} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan feedResult)
			go func() { done <- getFeed(t, h, "?wait=20&since="+cursor, "rs") }()
			time.Sleep(50 * time.Millisecond) // let the request start waiting
			if err := tc.node.Revoke(t.Context(), store.Revocation{Kind: store.RevokeJTI, Value: tc.name,
				ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			res := <-done
			// A held request that timed out would come back empty.
			if res.code != 200 || len(res.ans.Entries) != 1 || res.ans.Entries[0].Value != tc.name {
				t.Fatalf("held request: %d %+v", res.code, res.ans)
			}
			cursor = res.ans.Cursor
		})
	}
}

func TestFeedStoreOutageIs503(t *testing.T) {
	st := openStore(t)
	l := New(Config{Store: st})
	h := l.FeedHandler(basicAuth{}, allowRS)
	st.Close()
	if res := getFeed(t, h, "", "rs"); res.code != http.StatusServiceUnavailable || res.err != "temporarily_unavailable" {
		t.Errorf("store down: %d %q", res.code, res.err)
	}
}
