package app

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
)

// redirectTricks are values of next that try to leave the site, raw as the
// handler sees them (after the query or form is decoded).
var redirectTricks = []string{
	"//evil.example",
	"//evil.example/path",
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r/evil.example",
	"/ /evil.example",
	"\t//evil.example",
	" //evil.example",
	"/\\evil.example",
	"\\/\\/evil.example",
	"\\\\evil.example",
	"/\\/evil.example",
	"https:evil.example",
	"https://evil.example",
	"javascript:alert(1)",
	"/%2F/evil.example", // decodes to a path starting with //
	"/\x00/evil.example",
	"/\u00a0/evil.example",
	"/\u200b/evil.example",
	"/\u2028/evil.example",
	"/\u3000/evil.example",
	"/\xff/evil.example",
	"evil.example",
	"",
	"//@evil.example",
	"/..//evil.example/",
	"/./evil.example",
	"/%2e%2e//evil.example",
}

func TestSafeNext(t *testing.T) {
	for _, next := range redirectTricks {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	for _, next := range []string{"/", "/m/0b0f7a1e-8c1e-4a53-9d8b-4b1f1b1b1b1b", "/?folder=x&view=all", "/account#tokens", "/a/b..c/d", "/%09/not-a-tab"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
}

// browserTarget is where a browser goes when it follows location from base:
// it drops tabs and newlines, and reads backslashes as slashes, first.
func browserTarget(t *testing.T, base, location string) *url.URL {
	t.Helper()
	location = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(location)
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Parse(strings.TrimSpace(location))
	if err != nil {
		t.Fatalf("Location %q does not parse: %v", location, err)
	}
	return u
}

// TestLoginNextStaysOnSite sends each trick as ?next= to a signed-in
// browser's GET /login, and as the form's next on sign-in: every answer's
// Location, as a browser reads it, stays on this site.
func TestLoginNextStaysOnSite(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	email, _ := h.user(acl.RoleViewer)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	site, _ := url.Parse(h.srv.URL)
	check := func(what, next string, resp *http.Response) {
		t.Helper()
		defer resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s with next=%q: status %d, want 303", what, next, resp.StatusCode)
			return
		}
		if u := browserTarget(t, h.srv.URL, loc); u.Host != site.Host || u.Scheme != site.Scheme {
			t.Errorf("%s with next=%q: Location %q takes a browser to %s", what, next, loc, u)
		}
	}
	for i, next := range redirectTricks {
		// Signing in: the form's next.
		form := url.Values{"email": {email}, "password": {"password123"}, "next": {next}}
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		check("sign-in", next, resp)
		// Signed in already: GET /login?next= redirects at once.
		resp, err = c.Get(h.srv.URL + "/login?next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		check("signed-in GET /login", next, resp)
		if i == 0 {
			// And the raw query of the report, encoded the way it was sent.
			resp, err = c.Get(h.srv.URL + "/login?next=%2F%09%2Fevil.example")
			if err != nil {
				t.Fatal(err)
			}
			check("signed-in GET /login", "%2F%09%2Fevil.example", resp)
		}
	}
}
