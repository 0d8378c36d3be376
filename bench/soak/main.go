// Command soak drives a steady mixed workload against a running Gatehouse
// for a long while and samples how big its database is, to show that
// storage stays flat once expired rows are collected (docs/operations.md,
// "Storage stays bounded"). bench/soak.sh starts a server with short
// lifetimes and runs it; start there.
//
// Each worker loops: sign in by the authorization code flow (new grant),
// refresh it -refreshes times, revoke it (RFC 7009) and start again; every
// loop also gets a client_credentials token and revokes it. Every -sample
// the database is measured: the SQLite file (its WAL apart), or the
// PostgreSQL schema's tables and indexes, and the row count of every table
// that grows with use. It prints a Markdown table of the samples and the
// database size at the end relative to the size after -settle.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL sizes
	_ "modernc.org/sqlite"             // SQLite row counts

	"github.com/gatehouse/gatehouse/bench/internal/authflow"
)

type config struct {
	url, webID, webSecret, ccID, ccSecret, redirect, user, password string
	sqlitePath, postgresURL                                         string
	duration, sample, settle                                        time.Duration
	workers, refreshes                                              int
}

var tables = []string{"revocations", "access_tokens", "grants", "refresh_tokens", "auth_codes", "sessions", "audit_events", "used_once"}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "issuer URL")
	flag.StringVar(&c.webID, "web-client-id", "bench-web", "authorization_code + refresh_token client (--skip-consent)")
	flag.StringVar(&c.webSecret, "web-client-secret", "", "its secret")
	flag.StringVar(&c.ccID, "cc-client-id", "bench-cc", "client_credentials client")
	flag.StringVar(&c.ccSecret, "cc-client-secret", "", "its secret")
	flag.StringVar(&c.redirect, "redirect-uri", "https://app.example/cb", "the web client's redirect URI")
	flag.StringVar(&c.user, "username", "alice", "user")
	flag.StringVar(&c.password, "password", "correct horse battery", "password")
	flag.StringVar(&c.sqlitePath, "sqlite", "", "the server's SQLite file (measure it)")
	flag.StringVar(&c.postgresURL, "postgres", "", "the server's PostgreSQL URL (measure it)")
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to run")
	flag.DurationVar(&c.sample, "sample", 30*time.Second, "time between samples")
	flag.DurationVar(&c.settle, "settle", 3*time.Minute, "time after which everything issued has had time to expire")
	flag.IntVar(&c.workers, "workers", 4, "concurrent workers")
	flag.IntVar(&c.refreshes, "refreshes", 20, "refreshes per grant")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if (c.sqlitePath == "") == (c.postgresURL == "") {
		return errors.New("give exactly one of -sqlite and -postgres")
	}
	driver, dsn := "sqlite", "file:"+c.sqlitePath+"?mode=ro&_pragma=busy_timeout(5000)"
	if c.postgresURL != "" {
		driver, dsn = "pgx", c.postgresURL
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	var ops, failures atomic.Int64
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() { worker(ctx, c, &ops, &failures) })
	}

	fmt.Printf("| elapsed | operations | failures | database size | WAL | rows (%s) |\n", strings.Join(tables, ", "))
	fmt.Println("|---:|---:|---:|---:|---:|---|")
	start := time.Now()
	var settled, last int64
	tick := time.NewTicker(c.sample)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		size, wal, err := dbSize(db, c)
		if err != nil {
			return err
		}
		rows, err := rowCounts(db)
		if err != nil {
			return err
		}
		elapsed := time.Since(start).Round(time.Second)
		walCell := "-"
		if c.sqlitePath != "" {
			walCell = fmt.Sprintf("%.2f MB", float64(wal)/(1<<20))
		}
		fmt.Printf("| %s | %d | %d | %.2f MB | %s | %s |\n", elapsed, ops.Load(), failures.Load(), float64(size)/(1<<20), walCell, rows)
		if settled == 0 && elapsed >= c.settle {
			settled = size
		}
		last = size
	}
	wg.Wait()
	if settled > 0 {
		fmt.Printf("\nsize at the end / size after %s: %.2f (%d operations, %d failures)\n", c.settle, float64(last)/float64(settled), ops.Load(), failures.Load())
	}
	if failures.Load() > 0 {
		return fmt.Errorf("%d operations failed", failures.Load())
	}
	return nil
}

// worker runs grant lifecycles until ctx ends.
func worker(ctx context.Context, c config, ops, failures *atomic.Int64) {
	client := &http.Client{Timeout: 30 * time.Second}
	flow, err := authflow.New(client.Transport, authflow.Config{Base: c.url, ClientID: c.webID, ClientSecret: c.webSecret,
		RedirectURI: c.redirect, Username: c.user, Password: c.password})
	if err != nil {
		failures.Add(1)
		return
	}
	fail := func(what string, err error) {
		if ctx.Err() == nil {
			failures.Add(1)
			fmt.Fprintf(os.Stderr, "soak: %s: %v\n", what, err)
		}
	}
	for ctx.Err() == nil {
		tok, err := flow.Grant()
		if err != nil {
			fail("sign-in", err)
			continue
		}
		ops.Add(1)
		rt := tok.RefreshToken
		for range c.refreshes {
			var out struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := post(ctx, client, c.url+"/oauth/token", c.webID, c.webSecret,
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, &out); err != nil {
				fail("refresh", err)
				break
			}
			ops.Add(1)
			rt = out.RefreshToken
		}
		if err := post(ctx, client, c.url+"/oauth/revoke", c.webID, c.webSecret, url.Values{"token": {rt}}, nil); err != nil {
			fail("revoke refresh token", err)
		}
		var cc struct {
			AccessToken string `json:"access_token"`
		}
		if err := post(ctx, client, c.url+"/oauth/token", c.ccID, c.ccSecret, url.Values{"grant_type": {"client_credentials"}}, &cc); err != nil {
			fail("client_credentials", err)
			continue
		}
		if err := post(ctx, client, c.url+"/oauth/revoke", c.ccID, c.ccSecret, url.Values{"token": {cc.AccessToken}}, nil); err != nil {
			fail("revoke access token", err)
		}
		ops.Add(3)
	}
}

// post sends a form with Basic credentials and decodes a 200 JSON answer
// into out (when not nil).
func post(ctx context.Context, client *http.Client, u, id, secret string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // the body is read; a close error changes nothing
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// dbSize is the SQLite database file and, apart, its WAL (which the
// server's checkpointer bounds and truncates: it swings between
// checkpoints and says nothing of growth), or the PostgreSQL schema's
// tables with their indexes and TOAST (wal 0).
func dbSize(db *sql.DB, c config) (size, wal int64, err error) {
	if c.sqlitePath != "" {
		if fi, err := os.Stat(c.sqlitePath); err == nil {
			size = fi.Size()
		}
		if fi, err := os.Stat(c.sqlitePath + "-wal"); err == nil {
			wal = fi.Size()
		}
		return size, wal, nil
	}
	var n sql.NullInt64
	err = db.QueryRowContext(context.Background(), `SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = current_schema() AND c.relkind = 'r'`).Scan(&n)
	return n.Int64, 0, err
}

// rowCounts is the row count of every growing table, in tables' order.
func rowCounts(db *sql.DB) (string, error) {
	counts := make([]string, 0, len(tables))
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return "", fmt.Errorf("count %s: %w", t, err)
		}
		counts = append(counts, fmt.Sprint(n))
	}
	return strings.Join(counts, " / "), nil
}
