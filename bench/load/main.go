// Command load is Gatehouse's HTTP load harness: it loads one endpoint of a
// running server over loopback and prints one result line.
//
//	go run ./bench/load -h
//	go run ./bench/load -url http://127.0.0.1:8080 -scenario cc \
//	    -client-id bench-cc -client-secret SECRET -pid $(pgrep -n gatehouse)
//
// bench/run.sh builds the server and this harness, registers the bench
// clients and user, and runs every scenario in one go; start there.
//
// # What it measures
//
// Each of -concurrency workers owns a keep-alive HTTP/1.1 connection and
// sends one request of -scenario at a time:
//
//	cc            POST /oauth/token grant_type=client_credentials (client_secret_basic)
//	refresh       POST /oauth/token grant_type=refresh_token; every worker first gets its
//	              own grant through the authorization code flow (login page, PKCE S256)
//	              and then always presents the newest refresh token (rotation)
//	introspect    POST /oauth/introspect token=<one of -tokens client_credentials access
//	              tokens, fetched before the run; the workers cycle through all of them>
//	discovery     GET /.well-known/openid-configuration
//	jwks          GET /.well-known/jwks.json
//	ceiling-sign  the cc request against a minimal net/http server that only signs
//	              the same kind of ES256 RFC 9068 JWT (golang-jwt) and writes a token
//	              response: the ceiling for the client_credentials endpoint. The
//	              harness starts it as a separate process (it re-executes itself), so
//	              its CPU and memory are measured apart from the load generator's.
//
// Closed loop (the default) measures peak throughput: a worker sends its next
// request as soon as the previous answer is read, so at saturation the
// latencies are mostly queueing. With -rate R the load is open loop: requests
// are scheduled at exactly R per second and each latency runs from the
// scheduled send time, not the actual one, so a stalled server cannot hide
// its stall by slowing the generator down (coordinated omission). Run it at
// half the closed-loop peak to get DESIGN §8's "p99 at half the peak rate".
// late= counts scheduled sends that started more than 1 ms late: if it is a
// sizeable share of n, the generator (or -concurrency) was the limit.
//
// The first -warmup of every run is not measured (connections, caches);
// errors are counted over the whole run.
//
// # Reading the result line
//
//	scenario=cc req/s=9876.5 p50=2.61ms p90=4.02ms p99=7.80ms max=21.3ms n=98765 errors=0
//	    server_cpu=1.12 client_cpu=0.85 rss_mb=24.3 rss_max_mb=26.0 hwm_mb=31.2
//
// req/s is measured requests over -duration. p50/p90/p99/max are over every
// measured latency (per-worker slices, merged and sorted; nothing is
// sampled). errors counts transport failures, non-2xx answers and 2xx answers
// that do not do the job (no access_token; introspection not active; no
// rotated refresh_token); it must be 0, and each kind is listed with a body
// sample on stderr (the exit status is then 3). With -pid (automatic for
// ceiling-sign) it reads the server's /proc/PID: server_cpu and client_cpu
// are CPU cores used by the server and by this harness during the measured
// window (on a 2-core machine a client_cpu near 1 means that the generator
// competes with the server for CPU: compare ratios within one run, never
// absolute numbers across machines); rss_mb is VmRSS at the end, rss_max_mb
// the largest VmRSS sampled every 50 ms while measuring, and hwm_mb VmHWM, the
// process's peak resident memory since it started (so it includes earlier
// runs and, after refresh, the memory-hard password hash of the login).
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/authflow"
)

type config struct {
	url         string
	scenario    string
	label       string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	tokens      int
	rate        float64
	pid         int
	timeout     time.Duration

	clientID, clientSecret, scope string

	webID, webSecret, redirectURI, username, password string
	refreshIDToken                                    bool

	ceilingCPUs string
}

var scenarios = []string{"cc", "refresh", "introspect", "discovery", "jwks", "ceiling-sign", "ceiling-static"}

