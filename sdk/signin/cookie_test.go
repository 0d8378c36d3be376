package signin

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
)

func validLoginState(t testing.TB) loginState {
	state, _ := sdk.NewState()
	nonce, _ := sdk.NewNonce()
	pkce, err := sdk.NewPKCE()
	if err != nil {
		t.Fatal(err)
	}
	return loginState{State: state, Nonce: nonce, Verifier: pkce.Verifier, ReturnTo: "/x", Expires: time.Now().Unix()}
}

// FuzzDecodeLoginState feeds the cookie parser arbitrary browser input: it
// must not panic, and whatever it accepts must have the shape Login gives.
func FuzzDecodeLoginState(f *testing.F) {
	f.Add(validLoginState(f).encode())
	f.Add("")
	f.Add("%%%")
	f.Add("eyJzIjoieCJ9")
	f.Fuzz(func(t *testing.T, v string) {
		ls, err := decodeLoginState(v)
		if err != nil {
			return
		}
		if len(ls.State) != 43 || len(ls.Nonce) != 43 || !sdk.ValidVerifier(ls.Verifier) || ls.Expires <= 0 {
			t.Fatalf("accepted %+v", ls)
		}
		if ls.ReturnTo != "" && safeReturnTo(ls.ReturnTo) != ls.ReturnTo {
			t.Fatalf("accepted return-to %q", ls.ReturnTo)
		}
	})
}

func TestLoginStateRoundTrip(t *testing.T) {
	want := validLoginState(t)
	got, err := decodeLoginState(want.encode())
	if err != nil || got != want {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", want, got, err)
	}
	if len(want.encode()) > maxCookieValue {
		t.Fatalf("encoded state too long")
	}
	long := want
	long.ReturnTo = "/" + strings.Repeat("a", maxReturnTo-1)
	if _, err := decodeLoginState(long.encode()); err != nil {
		t.Fatalf("longest return-to: %v", err)
	}
}

// FuzzSafeReturnTo checks that no input yields an off-site redirect.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/\\evil", "/\t/evil", "https://evil", "/a?b#c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := safeReturnTo(p)
		if got != "/" && got != p {
			t.Fatalf("safeReturnTo(%q) = %q", p, got)
		}
		if got[0] != '/' || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") || len(got) > maxReturnTo {
			t.Fatalf("safeReturnTo(%q) = %q", p, got)
		}
	})
}
