package sdk_test

import (
	"fmt"

	"github.com/gatehouse/gatehouse/sdk"
)

// ExampleNewPKCE prepares an authorization request: a PKCE pair (keep the
// verifier for the token request), a state and a nonce (keep both, bound
// to the browser, to check the response). Package signin does all of it.
func ExampleNewPKCE() {
	p, err := sdk.NewPKCE()
	if err != nil {
		panic(err)
	}
	state, _ := sdk.NewState()
	nonce, _ := sdk.NewNonce()
	fmt.Println(len(p.Verifier), p.ChallengeMethod, p.Challenge == sdk.S256Challenge(p.Verifier))
	fmt.Println(len(state) >= 43, len(nonce) >= 43, state != nonce)
	ok, _ := sdk.VerifyS256(p.Verifier, p.Challenge)
	fmt.Println(ok)
	// Output:
	// 43 S256 true
	// true true true
	// true
}
