package redisrevocation_test

import (
	"context"
	"log"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/redisrevocation"
)

// Example wires the Redis checker into a Verifier. The URL is the same as
// Gatehouse's `redis` setting.
func Example() {
	ctx := context.Background()
	revocations, err := redisrevocation.Dial("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer revocations.Close()
	v, err := sdk.NewVerifier(ctx, sdk.Config{
		Issuer:     "https://gatehouse.example.com",
		Audience:   "https://api.example.com",
		Algorithms: []string{"ES256"},
		Revocation: revocations,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = sdk.NewRouter(v) // register routes with their policies
}
