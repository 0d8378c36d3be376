package revocation

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/internal/store"
)

// RedisKeyPrefix starts every key the mirror writes. Resource servers
// (the SDK's Redis checker) read "gh:rev:jti:<jti>", "gh:rev:sid:<sid>" and
// "gh:rev:sub:<sub>"; the value of a sub key is the not-before time in Unix
// seconds (tokens with an earlier "iat" are revoked), the others hold "1".
// Every key expires with its entry.
const RedisKeyPrefix = "gh:rev:"

// RedisSyncedKey marks Redis as holding every live entry. A node writes it
// (without expiry) after copying its whole list, and only if Redis lost
// nothing during the copy. A Redis that restarted empty or was flushed
// lacks it, so resource servers (the SDK's Redis checker) fail closed
// until a node has copied the list back, rather than taking a missing
// entry for "not revoked".
const RedisSyncedKey = RedisKeyPrefix + "synced"

// redisCopyingKey holds the token of the complete copy in progress: the
// copy marks Redis synced only if its token is still there at the end,
// which it is not if Redis lost its data meanwhile.
const redisCopyingKey = RedisKeyPrefix + "copying"

// RedisKey returns the Redis key of an entry.
func RedisKey(kind, value string) string { return RedisKeyPrefix + kind + ":" + value }

// Connection attempts while Redis is unreachable at start back off from
// dialMinBackoff, doubling, to dialMaxBackoff. Once connected, the client
// reconnects by itself on the next command.
const (
	dialMinBackoff = 500 * time.Millisecond
	dialMaxBackoff = 8 * time.Second
)

// Errors of a mirror without a connection.
var (
	errNotConnected = errors.New("revocation: not connected to redis yet")
	errMirrorClosed = errors.New("revocation: redis mirror closed")
)

// RedisMirror copies revocation entries to Redis, where resource servers
// can check them without asking Gatehouse. The SQL store stays the record:
// every node mirrors the entries it follows from the store's feed, so an
// entry one node failed to write is written again by the others, and a
// List copies all its entries again whenever Redis may have lost some
// (see List.Follow).
//
// A RedisMirror does not need Redis to exist: built while Redis is down,
// it connects on a later call, with backoff.
type RedisMirror struct {
	opt rueidis.ClientOption
	now func() time.Time

	mu       sync.Mutex
	client   rueidis.Client // nil until connected
	dialing  bool
	closed   bool
	backoff  time.Duration
	nextDial time.Time
}

// NewRedisMirror returns a mirror for a redis:// or rediss:// URL. It
// connects at once if Redis answers; otherwise later calls connect (the
// error is only for a bad URL).
func NewRedisMirror(url string, now func() time.Time) (*RedisMirror, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("revocation: redis URL: %w", err)
	}
	// The mirror only writes; client-side caching is for readers.
	opt.DisableCache = true
	// rueidis retries some commands (SCRIPT LOAD among them) on network
	// errors until the context ends: a Redis that refuses connections
	// would then hold every call for its whole timeout. The List's
	// mirror loop does the retrying, with a complete copy.
	opt.DisableRetry = true
	if now == nil {
		now = time.Now
	}
	m := &RedisMirror{opt: opt, now: now}
	_, _ = m.conn() // unreachable now: the List's mirror loop connects later
	return m, nil
}

// conn returns the client, dialling when there is none and the backoff
// allows. rueidis dials at NewClient, so a Redis that is down when the
// node starts has to be dialled again here.
func (m *RedisMirror) conn() (rueidis.Client, error) {
	m.mu.Lock()
	c, closed, wait := m.client, m.closed, m.dialing || m.now().Before(m.nextDial)
	if c == nil && !closed && !wait {
		m.dialing = true
	}
	m.mu.Unlock()
	switch {
	case c != nil:
		return c, nil
	case closed:
		return nil, errMirrorClosed
	case wait:
		return nil, errNotConnected
	}

	// Dial without the lock, so Ping (readiness) never waits for a dial.
	c, err := rueidis.NewClient(m.opt)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dialing = false
	switch {
	case err != nil:
		m.backoff = min(max(2*m.backoff, dialMinBackoff), dialMaxBackoff)
		m.nextDial = m.now().Add(m.backoff)
		return nil, fmt.Errorf("revocation: connect to redis: %w", err)
	case m.closed:
		c.Close()
		return nil, errMirrorClosed
	}
	m.client, m.backoff = c, 0
	return c, nil
}

