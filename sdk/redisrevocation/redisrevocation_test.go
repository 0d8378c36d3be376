package redisrevocation

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/sdk"
)

// redisAddr finds the test Redis the way Gatehouse's own tests do
// (GHTEST_REDIS_ADDR, else 127.0.0.1:6379). Unreachable, it fails the test
// when CI is set or when GHTEST_REDIS_ADDR names it (the test command
// starts Redis and sets it), so a run of the test command never passes
// without these tests; only a bare `go test` on a machine without Redis
// skips them. It marks the Redis synced (SyncedKey), as a Gatehouse node
// does after copying its list, so that checks read the entries.
func redisAddr(t testing.TB) string {
	t.Helper()
	addr, named := os.LookupEnv("GHTEST_REDIS_ADDR")
	if addr == "" {
		addr, named = "127.0.0.1:6379", false
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if ci := os.Getenv("CI"); ci == "true" || ci == "1" || named {
			t.Fatalf("Redis at %s is not reachable: %v", addr, err)
		}
		t.Skipf("Redis at %s is not reachable: %v (set GHTEST_REDIS_ADDR)", addr, err)
	}
	c.Close()
	markSynced(t, addr)
	return addr
}

// markSynced sets SyncedKey in the Redis at addr.
func markSynced(t testing.TB, addr string) {
	t.Helper()
	w, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Do(context.Background(), w.B().Set().Key(SyncedKey).Value("1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

// proxy forwards TCP to Redis, counts the GET commands clients send, and
// can be cut to simulate losing Redis.
type proxy struct {
	ln   net.Listener
	gets atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

var getCmd = []byte("$3\r\nGET\r\n")

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.gets.Add(int64(bytes.Count(bytes.ToUpper(buf[:n]), getCmd)))
						if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						up.Close()
						return
					}
				}
			}()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cut closes the listener and every connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func newChecker(t testing.TB, addr string) *Checker {
	t.Helper()
	c, err := Dial("redis://" + addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// writer is what Gatehouse's mirror does: SET with an expiry.
func writer(t testing.TB, addr string) func(kind, value, val string) {
	t.Helper()
	w, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return func(kind, value, val string) {
		key := KeyPrefix + kind + ":" + value
		if err := w.Do(context.Background(), w.B().Set().Key(key).Value(val).Ex(time.Minute).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: did not happen", what)
}

func revoked(t *testing.T, c *Checker, cl *sdk.Claims) bool {
	t.Helper()
	r, err := c.Revoked(t.Context(), cl)
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	return r
}

// REV-01 with Redis: entries written by another client (Gatehouse) revoke
// by jti, sid and subject not-before, and reach a checker whose answers
// are cached, because Redis invalidates them.
func TestCheckerREV01(t *testing.T) {
	addr := redisAddr(t)
	c := newChecker(t, addr)
	set := writer(t, addr)
	now := time.Now().Truncate(time.Second)
	id := rand.Text()
	for _, tc := range []struct {
		name   string
		claims sdk.Claims
		revoke func()
	}{
		{"jti", sdk.Claims{ID: "jti-" + id, Subject: "u-" + id, IssuedAt: now},
			func() { set(sdk.RevokeJTI, "jti-"+id, "1") }},
		{"sid", sdk.Claims{ID: "j2-" + id, SID: "sid-" + id, Subject: "u-" + id, IssuedAt: now},
			func() { set(sdk.RevokeSession, "sid-"+id, "1") }},
		{"sub", sdk.Claims{ID: "j3-" + id, Subject: "sub-" + id, IssuedAt: now},
			func() { set(sdk.RevokeSubject, "sub-"+id, strconv.FormatInt(now.Unix()+1, 10)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if revoked(t, c, &tc.claims) {
				t.Fatal("revoked before the entry exists")
			}
			revoked(t, c, &tc.claims) // now cached
			tc.revoke()
			eventually(t, "invalidation reaches the cache", func() bool { return revoked(t, c, &tc.claims) })
		})
	}
	// The not-before is exclusive: a token issued at it is not revoked,
	// and a token without iat is.
	later := sdk.Claims{ID: "j4-" + id, Subject: "sub-" + id, IssuedAt: now.Add(time.Second)}
	if revoked(t, c, &later) {
		t.Error("token issued at the not-before is revoked")
	}
	if noIat := (sdk.Claims{ID: "j5-" + id, Subject: "sub-" + id}); !revoked(t, c, &noIat) {
		t.Error("token without iat escapes a subject entry")
	}
	set(sdk.RevokeSubject, "bad-"+id, "yesterday")
	if _, err := c.Revoked(t.Context(), &sdk.Claims{ID: "j6-" + id, Subject: "bad-" + id, IssuedAt: now}); err == nil {
		t.Error("a corrupt subject entry was taken as not revoked")
	}
}

// Hot tokens are answered from the client-side cache: no GET reaches Redis
// after the first check.
func TestCheckerAnswersFromCache(t *testing.T) {
	p := newProxy(t, redisAddr(t))
	c := newChecker(t, p.addr())
	cl := &sdk.Claims{ID: rand.Text(), SID: rand.Text(), Subject: rand.Text(), IssuedAt: time.Now()}
	revoked(t, c, cl)
	before := p.gets.Load()
	if before != 5 {
		t.Fatalf("first check sent %d GETs, want 5 (synced, jti, sub, sid, synced again)", before)
	}
	for range 1000 {
		revoked(t, c, cl)
	}
	if n := p.gets.Load() - before; n != 0 {
		t.Errorf("1000 repeated checks sent %d GETs to Redis, want 0", n)
	}
}

// Losing Redis fails closed: the cache is dropped with the connection and
// checks return an error, never "not revoked".
func TestCheckerFailsClosedWithoutRedis(t *testing.T) {
	p := newProxy(t, redisAddr(t))
	c := newChecker(t, p.addr())
	cl := &sdk.Claims{ID: rand.Text(), Subject: rand.Text(), IssuedAt: time.Now()}
	revoked(t, c, cl)
	p.cut()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	eventually(t, "checks fail once Redis is gone", func() bool {
		r, err := c.Revoked(ctx, cl)
		if r {
			t.Fatal("reported revoked")
		}
		return err != nil
	})
}

func TestNewRequiresClient(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("New without a client: %v", err)
	}
}

// BenchmarkCheckerCached is a check answered from the client-side cache.
func BenchmarkCheckerCached(b *testing.B) {
	c := newChecker(b, redisAddr(b))
	cl := &sdk.Claims{ID: rand.Text(), SID: rand.Text(), Subject: rand.Text(), IssuedAt: time.Now()}
	ctx := context.Background()
	if _, err := c.Revoked(ctx, cl); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := c.Revoked(ctx, cl); r || err != nil {
			b.Fatal(r, err)
		}
	}
}
