package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FeedPath is where Gatehouse serves its revocation feed, under the issuer.
const FeedPath = "/oauth/revocations"

// Feed defaults.
const (
	// DefaultFeedWait is how long Gatehouse may hold a feed request open
	// when there is nothing new (long polling).
	DefaultFeedWait = 5 * time.Second
	// DefaultFeedStaleAfter is how long a FeedChecker answers from its copy
	// without hearing from Gatehouse before it fails closed.
	DefaultFeedStaleAfter = 15 * time.Second
	// maxFeedBody bounds one feed page (Gatehouse sends at most 1000
	// entries, well under 1 MiB).
	maxFeedBody = 4 << 20
)

// FeedConfig configures a FeedChecker.
type FeedConfig struct {
	// Issuer is the Gatehouse issuer URL; the feed is Issuer + FeedPath.
	Issuer string
	// ClientID and ClientSecret are the credentials of a confidential
	// client registered with Gatehouse (the resource server's own client,
	// as for introspection) whose roles grant "revocations:read", sent
	// with HTTP Basic (RFC 6749 §2.3.1).
	ClientID     string
	ClientSecret string
	// HTTPClient makes the requests; nil means http.DefaultClient. Each
	// request is bounded by Wait plus 10 s.
	HTTPClient *http.Client
	// Wait is how long Gatehouse may hold a request when nothing is new;
	// zero means DefaultFeedWait. It is rounded down to whole seconds (at
	// least one) and must be shorter than StaleAfter.
	Wait time.Duration
	// StaleAfter is how long the checker answers from its copy without a
	// successful answer from Gatehouse; past it, Revoked fails with
	// ErrRevocationUnavailable for tokens its copy does not cover (fail
	// closed). Zero means DefaultFeedStaleAfter. It bounds how long an
	// outage of the feed can hide a revocation.
	StaleAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// FeedChecker is a RevocationChecker that keeps an in-memory copy of
// Gatehouse's revocation list by following its feed (GET FeedPath with a
// cursor, long-polled). A revocation made on any Gatehouse node reaches the
// copy within about half a second; checks never leave the process. It
// suits deployments without Redis. Close stops it.
type FeedChecker struct {
	cfg    FeedConfig
	url    string
	client *http.Client
	set    *revocationSet
	cursor string
	// lastSync is when Gatehouse last answered (Unix nanoseconds); checks
	// compare it to StaleAfter.
	lastSync atomic.Int64

	stop context.CancelFunc
	done chan struct{}
}

var _ RevocationChecker = (*FeedChecker)(nil)

// NewFeedChecker loads the whole revocation list from Gatehouse, then
// follows the feed in the background until Close. It fails if the first
// load fails (bad credentials: an error naming invalid_client).
func NewFeedChecker(ctx context.Context, cfg FeedConfig) (*FeedChecker, error) {
	switch {
	case cfg.Issuer == "":
		return nil, fmt.Errorf("%w: FeedConfig.Issuer is required", ErrInvalidConfig)
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, fmt.Errorf("%w: FeedConfig.ClientID and ClientSecret are required", ErrInvalidConfig)
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: FeedConfig.Issuer must be an absolute https URL", ErrInvalidConfig)
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultFeedWait
	}
	cfg.Wait = max(cfg.Wait.Truncate(time.Second), time.Second)
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultFeedStaleAfter
	}
	if cfg.StaleAfter <= cfg.Wait {
		return nil, fmt.Errorf("%w: FeedConfig.StaleAfter (%v) must exceed Wait (%v)", ErrInvalidConfig, cfg.StaleAfter, cfg.Wait)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &FeedChecker{
		cfg:    cfg,
		url:    strings.TrimSuffix(cfg.Issuer, "/") + FeedPath,
		client: cfg.HTTPClient,
		set:    newRevocationSet(),
		done:   make(chan struct{}),
	}
	if f.client == nil {
		f.client = http.DefaultClient
	}
	for more := true; more; {
		if more, err = f.poll(ctx, 0); err != nil {
			return nil, err
		}
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stop = stop
	go f.run(runCtx)
	return f, nil
}

// Revoked implements RevocationChecker from memory. It returns
// ErrRevocationUnavailable when the copy is stale and does not cover c.
func (f *FeedChecker) Revoked(_ context.Context, c *Claims) (bool, error) {
	now := f.cfg.Now()
	if f.set.revoked(c, now) {
		return true, nil
	}
	if now.UnixNano()-f.lastSync.Load() > int64(f.cfg.StaleAfter) {
		return false, errFeedStale
	}
	return false, nil
}

var errFeedStale = fmt.Errorf("%w: revocation feed is stale", ErrRevocationUnavailable)

// Close stops following the feed; later checks fail once the copy is
// stale.
func (f *FeedChecker) Close() {
	f.stop()
	<-f.done
}

// run follows the feed until ctx ends, retrying failures with a capped
// backoff and dropping expired entries once a minute.
func (f *FeedChecker) run(ctx context.Context) {
	defer close(f.done)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	lastPrune := f.cfg.Now()
	for ctx.Err() == nil {
		// A full page (more) is followed by the next request at once: the
		// server answers without waiting while entries remain.
		if _, err := f.poll(ctx, f.cfg.Wait); err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		if now := f.cfg.Now(); now.Sub(lastPrune) > time.Minute {
			f.set.prune(now)
			lastPrune = now
		}
	}
}

// feedPage is the wire form of one feed answer.
type feedPage struct {
	Cursor  string `json:"cursor"`
	More    bool   `json:"more"`
	Entries []struct {
		Kind      string `json:"kind"`
		Value     string `json:"value"`
		NotBefore int64  `json:"not_before"`
		ExpiresAt int64  `json:"expires_at"`
	} `json:"entries"`
}

// poll asks for the entries after the cursor, letting Gatehouse hold the
// request up to wait, and applies them. more reports a full page.
func (f *FeedChecker) poll(ctx context.Context, wait time.Duration) (more bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	q := url.Values{}
	if f.cursor != "" {
		q.Set("since", f.cursor)
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait/time.Second)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"?"+q.Encode(), nil)
	if err != nil {
		return false, err
	}
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("sdk: revocation feed: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // the body is read; a close error changes nothing
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedBody+1))
	if err != nil {
		return false, fmt.Errorf("sdk: revocation feed: %w", err)
	}
	if len(body) > maxFeedBody {
		return false, errors.New("sdk: revocation feed: page too large")
	}
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &oe)
		return false, fmt.Errorf("sdk: revocation feed: %s %s", resp.Status, oe.Error)
	}
	var p feedPage
	if err := json.Unmarshal(body, &p); err != nil {
		return false, fmt.Errorf("sdk: revocation feed: %w", err)
	}
	if p.Cursor == "" {
		return false, errors.New("sdk: revocation feed: no cursor")
	}
	es := make([]RevocationEntry, 0, len(p.Entries))
	for _, e := range p.Entries {
		es = append(es, RevocationEntry{Kind: e.Kind, Value: e.Value,
			NotBefore: time.Unix(e.NotBefore, 0), ExpiresAt: time.Unix(e.ExpiresAt, 0)})
	}
	f.set.add(es)
	f.cursor = p.Cursor
	if !p.More {
		f.lastSync.Store(f.cfg.Now().UnixNano())
	}
	return p.More, nil
}
