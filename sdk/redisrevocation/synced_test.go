package redisrevocation

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/sdk"
)

// redisServer is a private redis-server without persistence that a test
// can stop and start again, empty, on the same address. (The SDK is its
// own module and cannot use Gatehouse's internal/testsvc.)
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	exit chan struct{}
}

// startRedisServer starts redis-server (PATH, else Debian's
// /usr/bin/redis-server) on a free loopback port. Without it the test
// skips, or fails when CI is "true" or "1".
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr != nil {
			if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
				t.Fatal("no redis-server (install Debian's redis-server; ./scripts/test does)")
			}
			t.Skip("no redis-server (install Debian's redis-server; ./scripts/test does)")
		}
		bin = "/usr/bin/redis-server"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &redisServer{t: t, bin: bin, dir: t.TempDir(), addr: addr}
	t.Cleanup(s.stop)
	s.start()
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--logfile", s.dir+"/redis.log")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) { cmd.Wait(); close(exit) }(s.cmd, s.exit)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not start", s.addr)
		}
	}
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exit:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
}

// A Redis without SyncedKey (restarted empty, flushed, or never synced)
// fails every check with ErrNotSynced, an sdk.ErrRevocationUnavailable,
// rather than answering "not revoked" from the entries it lost; once the
// key is written the checks read the entries again, and Redis's
// invalidation reaches cached answers.
func TestCheckerFailsClosedUntilSynced(t *testing.T) {
	rs := startRedisServer(t)
	c := newChecker(t, rs.addr)
	w, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	do := func(cmd rueidis.Completed) {
		t.Helper()
		if err := w.Do(t.Context(), cmd).Error(); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	revokedTok := &sdk.Claims{ID: "revoked", SID: "s1", Subject: "alice", IssuedAt: now}
	liveTok := &sdk.Claims{ID: "live", SID: "s2", Subject: "bob", IssuedAt: now}
	notSynced := func(cl *sdk.Claims) bool {
		t.Helper()
		r, err := c.Revoked(t.Context(), cl)
		if err == nil && !r {
			t.Fatalf("token %s: not revoked, from a Redis that is not synced", cl.ID)
		}
		return errors.Is(err, ErrNotSynced) && errors.Is(err, sdk.ErrRevocationUnavailable)
	}

	// Entries without the mark: not trusted.
	do(w.B().Set().Key(KeyPrefix + sdk.RevokeJTI + ":revoked").Value("1").Ex(time.Hour).Build())
	for _, cl := range []*sdk.Claims{revokedTok, liveTok} {
		if !notSynced(cl) {
			t.Fatalf("token %s: want ErrNotSynced", cl.ID)
		}
	}
	// Marked: the cached "missing" mark is invalidated and checks answer.
	do(w.B().Set().Key(SyncedKey).Value("1").Build())
	eventually(t, "checks answer once Redis is marked synced", func() bool {
		r, err := c.Revoked(t.Context(), liveTok)
		return err == nil && !r
	})
	if !revoked(t, c, revokedTok) {
		t.Fatal("revoked token not revoked")
	}

	// FLUSHALL: the invalidation drops the cached mark and entries. (Until
	// it arrives, the live token's cached answers stand, as they would
	// after any change.)
	do(w.B().Flushall().Build())
	eventually(t, "checks fail closed after FLUSHALL", func() bool {
		_, err := c.Revoked(t.Context(), liveTok)
		return errors.Is(err, ErrNotSynced)
	})
	if !notSynced(revokedTok) {
		t.Fatal("revoked token after FLUSHALL: want ErrNotSynced")
	}

	// Restarted empty: every check fails until the mark is back.
	do(w.B().Set().Key(KeyPrefix + sdk.RevokeJTI + ":revoked").Value("1").Ex(time.Hour).Build())
	do(w.B().Set().Key(SyncedKey).Value("1").Build())
	eventually(t, "checks answer once marked again", func() bool {
		r, err := c.Revoked(t.Context(), revokedTok)
		return err == nil && r
	})
	rs.stop()
	rs.start()
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		r, err := c.Revoked(ctx, revokedTok)
		cancel()
		if err == nil && !r {
			t.Fatal("a token revoked before Redis restarted empty is not revoked after it")
		}
	}
	if !notSynced(revokedTok) {
		t.Fatal("after a restart: want ErrNotSynced")
	}
}

// Checks racing a FLUSHALL never answer "not revoked" for a token revoked
// before it: a check that read the mark from the cache just before the
// flush's invalidation arrived, and then an entry from the emptied Redis,
// must see the mark gone (each round checks tokens first seen after the
// mark was cached, so their entries come from Redis).
func TestCheckerNeverFailsOpenOnFlush(t *testing.T) {
	rs := startRedisServer(t)
	c := newChecker(t, rs.addr)
	w, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const perRound = 2000
	for round := range 10 {
		cmds := make(rueidis.Commands, 0, perRound+1)
		claims := make([]*sdk.Claims, 0, perRound)
		for i := range perRound {
			id := "r" + strconv.Itoa(round) + "-" + strconv.Itoa(i)
			cmds = append(cmds, w.B().Set().Key(KeyPrefix+sdk.RevokeJTI+":"+id).Value("1").Ex(time.Hour).Build())
			claims = append(claims, &sdk.Claims{ID: id, Subject: "u", IssuedAt: time.Now()})
		}
		cmds = append(cmds, w.B().Set().Key(SyncedKey).Value("1").Build())
		for _, res := range w.DoMulti(t.Context(), cmds...) {
			if err := res.Error(); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the mark is read as set", func() bool {
			_, err := c.Revoked(t.Context(), claims[0])
			return err == nil
		})
		flushed := make(chan error, 1)
		go func() {
			time.Sleep(time.Duration(round) * time.Millisecond)
			flushed <- w.Do(context.Background(), w.B().Flushall().Build()).Error()
		}()
		for _, cl := range claims[1:] {
			r, err := c.Revoked(t.Context(), cl)
			if err == nil && !r {
				t.Fatalf("round %d: token %s revoked before a FLUSHALL is not revoked during it", round, cl.ID)
			}
		}
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
	}
}