func main() {
	// The ceiling server is this same binary, re-executed by the parent with
	// a flag that is deliberately not registered (and so not in -h).
	if len(os.Args) == 3 && (os.Args[1] == "-serve-ceiling" || os.Args[1] == "--serve-ceiling") {
		if err := serveCeiling(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}

	var c config
	fs := flag.CommandLine
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of the Gatehouse server (issuer)")
	fs.StringVar(&c.scenario, "scenario", "cc", "one of "+strings.Join(scenarios, " | "))
	fs.StringVar(&c.label, "label", "", "name printed as scenario= (default: the scenario)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up before -duration")
	fs.IntVar(&c.concurrency, "concurrency", 32, "workers = keep-alive connections")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: fixed total rate in req/s (0: closed loop, as fast as answers come)")
	fs.IntVar(&c.pid, "pid", 0, "server PID: CPU and memory from /proc/PID (ignored by ceiling-sign, which measures its own server)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&c.clientID, "client-id", "bench-cc", "client_credentials client (cc, introspect, ceiling-sign)")
	fs.StringVar(&c.clientSecret, "client-secret", "", "its secret")
	fs.IntVar(&c.tokens, "tokens", 5000, "introspect: distinct access tokens to cycle through")
	fs.StringVar(&c.scope, "scope", "", "scope parameter of the client_credentials request (empty: client's default)")
	fs.StringVar(&c.webID, "web-client-id", "bench-web", "authorization_code + refresh_token client (refresh; register with --skip-consent)")
	fs.BoolVar(&c.refreshIDToken, "refresh-id-token", true, "refresh responses must carry an id_token (false: must not, for a client registered with --omit-refresh-id-token)")
	fs.StringVar(&c.webSecret, "web-client-secret", "", "its secret")
	fs.StringVar(&c.redirectURI, "redirect-uri", "https://app.example/cb", "its registered redirect URI")
	fs.StringVar(&c.username, "username", "alice", "user who signs in for the refresh grants")
	fs.StringVar(&c.password, "password", "correct horse battery", "that user's password")
	fs.StringVar(&c.ceilingCPUs, "ceiling-cpus", "", "ceiling-sign: pin the ceiling server with taskset -c CPUS (e.g. 0; empty: not pinned)")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\nLoad one Gatehouse endpoint over loopback and print req/s, latency percentiles, errors and server memory.\n\n", os.Args[0])
		fs.PrintDefaults()
	}
	flag.Parse()
	if fs.NArg() > 0 {
		fatalf("unexpected arguments %q", fs.Args())
	}
	if !slices.Contains(scenarios, c.scenario) {
		fatalf("-scenario %q: want one of %s", c.scenario, strings.Join(scenarios, ", "))
	}
	if c.concurrency < 1 || c.tokens < 1 || c.duration <= 0 || c.warmup < 0 || c.rate < 0 {
		fatalf("-concurrency and -tokens must be >= 1, -duration > 0, -warmup and -rate >= 0")
	}
	if c.label == "" {
		c.label = c.scenario
	}
	c.url = strings.TrimRight(c.url, "/")

	res, err := run(c)
	if err != nil {
		fatalf("%s: %v", c.label, err)
	}
	fmt.Println(res.line())
	if res.errors > 0 {
		res.reportErrors(os.Stderr)
		os.Exit(3)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(1)
}

// ---------------------------------------------------------------------------
// Requests

// request is one prepared request of a scenario.
type request struct {
	method, url string
	auth        string // Authorization header value, or ""
	body        string // form body for POST
}

// outcome is one answer.
type outcome struct {
	status int
	body   []byte
	err    error
}

// worker is one closed- or open-loop sender with its own state.
type worker struct {
	h    *harness
	buf  bytes.Buffer
	lat  []time.Duration
	late int
	// next returns the request to send; check judges the answer ("" = ok)
	// and may update the worker's state (the refresh token).
	next  func() request
	check func(outcome) string
	rt    string // refresh scenario: the newest refresh token
}

func (w *worker) send(ctx context.Context, r request) outcome {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return outcome{err: err}
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := w.h.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(resp.Body)
	_ = resp.Body.Close() // the body is read; a close error changes nothing
	if err != nil {
		return outcome{status: resp.StatusCode, err: fmt.Errorf("reading body: %w", err)}
	}
	return outcome{status: resp.StatusCode, body: w.buf.Bytes()}
}

func basicAuth(id, secret string) string {
	// RFC 6749 §2.3.1: form-encode both parts before the Basic encoding.
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// ---------------------------------------------------------------------------
// Errors

type errKey struct {
	status int
	reason string
}

type errStats struct {
	mu     sync.Mutex
	counts map[errKey]int
	sample map[errKey]string
}

func (e *errStats) add(o outcome, reason string) {
	k := errKey{status: o.status, reason: reason}
	if o.err != nil {
		k.reason = o.err.Error()
		// Collapse per-connection details (ports) into one kind.
		var op *net.OpError
		if errors.As(o.err, &op) && op.Err != nil {
			k.reason = op.Op + ": " + op.Err.Error()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts, e.sample = map[errKey]int{}, map[errKey]string{}
	}
	if e.counts[k] == 0 {
		s := string(o.body)
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		e.sample[k] = s
	}
	e.counts[k]++
}

// ---------------------------------------------------------------------------
// The run

type harness struct {
	c      config
	client *http.Client
	errs   errStats
}

type result struct {
	label                  string
	n                      int
	errors                 int
	dur                    time.Duration
	lat                    []time.Duration
	late                   int
	rate                   float64
	serverCPU, clientCPU   float64
	rssMB, rssMaxMB, hwmMB float64
	hasProc                bool
	errs                   *errStats
}

func run(c config) (*result, error) {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * c.concurrency,
		MaxIdleConnsPerHost: 2 * c.concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	h := &harness{c: c, client: &http.Client{Transport: tr, Timeout: c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	base, pid := c.url, c.pid
	if c.scenario == "ceiling-sign" || c.scenario == "ceiling-static" {
		srv, err := startCeiling(c.ceilingCPUs)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		base, pid = srv.url, srv.pid
	}

	workers := make([]*worker, c.concurrency)
	for i := range workers {
		workers[i] = &worker{h: h, lat: make([]time.Duration, 0, 1<<14)}
	}
	if err := h.setup(base, workers); err != nil {
		return nil, err
	}
	// Preflight: one request per scenario must succeed before the load.
	o := workers[0].send(context.Background(), workers[0].next())
	if o.err != nil {
		return nil, fmt.Errorf("preflight request failed: %w", o.err)
	}
	if reason := workers[0].check(o); reason != "" {
		return nil, fmt.Errorf("preflight request failed (%s): status %d: %.300s", reason, o.status, o.body)
	}

	var sampler *procSampler
	if pid > 0 {
		var err error
		if sampler, err = newProcSampler(pid); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	from := start.Add(c.warmup)
	end := from.Add(c.duration)
	var sched atomic.Int64
	interval := 0.0
	if c.rate > 0 {
		interval = float64(time.Second) / c.rate
	}

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for {
				t0 := time.Now()
				if c.rate > 0 {
					k := sched.Add(1) - 1
					t0 = start.Add(time.Duration(float64(k) * interval))
					if d := time.Until(t0); d > 0 {
						time.Sleep(d)
					} else if d < -time.Millisecond {
						if !t0.Before(from) {
							w.late++
						}
					}
				}
				if !t0.Before(end) {
					return
				}
				o := w.send(ctx, w.next())
				lat := time.Since(t0)
				if reason := w.check(o); o.err != nil || reason != "" {
					h.errs.add(o, reason)
					continue
				}
				if !t0.Before(from) {
					w.lat = append(w.lat, lat)
				}
			}
		})
	}

	// Sample memory while measuring; CPU from the window's edges.
	var cpu0, cpu1 procCPU
	var self0, self1 time.Duration
	time.Sleep(time.Until(from))
	if sampler != nil {
		cpu0 = sampler.cpu()
	}
	self0 = selfCPU()
	if sampler != nil {
		tick := time.NewTicker(50 * time.Millisecond)
		for now := range tick.C {
			sampler.sampleRSS()
			if !now.Before(end) {
				break
			}
		}
		tick.Stop()
	} else {
		time.Sleep(time.Until(end))
	}
	if sampler != nil {
		cpu1 = sampler.cpu()
	}
	self1 = selfCPU()
	wg.Wait()

	r := &result{label: c.label, dur: c.duration, rate: c.rate, errs: &h.errs}
	for _, w := range workers {
		r.lat = append(r.lat, w.lat...)
		r.late += w.late
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	r.n = len(r.lat)
	for _, n := range h.errs.counts {
		r.errors += n
	}
	secs := c.duration.Seconds()
	r.clientCPU = (self1 - self0).Seconds() / secs
	if sampler != nil {
		r.hasProc = true
		r.serverCPU = cpu1.sub(cpu0).Seconds() / secs
		st := sampler.status()
		r.rssMB, r.hwmMB = st.rss, st.hwm
		r.rssMaxMB = max(sampler.rssMax, st.rss)
	}
	return r, nil
}

// setup prepares every worker's request and check for the scenario.
func (h *harness) setup(base string, ws []*worker) error {
	c := h.c
	ccBody := "grant_type=client_credentials"
	if c.scope != "" {
		ccBody += "&scope=" + url.QueryEscape(c.scope)
	}
	ccAuth := basicAuth(c.clientID, c.clientSecret)
	hasToken := func(o outcome) string {
		if o.status/100 != 2 {
			return "non-2xx"
		}
		if !bytes.Contains(o.body, []byte(`"access_token"`)) {
			return "2xx without access_token"
		}
		return ""
	}
	is2xx := func(o outcome) string {
		if o.status/100 != 2 {
			return "non-2xx"
		}
		return ""
	}
	needSecret := func() error {
		if c.clientSecret == "" {
			return errors.New("-client-secret is required")
		}
		return nil
	}

	switch c.scenario {
	case "cc", "ceiling-sign":
		if err := needSecret(); err != nil && c.scenario == "cc" {
			return err
		}
		r := request{method: http.MethodPost, url: base + "/oauth/token", auth: ccAuth, body: ccBody}
		for _, w := range ws {
			w.next, w.check = func() request { return r }, hasToken
		}
	case "discovery", "jwks", "ceiling-static":
		path := "/.well-known/openid-configuration"
		if c.scenario == "jwks" {
			path = "/.well-known/jwks.json"
		}
		r := request{method: http.MethodGet, url: base + path}
		for _, w := range ws {
			w.next, w.check = func() request { return r }, is2xx
		}
	case "introspect":
		if err := needSecret(); err != nil {
			return err
		}
		// -tokens distinct access tokens from the client that introspects,
		// fetched -concurrency at a time; each worker cycles through its
		// share, so the server sees many tokens, as in production, and not
		// one cached answer.
		bodies := make([]string, c.tokens)
		var (
			fetchErr  error
			fetchOnce sync.Once
			nextTok   atomic.Int64
			fetchers  sync.WaitGroup
		)
		for _, w := range ws {
			fetchers.Go(func() {
				for {
					i := int(nextTok.Add(1) - 1)
					if i >= len(bodies) {
						return
					}
					o := w.send(context.Background(), request{method: http.MethodPost, url: base + "/oauth/token", auth: ccAuth, body: ccBody})
					var tr struct {
						AccessToken string `json:"access_token"`
					}
					if o.err == nil && o.status == http.StatusOK {
						if err := json.Unmarshal(o.body, &tr); err != nil {
							tr.AccessToken = ""
						}
					}
					if tr.AccessToken == "" {
						fetchOnce.Do(func() {
							if o.err != nil {
								fetchErr = fmt.Errorf("getting an access token to introspect: %w", o.err)
							} else {
								fetchErr = fmt.Errorf("getting an access token to introspect: status %d: %.300s", o.status, o.body)
							}
						})
						return
					}
					bodies[i] = "token=" + url.QueryEscape(tr.AccessToken)
				}
			})
		}
		fetchers.Wait()
		if fetchErr != nil {
			return fetchErr
		}
		active := func(o outcome) string {
			if o.status/100 != 2 {
				return "non-2xx"
			}
			if !bytes.Contains(o.body, []byte(`"active":true`)) {
				return "2xx but not active"
			}
			return ""
		}
		for i, w := range ws {
			k := i // worker i starts at its own offset and steps by len(ws)
			w.next = func() request {
				body := bodies[k%len(bodies)]
				k += len(ws)
				return request{method: http.MethodPost, url: base + "/oauth/introspect", auth: ccAuth, body: body}
			}
			w.check = active
		}
	case "refresh":
		if c.webSecret == "" {
			return errors.New("-web-client-secret is required")
		}
		rts, err := authflow.UserGrants(h.client.Transport, authflow.Config{Base: base, ClientID: c.webID,
			ClientSecret: c.webSecret, RedirectURI: c.redirectURI, Username: c.username, Password: c.password}, len(ws))
		if err != nil {
			return fmt.Errorf("authorization code flow: %w", err)
		}
		auth := basicAuth(c.webID, c.webSecret)
		for i, w := range ws {
			w.rt = rts[i]
			w.next = func() request {
				return request{method: http.MethodPost, url: base + "/oauth/token", auth: auth,
					body: "grant_type=refresh_token&refresh_token=" + url.QueryEscape(w.rt)}
			}
			w.check = func(o outcome) string {
				if o.status/100 != 2 {
					return "non-2xx"
				}
				var tr struct {
					AccessToken  string `json:"access_token"`
					RefreshToken string `json:"refresh_token"`
					IDToken      string `json:"id_token"`
				}
				if err := json.Unmarshal(o.body, &tr); err != nil {
					return "2xx with invalid JSON"
				}
				if tr.AccessToken == "" || tr.RefreshToken == "" {
					return "2xx without access_token or rotated refresh_token"
				}
				if (tr.IDToken != "") != c.refreshIDToken {
					return fmt.Sprintf("2xx with id_token %t, want %t (-refresh-id-token)", tr.IDToken != "", c.refreshIDToken)
				}
				w.rt = tr.RefreshToken // rotation: always use the newest
				return ""
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Output

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	// Nearest rank.
	i := int(float64(len(r.lat))*p+0.999999) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func (r *result) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario=%s req/s=%.1f p50=%s p90=%s p99=%s max=%s n=%d errors=%d",
		r.label, float64(r.n)/r.dur.Seconds(), ms(r.pct(0.50)), ms(r.pct(0.90)), ms(r.pct(0.99)), ms(r.pct(1)), r.n, r.errors)
	if r.rate > 0 {
		fmt.Fprintf(&b, " rate=%.1f late=%d", r.rate, r.late)
	}
	if r.hasProc {
		fmt.Fprintf(&b, " server_cpu=%.2f", r.serverCPU)
	}
	fmt.Fprintf(&b, " client_cpu=%.2f", r.clientCPU)
	if r.hasProc {
		fmt.Fprintf(&b, " rss_mb=%.1f rss_max_mb=%.1f hwm_mb=%.1f", r.rssMB, r.rssMaxMB, r.hwmMB)
	}
	return b.String()
}

// reportErrors writes a diagnostic (to stderr); write errors are ignored.
func (r *result) reportErrors(w io.Writer) {
	keys := make([]errKey, 0, len(r.errs.counts))
	for k := range r.errs.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.errs.counts[keys[i]] > r.errs.counts[keys[j]] })
	_, _ = fmt.Fprintf(w, "load: %s: %d errors\n", r.label, r.errors)
	for _, k := range keys {
		_, _ = fmt.Fprintf(w, "  %6d x status %d (%s): %s\n", r.errs.counts[k], k.status, k.reason, r.errs.sample[k])
	}
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
