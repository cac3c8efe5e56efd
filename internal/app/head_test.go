package app

import (
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
)

// TestHeadAnswersLikeGet checks that HEAD on every kind of GET route, pages
// above all, gives GET's status and headers and no body: signed in,
// signed out (a redirect to the login page), and for what does not exist.
func TestHeadAnswersLikeGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	it := h.upload(admin, "clip.mp4", sampleMP4(t))
	l := h.share(admin, "media", it.ID, "{}")
	css, err := h.app.pages.assets.URL("app.css")
	if err != nil {
		t.Fatal(err)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, h.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"/", admin, 200},
		{"/", "", http.StatusSeeOther},
		{"/login", "", 200},
		{"/account", admin, 200},
		{"/account", "", http.StatusSeeOther},
		{"/admin/users", admin, 200},
		{"/admin/groups", admin, 200},
		{"/m/" + it.ID, admin, 200},
		{"/m/00000000-0000-0000-0000-000000000000", admin, 404},
		{l.URL, "", 200},
		{l.URL + "/item/" + it.ID, "", 200},
		{"/s/nope", "", 404},
		{"/no/such/page", admin, 404},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{css, "", 200},
		{"/api/me", admin, 200},
		{"/api/media/" + it.ID, admin, 200},
		{"/api/media/" + it.ID + "/access", admin, 200},
		{"/api/me", "", 401},
	} {
		get := do("GET", c.path, c.token)
		body := readAll(t, get)
		head := do("HEAD", c.path, c.token)
		if get.StatusCode != c.status || head.StatusCode != get.StatusCode {
			t.Errorf("%s (token %t): GET %d, HEAD %d, want %d", c.path, c.token != "", get.StatusCode, head.StatusCode, c.status)
			continue
		}
		if len(body) == 0 && c.status != http.StatusSeeOther {
			t.Errorf("GET %s: empty body, nothing to compare", c.path)
		}
		if b := readAll(t, head); len(b) != 0 {
			t.Errorf("HEAD %s: %d bytes of body", c.path, len(b))
		}
		gh, hh := get.Header.Clone(), head.Header.Clone()
		for _, x := range []http.Header{gh, hh} {
			x.Del("Date")
			x.Del("X-Request-Id") // one of each request
		}
		// A small GET body gets a Content-Length net/http counted; HEAD's,
		// when there is one, must agree.
		if n := hh.Get("Content-Length"); n != "" && n != gh.Get("Content-Length") {
			t.Errorf("HEAD %s: Content-Length %s, GET's %q", c.path, n, gh.Get("Content-Length"))
		}
		gh.Del("Content-Length")
		hh.Del("Content-Length")
		if !maps.EqualFunc(gh, hh, slices.Equal) {
			t.Errorf("%s: headers differ\n GET:  %v\n HEAD: %v", c.path, gh, hh)
		}
	}
}
