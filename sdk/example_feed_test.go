package sdk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/sdk"
)

// ExampleFeedChecker follows a revocation feed. The stand-in below answers
// as Gatehouse's GET /oauth/revocations does; against a real Gatehouse,
// Issuer is its issuer URL and the credentials are those of the API's own
// confidential client.
func ExampleFeedChecker() {
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, _ := r.BasicAuth(); id != "products-api" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("since") == "" { // the first load: every live entry
			fmt.Fprint(w, `{"cursor":"7","more":false,"entries":[
				{"kind":"jti","value":"stolen-token","expires_at":4102444800},
				{"kind":"sid","value":"logged-out-session","expires_at":4102444800}]}`)
			return
		}
		<-r.Context().Done() // nothing new: hold the request (long polling)
	}))
	defer feed.Close()

	ctx := context.Background()
	revocations, err := sdk.NewFeedChecker(ctx, sdk.FeedConfig{
		Issuer:       feed.URL,
		ClientID:     "products-api",
		ClientSecret: "s3cret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer revocations.Close()
	// Then: sdk.NewVerifier(ctx, sdk.Config{..., Revocation: revocations}).

	for _, c := range []*sdk.Claims{
		{ID: "stolen-token", Subject: "user-1"},
		{ID: "other", SID: "logged-out-session", Subject: "user-2"},
		{ID: "fine", SID: "live-session", Subject: "user-3"},
	} {
		revoked, err := revocations.Revoked(ctx, c)
		fmt.Println(c.ID, revoked, err)
	}
	// Output:
	// stolen-token true <nil>
	// other true <nil>
	// fine false <nil>
}
