// Command devicecli signs a user in from a terminal with the device
// authorization grant (RFC 8628) through sdk/device, then calls the
// products API (examples/products) with the access token:
//
//	go run ./examples/devicecli -issuer http://127.0.0.1:8080 -client-id cli -api http://127.0.0.1:9090
//
// It prints a code and a URL; open the URL on any device with a browser,
// sign in and allow, and the command continues by itself. The client must
// be registered as a public client with the device grant (see README.md).
//
// Flags (or the environment variables in brackets): -issuer
// [DEVICECLI_ISSUER] (http://127.0.0.1:8080), -client-id
// [DEVICECLI_CLIENT_ID] (cli), -audience [DEVICECLI_AUDIENCE]
// (https://api.example), -api [DEVICECLI_API] (http://127.0.0.1:9090).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/sdk/device"
)

func main() {
	issuer := flag.String("issuer", env("DEVICECLI_ISSUER", "http://127.0.0.1:8080"), "Gatehouse issuer URL [DEVICECLI_ISSUER]")
	clientID := flag.String("client-id", env("DEVICECLI_CLIENT_ID", "cli"), "this program's public client [DEVICECLI_CLIENT_ID]")
	audience := flag.String("audience", env("DEVICECLI_AUDIENCE", "https://api.example"), "the API's audience [DEVICECLI_AUDIENCE]")
	api := flag.String("api", env("DEVICECLI_API", "http://127.0.0.1:9090"), "the products API [DEVICECLI_API]")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, *issuer, *clientID, *audience, *api); err != nil {
		fmt.Fprintln(os.Stderr, "devicecli:", err)
		os.Exit(1)
	}
}

// run signs in, then lists the products.
func run(ctx context.Context, stdout, stderr io.Writer, issuer, clientID, audience, api string) error {
	res, err := device.SignIn(ctx, device.Config{
		Issuer: issuer, ClientID: clientID, Audiences: []string{audience},
		Scopes: []string{"openid", "profile"},
		Prompt: device.PrintTo(stderr),
	})
	switch {
	case errors.Is(err, device.ErrDenied):
		return errors.New("sign-in was denied")
	case errors.Is(err, device.ErrExpired):
		return errors.New("the code expired before anyone approved it; run again")
	case err != nil:
		return err
	}
	if res.IDToken != nil {
		if _, err := fmt.Fprintf(stderr, "signed in as %s\n", res.IDToken.Subject); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/products", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+res.Token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling the products API: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the products API's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the products API answered %s: %s", resp.Status, body)
	}
	_, err = stdout.Write(body)
	return err
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
