module github.com/gatehouse/gatehouse/sdk

go 1.26.0

require (
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/redis/rueidis v1.0.79
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