// mergeScript writes one entry without ever moving it back: nodes mirror
// what they follow, so a lagging node may write an older version of an
// entry after a newer one. The later not-before (a sub key's value) and
// the later expiry win. KEYS[1] is the key, ARGV[1] its value, ARGV[2]
// its expiry in Unix milliseconds.
var mergeScript = rueidis.NewLuaScript(`
local v = ARGV[1]
local cur = redis.call('GET', KEYS[1])
if cur then
  local c, n = tonumber(cur), tonumber(v)
  if c and n and c > n then v = cur end
end
local at = tonumber(ARGV[2])
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then
  local t = redis.call('TIME')
  local left = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + pttl
  if left > at then at = left end
end
redis.call('SET', KEYS[1], v, 'PXAT', at)
return 1
`)

// Put writes entries with their expiry, never replacing a later
// not-before or expiry already there; entries already expired are
// skipped.
func (m *RedisMirror) Put(ctx context.Context, rs []store.Revocation) error {
	now := m.now()
	execs := make([]rueidis.LuaExec, 0, len(rs))
	for _, r := range rs {
		if !r.ExpiresAt.After(now) {
			continue
		}
		val := "1"
		if r.Kind == store.RevokeSubject {
			val = strconv.FormatInt(r.NotBefore.Unix(), 10)
		}
		execs = append(execs, rueidis.LuaExec{Keys: []string{RedisKey(r.Kind, r.Value)},
			Args: []string{val, strconv.FormatInt(r.ExpiresAt.UnixMilli(), 10)}})
	}
	if len(execs) == 0 {
		return nil
	}
	c, err := m.conn()
	if err != nil {
		return err
	}
	for _, res := range mergeScript.ExecMulti(ctx, c, execs...) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("revocation: mirror to redis: %w", err)
		}
	}
	return nil
}

// Status reports whether Redis is marked synced, and which Redis process
// answers (its run_id), so that a restart is noticed even when the marker
// came back with it from a snapshot that lacks the latest entries.
func (m *RedisMirror) Status(ctx context.Context) (MirrorStatus, error) {
	c, err := m.conn()
	if err != nil {
		return MirrorStatus{}, err
	}
	res := c.DoMulti(ctx, c.B().Get().Key(RedisSyncedKey).Build(), c.B().Info().Section("server").Build())
	var st MirrorStatus
	switch _, err := res[0].ToString(); {
	case err == nil:
		st.Synced = true
	case !rueidis.IsRedisNil(err):
		return MirrorStatus{}, fmt.Errorf("revocation: read redis marker: %w", err)
	}
	info, err := res[1].ToString()
	if err != nil {
		if _, refused := rueidis.IsRedisErr(err); refused {
			// INFO renamed or denied by an ACL: restarts are then seen
			// only as a missing marker.
			return st, nil
		}
		return MirrorStatus{}, fmt.Errorf("revocation: read redis run_id: %w", err)
	}
	st.Instance = runID(info)
	return st, nil
}

// runID returns the run_id field of an INFO answer, "" without one.
func runID(info string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "run_id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// BeginCopy starts a complete copy and returns its token for EndCopy.
func (m *RedisMirror) BeginCopy(ctx context.Context) (string, error) {
	c, err := m.conn()
	if err != nil {
		return "", err
	}
	token := rand.Text()
	if err := c.Do(ctx, c.B().Set().Key(redisCopyingKey).Value(token).Build()).Error(); err != nil {
		return "", fmt.Errorf("revocation: begin copy to redis: %w", err)
	}
	return token, nil
}

// endCopyScript marks Redis synced if the copy's token (ARGV[1]) is still
// in KEYS[1]; KEYS[2] is the marker.
var endCopyScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1')
return 1
`)

// EndCopy marks Redis synced after a complete copy begun with BeginCopy,
// unless Redis lost the copy's token meanwhile (a restart or flush that
// may have lost entries too) or another copy began since (which marks it
// when it ends). It reports whether it marked.
func (m *RedisMirror) EndCopy(ctx context.Context, token string) (bool, error) {
	c, err := m.conn()
	if err != nil {
		return false, err
	}
	n, err := endCopyScript.Exec(ctx, c, []string{redisCopyingKey, RedisSyncedKey}, []string{token}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("revocation: end copy to redis: %w", err)
	}
	return n == 1, nil
}

// Ping reports whether Redis answers. It never dials: until the mirror
// has connected it reports errNotConnected.
func (m *RedisMirror) Ping(ctx context.Context) error {
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c == nil {
		return errNotConnected
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("revocation: ping redis: %w", err)
	}
	return nil
}

// Close closes the connection.
func (m *RedisMirror) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.client != nil {
		m.client.Close()
		m.client = nil
	}
}

var _ Mirror = (*RedisMirror)(nil)
