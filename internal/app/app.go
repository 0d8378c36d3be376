// Package app is Gatehouse's one wiring package: it builds every component
// from a validated config.Config, owns the route table, and runs the HTTP
// server until its context ends. It is the only package that imports
// everything else.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authorize"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/federation"
	"github.com/gatehouse/gatehouse/internal/gc"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/web"
)

// App is a configured Gatehouse server.
type App struct {
	cfg         *config.Config
	log         *slog.Logger
	store       Store
	keys        *keys.Manager
	revocations *revocation.List
	clients     *token.ClientAuthenticator
	apiKeys     *apikey.Service
	roles       *rbac.Resolver
	admin       *adminapi.API
	redis       *revocation.RedisMirror
	audit       *audit.Log
	gc          *gc.Collector
	token       *token.Endpoint
	authorize   *authorize.Endpoint
	login       *login.Pages
	pages       *web.Pages
	registry    *prometheus.Registry
	handler     http.Handler
	routes      []Route
	ready       *readiness
	now         func() time.Time
	version     string
}

// Options holds optional dependencies, mostly for tests.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version names the build in the start-up log and gatehouse_build_info.
	Version string
}

// New builds a server from cfg: it opens and migrates the store, loads the
// master key, ensures signing keys exist and builds the route table. The
// caller must Close the App.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if cfg.DevMode() {
		log.Warn("dev mode: plain-http loopback issuer; use an https issuer in production",
			slog.String("issuer", cfg.Issuer))
	}

	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, store: st, now: now, version: cmp.Or(opts.Version, "dev")}
	if err := a.init(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) init(ctx context.Context) error {
	masterKey, err := LoadMasterKey(a.cfg, a.log)
	if err != nil {
		return err
	}
	a.keys, err = NewKeyManager(ctx, a.cfg, a.store, masterKey, a.log, a.now)
	if err != nil {
		return err
	}

	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_build_info", Help: "Always 1; the build's version is a label.",
			ConstLabels: prometheus.Labels{"version": a.version}}, func() float64 { return 1 }),
	)
	a.ready = &readiness{store: a.store, log: a.log, now: a.now}

	rcfg := revocation.Config{Store: a.store, Now: a.now, Logger: a.log}
	if a.cfg.Redis != "" {
		m, err := revocation.NewRedisMirror(a.cfg.Redis, a.now)
		if err != nil {
			return err
		}
		a.redis, rcfg.Mirror = m, m
		a.ready.redis = m
	}
	a.revocations = revocation.New(rcfg)
	// Load the list before serving so the first checks answer from memory.
	if err := a.revocations.Sync(ctx); err != nil {
		return fmt.Errorf("load revocation list: %w", err)
	}
	a.audit = audit.New(a.store, a.log, a.now)
	a.gc = newCollector(a.cfg, a.store, a.registry, a.log, a.now)
	a.registerMetrics()
	a.clients = token.NewClientAuthenticator(a.store, nil, a.now)
	a.apiKeys, err = apikey.NewFromSettings(a.store, apikey.Settings{Hash: a.cfg.APIKeys.Hash,
		PepperFile: a.cfg.APIKeys.PepperFile}, a.now)
	if err != nil {
		return fmt.Errorf("API keys: %w", err)
	}
	roles := rbac.NewResolver(a.store, 0, a.now)
	a.roles = roles
	federator := federation.New(federation.Config{Store: a.store, Now: a.now})
	a.token = token.New(token.Config{
		Issuer:             a.cfg.Issuer,
		AccessTTL:          a.cfg.Tokens.AccessTTL,
		IDTokenTTL:         a.cfg.Tokens.IDTokenTTL,
		RefreshTTL:         a.cfg.Tokens.RefreshTTL,
		RefreshIdleTTL:     a.cfg.Tokens.RefreshIdleTTL,
		DeviceCodeTTL:      a.cfg.Tokens.DeviceCodeTTL,
		DevicePollInterval: a.cfg.Tokens.DevicePollInterval,
		AccessAlg:          a.cfg.Signing.AccessTokenAlg,
		Signer:             a.keys,
		Store:              a.store,
		Revocations:        a.revocations,
		Auditor:            a.audit,
		Clients:            a.clients,
		APIKeys:            apiKeyIntrospection{keys: a.apiKeys, roles: roles, issuer: a.cfg.Issuer},
		Permissions:        permissionsClaim(a.cfg.Tokens.PermissionsClaim, roles),
		Federator:          federator,
		Now:                a.now,
		Logger:             a.log,
	})
	if err := a.initBrowserFlow(masterKey); err != nil {
		return err
	}

	a.admin = a.newAdminAPI(federator)
	a.routes, err = a.buildRoutes()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	for _, rt := range a.routes {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	a.handler = httpx.Wrap(mux, httpx.Options{
		Logger:       a.log,
		Metrics:      httpx.NewMetrics(a.registry),
		MaxBodyBytes: a.cfg.HTTP.MaxBodyBytes,
		HSTS:         !a.cfg.DevMode(),
		LogRequests:  a.cfg.Log.Requests,
	})
	return nil
}

