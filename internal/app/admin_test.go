package app

import (
	"strings"
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

// TestListMediaFilters lists over HTTP by type and folder, and checks that
// listings and GET /api/media/{id} carry the folder path as the caller may
// see it.
func TestListMediaFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	a := h.folder(owner, "A", nil)
	b := h.folder(owner, "B", &a.ID)
	video := h.upload(owner, "v.mp4", sampleMP4(t))
	doc := h.uploadTo(owner, b.ID, "notes.txt", []byte("plain words\n"))
	h.uploadTo(owner, a.ID, "i.png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...))

	list := func(token, query string) []itemJSON {
		t.Helper()
		resp := h.do("GET", "/api/media?sort=name&"+query, token, nil)
		wantStatus(t, resp, 200)
		return decode[struct {
			Items []itemJSON `json:"items"`
		}](t, resp).Items
	}
	names := func(items []itemJSON) string {
		var out []string
		for _, it := range items {
			p := "<none>"
			if it.FolderPath != nil {
				p = *it.FolderPath
			}
			out = append(out, it.Filename+"@"+p)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "i.png@A notes.txt@A/B v.mp4@"},
		{"type=video", "v.mp4@"},
		{"type=image", "i.png@A"},
		{"type=document", "notes.txt@A/B"},
		{"type=audio", ""},
		{"folder=root", "v.mp4@"},
		{"folder=" + a.ID, "i.png@A"},
		{"folder=" + a.ID + "&subfolders=1", "i.png@A notes.txt@A/B"},
		{"folder=" + a.ID + "&subfolders=1&type=document", "notes.txt@A/B"},
		{"folder=root&subfolders=1", "i.png@A notes.txt@A/B v.mp4@"},
	} {
		if got := names(list(owner, tc.query)); got != tc.want {
			t.Errorf("?%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"type=pdf", "subfolders=1", "subfolders=yes&folder=root"} {
		wantStatus(t, h.do("GET", "/api/media?"+q, owner, nil), 400)
	}
	wantStatus(t, h.do("GET", "/api/media?folder=../etc", owner, nil), 404)

	// The viewer may see the text file alone: its folders are "…".
	wantStatus(t, h.do("PUT", "/api/media/"+doc.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	items := list(viewer, "")
	if len(items) != 1 || items[0].FolderPath == nil || *items[0].FolderPath != "…" || !items[0].PathHidden {
		t.Errorf("viewer's listing: %+v", items)
	}
	for _, tc := range []struct {
		token, id, path string
		hidden          bool
	}{
		{owner, doc.ID, "A/B", false},
		{viewer, doc.ID, "…", true},
		{owner, video.ID, "", false},
	} {
		resp := h.do("GET", "/api/media/"+tc.id, tc.token, nil)
		wantStatus(t, resp, 200)
		got := decode[itemJSON](t, resp)
		if got.FolderPath == nil || *got.FolderPath != tc.path || got.PathHidden != tc.hidden {
			t.Errorf("GET %s: folder_path %v hidden %v, want %q %v", tc.id, got.FolderPath, got.PathHidden, tc.path, tc.hidden)
		}
	}
	// Folder listings carry it too.
	resp := h.do("GET", "/api/folders/"+b.ID, owner, nil)
	wantStatus(t, resp, 200)
	if got := decode[struct {
		Items []itemJSON `json:"items"`
	}](t, resp).Items; len(got) != 1 || got[0].FolderPath == nil || *got[0].FolderPath != "A/B" {
		t.Errorf("folder listing: %+v", got)
	}
}
