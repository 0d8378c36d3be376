// Package testsvc gives tests the real PostgreSQL and Redis services they
// need, or a clear skip when those are not running.
//
// Outside CI a missing service skips the test so `go test ./...` works on a
// bare machine; when CI is "true" or "1" it fails instead, so a
// misconfigured pipeline cannot pass by skipping everything.
package testsvc

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// Environment variables and defaults naming the test services.
const (
	// PostgresURLEnv names the variable holding the test database URL.
	PostgresURLEnv = "GHTEST_POSTGRES_URL"
	// DefaultPostgresURL is used when PostgresURLEnv is unset.
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	// RedisAddrEnv names the variable holding the test Redis host:port.
	RedisAddrEnv = "GHTEST_REDIS_ADDR"
	// DefaultRedisAddr is used when RedisAddrEnv is unset.
	DefaultRedisAddr = "127.0.0.1:6379"
)

// probeTimeout bounds each reachability check so a missing service costs a
// test two seconds, not a hang.
const probeTimeout = 2 * time.Second

// PostgresURL returns the URL of the test PostgreSQL database ($PostgresURLEnv
// or DefaultPostgresURL) after checking that it answers a ping.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresURLEnv)
	if u == "" {
		u = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	db, err := openPostgres(u)
	if err == nil {
		err = db.PingContext(ctx)
		_ = db.Close()
	}
	if err != nil {
		unavailable(t, "PostgreSQL at %s is not reachable: %v\n"+
			"Set %s to a reachable database URL, or start PostgreSQL on 127.0.0.1:5432 with a database "+
			"\"test\" that user postgres can use (for example: pg_ctlcluster 15 main start && createdb -U postgres test).",
			redact(u), err, PostgresURLEnv)
		return ""
	}
	return u
}

// PostgresSchema creates a fresh schema in the test database and returns a
// URL whose connections use it as their search_path, so a test can migrate
// and write without seeing any other test's tables. The schema and
// everything in it are dropped when the test ends; register cleanups that
// close connections using the URL after calling PostgresSchema, so that they
// run first.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	if base == "" {
		return "" // only reached with a fake testing.TB
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	schema := "gh_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()

	db, err := openPostgres(base)
	if err != nil {
		t.Fatalf("testsvc: %v", err)
	}
	// One connection is all the create and drop need.
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+ident); err != nil {
		_ = db.Close()
		t.Fatalf("testsvc: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// Not t.Context(): it is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("testsvc: drop schema %s: %v", schema, err)
		}
		_ = db.Close()
	})
	u, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("testsvc: %v", err)
	}
	return u
}

// RedisAddr returns the host:port of the test Redis server ($RedisAddrEnv or
// DefaultRedisAddr) after checking that it answers PING.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(RedisAddrEnv)
	if addr == "" {
		addr = DefaultRedisAddr
	}
	if err := pingRedis(addr); err != nil {
		unavailable(t, "Redis at %s is not usable: %v\n"+
			"Set %s to the host:port of a Redis server, or start one on %s (for example: redis-server --daemonize yes).",
			addr, err, RedisAddrEnv, DefaultRedisAddr)
		return ""
	}
	return addr
}

// pingRedis speaks just enough RESP to send PING and expect +PONG, which
// keeps a Redis client library out of every test binary that imports this
// package.
func pingRedis(addr string) error {
	d := net.Dialer{Timeout: probeTimeout}
	conn, err := d.DialContext(context.Background(), "tcp", addr) //nolint:gosec // G704: the test Redis address from the environment
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // a probe: nothing to do about a close error
	if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return fmt.Errorf("send PING: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read PING reply: %w", err)
	}
	if reply := strings.TrimRight(line, "\r\n"); reply != "+PONG" {
		return fmt.Errorf("unexpected PING reply %q", reply)
	}
	return nil
}

// unavailable skips the test, or fails it under CI.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
		t.Fatalf("testsvc: "+format, args...)
		return
	}
	t.Skipf("testsvc: "+format, args...)
}

// openPostgres parses first so that a malformed URL is reported as such
// rather than as an unreachable server.
func openPostgres(u string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

// withSearchPath adds search_path as a runtime parameter to a postgres://
// URL or to a key=value connection string.
func withSearchPath(conn, schema string) (string, error) {
	if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
		return conn + " search_path=" + schema, nil
	}
	u, err := url.Parse(conn)
	if err != nil {
		return "", fmt.Errorf("parse postgres URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact hides a password in a URL before it reaches test output.
func redact(conn string) string {
	u, err := url.Parse(conn)
	if err != nil || u.Scheme == "" {
		return "the configured address"
	}
	return u.Redacted()
}

// ChromiumEnv names the variable holding the Chromium binary for browser
// tests.
const ChromiumEnv = "GHTEST_CHROMIUM"

// Chromium returns the path of a Chromium binary ($GHTEST_CHROMIUM, else
// "chromium" on PATH), failing in CI and skipping elsewhere when there is
// none.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() { //nolint:gosec // G703: the tester's own $GHTEST_CHROMIUM
			return p
		}
		unavailable(t, "%s=%s is not a file; run ./scripts/test, which installs Debian's chromium", ChromiumEnv, p)
		return ""
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		unavailable(t, "no chromium on PATH (set %s or run ./scripts/test, which installs Debian's chromium)", ChromiumEnv)
		return ""
	}
	return p
}

// SQLite returns a migrated SQLite store in a temporary folder, closed when
// the test ends.
func SQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// RawCells runs query on db and returns the column names and every cell of
// every row as bytes (strings and numbers as their text), for tests that
// read a table straight from the database, below the store, to prove what
// it does not hold.
func RawCells(t testing.TB, db *sql.DB, query string) (cols []string, rows [][][]byte) {
	t.Helper()
	rs, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("testsvc: %s: %v", query, err)
	}
	defer func() { _ = rs.Close() }()
	if cols, err = rs.Columns(); err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([][]byte, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case []byte:
				row[i] = v
			case string:
				row[i] = []byte(v)
			default:
				row[i] = fmt.Append(nil, v)
			}
		}
		rows = append(rows, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, rows
}