// NewKeyManager builds the signing key manager for cfg over st.
func NewKeyManager(ctx context.Context, cfg *config.Config, st store.SigningKeys, masterKey []byte, log *slog.Logger, now func() time.Time) (*keys.Manager, error) {
	var hmacSecret []byte
	if cfg.Signing.AccessTokenAlg == "HS256" {
		hmacSecret = []byte(cfg.Signing.HMACSecret)
	}
	m, err := keys.NewManager(ctx, keys.Config{
		Store:          st,
		MasterKey:      masterKey,
		AccessTokenAlg: cfg.Signing.AccessTokenAlg,
		HMACSecret:     hmacSecret,
		// Retired keys stay published for the longest token lifetime plus
		// the verifier leeway plus one refresh interval (another node may
		// sign with a just-retired key until its next refresh), so every
		// token they signed still verifies.
		MaxTokenTTL: cfg.MaxTokenTTL() + keys.MaxLeeway + cfg.Signing.KeyRefreshInterval,
		Prepublish:  cfg.Signing.KeyPrepublish,
		Now:         now,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return m, nil
}

// LoadMasterKey returns the master key from cfg.MasterKey or the key file,
// creating the file only in dev mode.
func LoadMasterKey(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.MasterKey != "" {
		k, err := keys.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("master_key (%s): %w", config.EnvName("master_key"), err)
		}
		return k, nil
	}
	if cfg.DevMode() {
		if err := ensureDir(filepath.Dir(cfg.MasterKeyFile)); err != nil {
			return nil, err
		}
	}
	k, created, err := keys.LoadOrCreateMasterKeyFile(cfg.MasterKeyFile, cfg.DevMode())
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if created {
		log.Warn("created a new master key file; back it up, since signing keys cannot be read without it, and set GATEHOUSE_MASTER_KEY in production",
			slog.String("path", cfg.MasterKeyFile))
	}
	return k, nil
}

// Handler returns the server's root HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Keys returns the signing key manager.
func (a *App) Keys() *keys.Manager { return a.keys }

// Run listens on cfg.Listen and serves until ctx ends, then shuts down
// gracefully within cfg.HTTP.ShutdownTimeout. ready, if not nil, receives the
// bound address once the listener is open.
func (a *App) Run(ctx context.Context, ready func(addr net.Addr)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	return a.Serve(ctx, ln, ready)
}

// Serve is Run on an existing listener.
func (a *App) Serve(ctx context.Context, ln net.Listener, ready func(addr net.Addr)) error {
	h := a.cfg.HTTP
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		ReadTimeout:       h.ReadTimeout,
		WriteTimeout:      h.WriteTimeout,
		IdleTimeout:       h.IdleTimeout,
		MaxHeaderBytes:    h.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	// Long polls of the revocation feed end when shutdown begins, so that
	// Shutdown need not wait out their wait.
	srv.RegisterOnShutdown(a.revocations.EndWaits)

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { a.keys.Run(bg, a.cfg.Signing.KeyRefreshInterval) })
	var wake chan struct{}
	if w, ok := a.store.(interface {
		WatchRevocations(context.Context, chan<- struct{})
	}); ok {
		wake = make(chan struct{}, 1)
		wg.Go(func() { w.WatchRevocations(bg, wake) })
	}
	wg.Go(func() { a.revocations.Follow(bg, wake) })
	wg.Go(func() { a.audit.Run(bg) })
	wg.Go(func() { a.gc.Run(bg) })

	kinfo := make([]string, 0, 4)
	if list, err := a.keys.List(ctx); err == nil {
		for _, k := range list {
			if k.State == store.KeyActive {
				kinfo = append(kinfo, k.Algorithm+":"+k.KID)
			}
		}
	}
	a.log.Info("gatehouse serving",
		slog.String("version", a.version),
		slog.String("issuer", a.cfg.Issuer),
		slog.String("listen", ln.Addr().String()),
		slog.String("data_dir", a.cfg.DataDir),
		slog.String("store", a.cfg.RedactedStore()),
		slog.String("master_key", a.masterKeySource()),
		slog.Any("signing_keys", kinfo),
		slog.String("access_token_alg", a.cfg.Signing.AccessTokenAlg),
	)
	if ready != nil {
		ready(ln.Addr())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down", slog.String("timeout", h.ShutdownTimeout.String()))
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			serveErr = fmt.Errorf("shutdown: %w", err)
		}
		if err := <-errc; serveErr == nil {
			serveErr = err // http.ErrServerClosed after Shutdown, cleared below
		}
	}
	stopBG()
	wg.Wait()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

func (a *App) masterKeySource() string {
	if a.cfg.MasterKey != "" {
		return "environment/config"
	}
	return "file " + a.cfg.MasterKeyFile
}

// Close releases the store and the Redis connection.
func (a *App) Close() error {
	if a.redis != nil {
		a.redis.Close()
	}
	return a.store.Close()
}

// ensureDir creates dir (and parents) readable only by the owner.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}

// newCollector builds the garbage collector of expired rows, counting what
// it deletes in gatehouse_gc_deleted_rows_total.
func newCollector(cfg *config.Config, st store.Pruning, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) *gc.Collector {
	deleted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_gc_deleted_rows_total",
		Help: "Expired rows (and audit events past retention) deleted by this node's garbage collector, by table.",
	}, []string{"table"})
	reg.MustRegister(deleted)
	retention := cfg.Retention.Audit
	if retention == 0 {
		retention = -1 // keep forever
	}
	return gc.New(gc.Config{Store: st, Interval: cfg.Retention.GCInterval, AuditRetention: retention, Now: now, Logger: log,
		Deleted: func(table string, n int) { deleted.WithLabelValues(table).Add(float64(n)) }})
}
