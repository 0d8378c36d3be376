package revocation

import (
	"context"
	"fmt"
	"strconv"
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

// RedisKey returns the Redis key of an entry.
func RedisKey(kind, value string) string { return RedisKeyPrefix + kind + ":" + value }

// RedisMirror copies revocation entries to Redis, where resource servers
// can check them without asking Gatehouse. The SQL store stays the record:
// every node mirrors the entries it follows from the store's feed, so an
// entry one node failed to write is written again by the others.
type RedisMirror struct {
	client rueidis.Client
	now    func() time.Time
}

// NewRedisMirror connects to a redis:// or rediss:// URL.
func NewRedisMirror(url string, now func() time.Time) (*RedisMirror, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("revocation: redis URL: %w", err)
	}
	// The mirror only writes; client-side caching is for readers.
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("revocation: connect to redis: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &RedisMirror{client: c, now: now}, nil
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
	for _, res := range mergeScript.ExecMulti(ctx, m.client, execs...) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("revocation: mirror to redis: %w", err)
		}
	}
	return nil
}

// Ping reports whether Redis answers.
func (m *RedisMirror) Ping(ctx context.Context) error {
	return m.client.Do(ctx, m.client.B().Ping().Build()).Error()
}

// Close closes the connection.
func (m *RedisMirror) Close() { m.client.Close() }
