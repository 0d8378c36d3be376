package testsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// debianRedisServer is where Debian's redis-server package installs the
// server, used when none is on PATH.
const debianRedisServer = "/usr/bin/redis-server"

// RedisServer is a private redis-server for tests that must stop Redis,
// or restart it empty, without touching the shared test Redis. It keeps
// nothing on disk (no RDB snapshot, no AOF), so Start after Stop gives an
// empty Redis on the same address, as a production Redis without
// persistence comes back after a restart.
type RedisServer struct {
	// Addr is the server's host:port on loopback; it stays the same
	// across Stop and Start.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has been waited for
	runs int
}

// StartRedis starts a private redis-server (from PATH, else Debian's
// /usr/bin/redis-server) on a free loopback port in a temporary folder and
// stops it when the test ends. Without redis-server the test is skipped,
// or fails when CI is "true" or "1".
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat(debianRedisServer); serr != nil {
			unavailable(t, "no redis-server on PATH or at %s (install Debian's redis-server; ./scripts/test does)", debianRedisServer)
			return nil
		}
		bin = debianRedisServer
	}
	s := &RedisServer{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	// A free port can be taken between finding it and redis-server
	// binding it: try a few.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("testsvc: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("testsvc: start redis-server: %v", err)
	return nil
}

// Start starts the server again, empty, on the same address, and waits
// until it answers PING. It does nothing if the server is running.
func (s *RedisServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("testsvc: restart redis-server on %s: %v", s.Addr, err)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and waits until
// it has exited, so its port no longer answers. It does nothing if the
// server is not running.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exit:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	s.runs++
	logFile := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.runs))
	cmd := exec.CommandContext(context.Background(), s.bin, //nolint:gosec // G204: the test's own redis-server
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--logfile", logFile)
	cmd.Dir = s.dir
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pingRedis(s.Addr) == nil {
			s.cmd, s.exit = cmd, exit
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("redis-server exited at start: %s", tail(logFile))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server did not answer PING within 10 s: %s", tail(logFile))
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not a TCP address")
	}
	return addr.Port, nil
}

// tail returns the last lines of a log file, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the test's own log file
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-5):], []byte("\n")))
}
