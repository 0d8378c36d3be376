// Command products is a tiny in-memory products API protected by
// Gatehouse through the SDK. Every route is declared with a policy in
// newRouter:
//
//	GET    /products       any valid token or API key
//	GET    /products/{id}  any valid token or API key
//	POST   /products       a token granted the products:write scope
//	DELETE /products/{id}  the admin or product_manager role
//	POST   /deployments    the deployer role (an API key for a CI job)
//
// Every request is checked against Gatehouse's revocation list (its feed,
// or Redis with -redis), so a logout or a revoked key takes effect at once.
//
// Flags (or the environment variables in brackets): -listen
// [PRODUCTS_LISTEN] (127.0.0.1:9090), -issuer [PRODUCTS_ISSUER]
// (http://127.0.0.1:8080), -audience [PRODUCTS_AUDIENCE]
// (https://api.example), -client-id [PRODUCTS_CLIENT_ID] and
// -client-secret [PRODUCTS_CLIENT_SECRET] (this API's own confidential
// client, required: it reads the revocation feed and introspects API
// keys), -redis [PRODUCTS_REDIS] (Gatehouse's Redis URL, to read
// revocations there instead of the feed). See README.md for a walk-through.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/redisrevocation"
)

func main() {
	listen := flag.String("listen", env("PRODUCTS_LISTEN", "127.0.0.1:9090"), "listen address [PRODUCTS_LISTEN]")
	issuer := flag.String("issuer", env("PRODUCTS_ISSUER", "http://127.0.0.1:8080"), "Gatehouse issuer URL [PRODUCTS_ISSUER]")
	audience := flag.String("audience", env("PRODUCTS_AUDIENCE", "https://api.example"), "this API's audience [PRODUCTS_AUDIENCE]")
	clientID := flag.String("client-id", env("PRODUCTS_CLIENT_ID", ""), "this API's client at Gatehouse [PRODUCTS_CLIENT_ID]")
	clientSecret := flag.String("client-secret", env("PRODUCTS_CLIENT_SECRET", ""), "its secret [PRODUCTS_CLIENT_SECRET]")
	redisURL := flag.String("redis", env("PRODUCTS_REDIS", ""), "read revocations from Gatehouse's Redis [PRODUCTS_REDIS]")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *clientID == "" || *clientSecret == "" {
		log.Fatal("set -client-id and -client-secret (PRODUCTS_CLIENT_ID, PRODUCTS_CLIENT_SECRET): this API's confidential client at Gatehouse")
	}
	revocations, closeRevocations, err := revocationChecker(ctx, *issuer, *clientID, *clientSecret, *redisURL)
	if err != nil {
		log.Fatal(err)
	}
	defer closeRevocations()
	v, err := sdk.NewVerifier(ctx, sdk.Config{Issuer: *issuer, Audience: *audience, Algorithms: []string{"ES256"},
		Revocation: revocations})
	if err != nil {
		log.Fatal(err)
	}
	keys, err := sdk.NewAPIKeyVerifier(ctx, sdk.APIKeyConfig{Issuer: *issuer, ClientID: *clientID,
		ClientSecret: *clientSecret, Revocation: revocations})
	if err != nil {
		log.Fatal(err)
	}
	if err := serve(ctx, *listen, newRouter(v, sdk.AcceptAPIKeys(keys))); err != nil {
		log.Fatal(err)
	}
}

// revocationChecker follows Gatehouse's revocation feed, or reads Redis
// when redisURL is set.
func revocationChecker(ctx context.Context, issuer, id, secret, redisURL string) (sdk.RevocationChecker, func(), error) {
	if redisURL != "" {
		c, err := redisrevocation.Dial(redisURL)
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	}
	f, err := sdk.NewFeedChecker(ctx, sdk.FeedConfig{Issuer: issuer, ClientID: id, ClientSecret: secret})
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// serve runs h on addr until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("products API listening on http://%s", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newRouter declares the API: every route with its policy.
func newRouter(v sdk.TokenVerifier, opts ...sdk.RouterOption) *sdk.Router {
	s := newStore()
	rt := sdk.NewRouter(v, opts...)
	rt.HandleFunc("GET /products", sdk.Authenticated(), s.list)
	rt.HandleFunc("GET /products/{id}", sdk.Authenticated(), s.get)
	rt.HandleFunc("POST /products", sdk.RequireScopes("products:write"), s.create)
	rt.HandleFunc("DELETE /products/{id}", sdk.RequireRoles("admin", "product_manager"), s.delete)
	rt.HandleFunc("POST /deployments", sdk.RequireRoles("deployer"), s.deploy)
	return rt
}

// Product is one item of the catalogue.
type Product struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Price int    `json:"price_cents"`
}

type store struct {
	mu          sync.Mutex
	products    map[int]Product
	nextID      int
	deployments int
}

func newStore() *store {
	s := &store{products: map[int]Product{}, nextID: 1}
	for _, p := range []Product{{Name: "Teapot", Price: 2500}, {Name: "Kettle", Price: 4000}} {
		p.ID = s.nextID
		s.products[p.ID] = p
		s.nextID++
	}
	return s
}

func (s *store) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]Product, 0, len(s.products))
	for _, p := range s.products {
		out = append(out, p)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Product) int { return a.ID - b.ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *store) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	p, found := s.products[id]
	s.mu.Unlock()
	if !found {
		http.Error(w, "no such product", http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *store) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Price int    `json:"price_cents"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || strings.TrimSpace(in.Name) == "" || in.Price < 0 {
		http.Error(w, `want {"name": "...", "price_cents": N}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	p := Product{ID: s.nextID, Name: in.Name, Price: in.Price}
	s.products[p.ID] = p
	s.nextID++
	s.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("/products/%d", p.ID))
	writeJSON(w, http.StatusCreated, p)
}

func (s *store) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	_, found := s.products[id]
	delete(s.products, id)
	s.mu.Unlock()
	if !found {
		http.Error(w, "no such product", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deploy records a deployment by the caller (a CI job's API key).
func (s *store) deploy(w http.ResponseWriter, r *http.Request) {
	c, _ := sdk.ClaimsFrom(r.Context())
	s.mu.Lock()
	s.deployments++
	n := s.deployments
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"deployment": n, "by": c.Subject, "api_key": c.APIKey})
}

func pathID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		http.Error(w, "bad product id", http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the status is sent; a failed write has no one to tell
}
