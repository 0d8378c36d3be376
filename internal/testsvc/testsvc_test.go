package testsvc

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

func TestPostgresSchema(t *testing.T) {
	var url, schema string
	t.Run("inner", func(t *testing.T) {
		url = PostgresSchema(t)
		db := mustOpen(t, url)
		defer db.Close()
		if err := db.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatalf("current_schema: %v", err)
		}
		if _, err := db.ExecContext(t.Context(), "CREATE TABLE probe (id INT)"); err != nil {
			t.Fatalf("create table in schema: %v", err)
		}
		var n int
		err := db.QueryRowContext(t.Context(),
			"SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'probe'", schema).Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("probe table in %s: count %d, %v; want 1", schema, n, err)
		}
	})
	if schema == "" {
		t.Fatal("inner test did not report its schema")
	}
	db := mustOpen(t, PostgresURL(t))
	defer db.Close()
	var exists bool
	err := db.QueryRowContext(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s still exists after its test ended", schema)
	}
}

func TestRedisAddr(t *testing.T) {
	if addr := RedisAddr(t); addr == "" {
		t.Fatal("RedisAddr returned an empty address")
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{
		{"", false},
		{"false", false},
		{"true", true},
		{"1", true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv(PostgresURLEnv, "postgres://postgres@127.0.0.1:1/test?sslmode=disable")
			t.Setenv(RedisAddrEnv, "127.0.0.1:1")
			for name, probe := range map[string]func(testing.TB) string{
				"PostgresURL": PostgresURL,
				"RedisAddr":   RedisAddr,
			} {
				f := &fakeTB{TB: t}
				if got := probe(f); got != "" {
					t.Errorf("%s = %q, want empty", name, got)
				}
				if f.failed != tc.wantFail || f.skipped == tc.wantFail {
					t.Errorf("%s: failed=%v skipped=%v, want failed=%v", name, f.failed, f.skipped, tc.wantFail)
				}
			}
		})
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s1&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s1"},
		{"host=h user=u dbname=db", "host=h user=u dbname=db search_path=s1"},
	} {
		got, err := withSearchPath(tc.in, "s1")
		if err != nil || got != tc.want {
			t.Errorf("withSearchPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got, want := redact("postgres://u:secret@h/db"), "postgres://u:xxxxx@h/db"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}

// fakeTB records Fatalf and Skipf instead of stopping the goroutine, so the
// skip-or-fail decision can be observed.
type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.TB.Logf("fake Fatalf: "+format, args...)
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = true
	f.TB.Logf("fake Skipf: "+format, args...)
}

func mustOpen(t *testing.T, url string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(fmt.Errorf("ping %s: %w", redact(url), err))
	}
	return db
}

// A private Redis stops (its port refuses connections) and starts again
// empty on the same address.
func TestStartRedis(t *testing.T) {
	s := StartRedis(t)
	if err := pingRedis(s.Addr); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	if got := redisCommand(s.Addr, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}
	s.Stop()
	if err := pingRedis(s.Addr); err == nil {
		t.Fatal("stopped server still answers")
	}
	s.Start()
	if got := redisCommand(s.Addr, "*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n"); got != ":0" {
		t.Fatalf("EXISTS k after restart = %s, want :0 (restarted empty)", got)
	}
}

// redisCommand sends one RESP command and returns the first reply line.
func redisCommand(addr, cmd string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return err.Error()
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(line)
}
