package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
)

// TestShutdownEndsFeedLongPolls: a node with revocation-feed long polls in
// flight shuts down promptly and cleanly (Run returns nil, so the process
// exits 0), answering the polls (200, nothing new, same cursor) rather
// than holding shutdown for their whole wait (issue 9, item 7).
func TestShutdownEndsFeedLongPolls(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = 15 * time.Second
	a := newApp(t, cfg)
	feedReader(t, &testServer{App: a, cfg: cfg})
	_, sec, err := admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "api", Name: "api",
		GrantTypes: []string{"client_credentials"}, Roles: []string{"resource-server"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(addr net.Addr) { addrc <- addr }) }()
	base := "http://" + (<-addrc).String()

	// A first poll gives the cursor; the next ones wait (20 s at most).
	poll := func(query string) (int, map[string]any, error) { return pollFeed(base, "api", sec, query) }
	code, first, err := poll("")
	if err != nil || code != 200 {
		t.Fatalf("first poll: %d %v %v", code, first, err)
	}
	cursor := first["cursor"].(string)
	type answer struct {
		code int
		body map[string]any
		err  error
	}
	answers := make(chan answer, 3)
	for range 3 {
		go func() {
			c, m, err := poll("wait=20&since=" + cursor)
			answers <- answer{c, m, err}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let the polls reach their wait

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after shutdown with open long polls: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited out the long polls")
	}
	took := time.Since(start)
	for range 3 {
		a := <-answers
		if a.err != nil || a.code != 200 || a.body["cursor"] != cursor {
			t.Errorf("a long poll at shutdown: %d %v %v, want 200 with the same cursor", a.code, a.body, a.err)
		}
	}
	t.Logf("shutdown with 3 open long polls took %s", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("shutdown took %s; the polls' 20 s wait must not hold it", took)
	}
}

// pollFeed sends one request to the revocation feed at base as client id
// and decodes its answer.
func pollFeed(base, id, secret, query string) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/oauth/revocations?"+query, nil)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, nil
}
