package app

import (
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
)

// TestAdminUsersAndGroups drives the admin endpoints over HTTP: a password
// reset, deleting a user (their item moves to the heir, their token dies),
// the refusals, and renaming and deleting a group.
func TestAdminUsersAndGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	adminEmail, admin := h.user(acl.RoleAdmin)
	heirEmail, _ := h.user(acl.RoleAdmin)
	edEmail, ed := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	it := h.upload(ed, "a.mp4", sampleMP4(t))

	// Passwords.
	wantStatus(t, h.do("POST", "/api/users/"+edEmail+"/password", ed, jsonBody(`{"password":"new-password"}`)), 403)
	wantStatus(t, h.do("POST", "/api/users/"+edEmail+"/password", admin, jsonBody(`{"password":"short"}`)), 400)
	wantStatus(t, h.do("POST", "/api/users/nobody@example.com/password", admin, jsonBody(`{"password":"new-password"}`)), 404)
	wantStatus(t, h.do("POST", "/api/users/"+edEmail+"/password", admin, jsonBody(`{"password":"new-password"}`)), 204)
	if _, err := h.users.CheckPassword(t.Context(), edEmail, "new-password"); err != nil {
		t.Errorf("the reset password: %v", err)
	}

	// Groups.
	wantStatus(t, h.do("POST", "/api/groups", admin, jsonBody(`{"name":"press"}`)), 201)
	wantStatus(t, h.do("PUT", "/api/groups/press/members/"+viewerEmail, admin, nil), 204)
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/group:press", ed, jsonBody(`{"permission":"view"}`)), 200)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 200)
	wantStatus(t, h.do("PATCH", "/api/groups/press", ed, jsonBody(`{"name":"news"}`)), 403)
	wantStatus(t, h.do("PATCH", "/api/groups/press", admin, jsonBody(`{"name":"every one"}`)), 400)
	wantStatus(t, h.do("PATCH", "/api/groups/nope", admin, jsonBody(`{"name":"news"}`)), 404)
	resp := h.do("PATCH", "/api/groups/press", admin, jsonBody(`{"name":"news"}`))
	wantStatus(t, resp, 200)
	if g := decode[acl.Group](t, resp); g.Name != "news" || g.Size != 1 {
		t.Errorf("renamed group = %+v", g)
	}
	wantStatus(t, h.do("POST", "/api/groups", admin, jsonBody(`{"name":"press"}`)), 201)
	wantStatus(t, h.do("PATCH", "/api/groups/news", admin, jsonBody(`{"name":"press"}`)), 409)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 200)
	wantStatus(t, h.do("DELETE", "/api/groups/news", ed, nil), 403)
	wantStatus(t, h.do("DELETE", "/api/groups/news", admin, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/groups/news", admin, nil), 404)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 404)

	// Deleting users.
	for _, tc := range []struct {
		email, token, body string
		want               int
	}{
		{edEmail, viewer, `{"reassign_to":"` + adminEmail + `"}`, 403},
		{adminEmail, admin, `{"reassign_to":"` + heirEmail + `"}`, 409},
		{edEmail, admin, `{"reassign_to":"` + viewerEmail + `"}`, 400},
		{edEmail, admin, `{}`, 400},
		{edEmail, admin, `{"reassign_to":"` + adminEmail + `","x":1}`, 400},
		{"nobody@example.com", admin, `{"reassign_to":"` + adminEmail + `"}`, 404},
	} {
		wantStatus(t, h.do("DELETE", "/api/users/"+tc.email, tc.token, jsonBody(tc.body)), tc.want)
	}
	wantStatus(t, h.do("GET", "/api/me", ed, nil), 200)
	wantStatus(t, h.do("DELETE", "/api/users/"+edEmail, admin, jsonBody(`{"reassign_to":"`+heirEmail+`"}`)), 204)
	wantStatus(t, h.do("GET", "/api/me", ed, nil), 401)
	resp = h.do("GET", "/api/media/"+it.ID, admin, nil)
	wantStatus(t, resp, 200)
	if got := decode[itemJSON](t, resp); got.Owner != heirEmail {
		t.Errorf("owner after the delete: %q, want %q", got.Owner, heirEmail)
	}
	wantStatus(t, h.do("DELETE", "/api/users/"+edEmail, admin, jsonBody(`{"reassign_to":"`+heirEmail+`"}`)), 404)
}
