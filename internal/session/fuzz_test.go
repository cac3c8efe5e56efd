package session

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzSessionToken holds sessionToken, which reads the session cookie in
// place, to what r.Cookie finds: the same value whenever that value could
// be a session token, and "" otherwise. Each input is split on newlines into
// Cookie header lines.
func FuzzSessionToken(f *testing.F) {
	tok := strings.Repeat("aZ0_-", 8) + "xyz"
	for _, seed := range []string{
		"",
		CookieName + "=" + tok,
		"a=b; " + CookieName + "=" + tok + "; c=d",
		CookieName + `="` + tok + `"`,
		CookieName + "=bad\\value; " + CookieName + "=" + tok,
		CookieName + "=not a token",
		" " + CookieName + " = " + tok,
		CookieName + "=" + tok + "\n" + CookieName + "=other",
		";;;" + CookieName + "=",
		CookieName,
		"x=1;" + strings.Repeat(";", 3000) + CookieName + "=" + tok,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Header: http.Header{"Cookie": strings.Split(header, "\n")}}
		want := ""
		if c, err := r.Cookie(CookieName); err == nil && tokenShaped(c.Value) {
			want = c.Value
		}
		if got := sessionToken(r); got != want {
			t.Fatalf("sessionToken(%q) = %q, r.Cookie's value %q", header, got, want)
		}
	})
}
