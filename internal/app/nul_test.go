package app

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
)

// TestNULIsNotAServerError sends text PostgreSQL can't hold (a NUL, bytes
// that are not UTF-8) wherever a caller's text reaches a query: each is the
// caller's mistake, a 4xx, never a 500 or a 503.
func TestNULIsNotAServerError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	_, admin := h.user(acl.RoleAdmin)
	adminEmail, _ := h.user(acl.RoleAdmin)
	for _, tc := range []struct {
		method, path, token, body string
	}{
		{"POST", "/api/tokens", editor, `{"name":"a\u0000b"}`},
		{"POST", "/api/folders", editor, `{"name":"a\u0000b"}`},
		{"POST", "/api/groups", admin, `{"name":"a\u0000b"}`},
		{"PATCH", "/api/groups/a%00b", admin, `{"name":"c"}`},
		{"PUT", "/api/groups/a%00b/members/" + adminEmail, admin, ``},
		{"POST", "/api/users", admin, `{"email":"a\u0000b@example.com","role":"viewer","password":"long enough 1"}`},
		{"PATCH", "/api/users/a%00b@example.com", admin, `{"role":"viewer"}`},
		{"DELETE", "/api/users/a%00b@example.com", admin, `{"reassign_to":"` + adminEmail + `"}`},
		{"DELETE", "/api/users/" + adminEmail, admin, `{"reassign_to":"a\u0000b@example.com"}`},
		{"POST", "/api/users/a%00b@example.com/password", admin, `{"password":"long enough 1"}`},
		{"GET", "/api/media?q=a%00b", editor, ``},
		{"GET", "/api/media?q=%ff%fe", editor, ``},
	} {
		var body io.Reader
		if tc.body != "" {
			body = jsonBody(tc.body)
		}
		r := h.do(tc.method, tc.path, tc.token, body)
		if got := readAll(t, r); r.StatusCode >= 500 {
			t.Errorf("%s %s %s: %d %s, want a 4xx", tc.method, tc.path, tc.body, r.StatusCode, got)
		}
	}
	for _, email := range []string{"a%00b@example.com", "a%ffb@example.com"} {
		resp, err := http.Post(h.srv.URL+"/login", "application/x-www-form-urlencoded",
			bytes.NewReader([]byte("email="+email+"&password=whatever1")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("POST /login with the email %s: %d (Retry-After %q), want a 4xx", email, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
