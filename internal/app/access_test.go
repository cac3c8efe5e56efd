package app

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/audit"
	"github.com/mediagate/mediagate/internal/media"
)

func jsonBody(s string) *strings.Reader { return strings.NewReader(s) }

func (h *harness) folder(token, name string, parent *string) acl.Folder {
	h.t.Helper()
	body := `{"name":"` + name + `","parent":null}`
	if parent != nil {
		body = `{"name":"` + name + `","parent":"` + *parent + `"}`
	}
	resp := h.do("POST", "/api/folders", token, jsonBody(body), "Content-Type", "application/json")
	wantStatus(h.t, resp, http.StatusCreated)
	return decode[acl.Folder](h.t, resp)
}

func (h *harness) uploadTo(token, folder, name string, content []byte) itemJSON {
	h.t.Helper()
	resp := h.do("POST", "/api/media?folder="+folder+"&filename="+url.QueryEscape(name), token, strings.NewReader(string(content)))
	wantStatus(h.t, resp, http.StatusCreated)
	return decode[itemJSON](h.t, resp)
}

func TestFoldersGroupsAndInheritance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	_, editor := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	_, other := h.user(acl.RoleViewer)

	top := h.folder(editor, "Marketing", nil)
	sub := h.folder(editor, "Launch", &top.ID)
	deep := h.folder(editor, "Cuts", &sub.ID)
	if deep.Parent == nil || *deep.Parent != sub.ID || deep.Permission != "manage" {
		t.Fatalf("deep folder = %+v", deep)
	}
	// Sibling names are unique (case-insensitively); a viewer can't create.
	wantStatus(t, h.do("POST", "/api/folders", editor, jsonBody(`{"name":"marketing","parent":null}`)), 409)
	wantStatus(t, h.do("POST", "/api/folders", viewer, jsonBody(`{"name":"x","parent":null}`)), 403)
	// A stranger can't put things into someone else's folder: it doesn't exist for them.
	_, editor2 := h.user(acl.RoleEditor)
	wantStatus(t, h.do("POST", "/api/media?folder="+deep.ID+"&filename=a.mp4", editor2, strings.NewReader("x")), 404)

	it := h.uploadTo(editor, deep.ID, "cut.mp4", sampleMP4(t))
	if it.Folder == nil || *it.Folder != deep.ID {
		t.Fatalf("item folder = %v", it.Folder)
	}
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 404)

	// Groups: admins only.
	wantStatus(t, h.do("POST", "/api/groups", editor, jsonBody(`{"name":"press"}`)), 403)
	wantStatus(t, h.do("POST", "/api/groups", admin, jsonBody(`{"name":"press"}`)), 201)
	wantStatus(t, h.do("PUT", "/api/groups/press/members/"+viewerEmail, admin, nil), 204)

	// A grant to the group on the top folder reaches the item three levels down.
	wantStatus(t, h.do("PUT", "/api/folders/"+top.ID+"/grants/group:press", editor, jsonBody(`{"permission":"view"}`)), 200)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 200)
	wantStatus(t, h.do("GET", it.URL, other, nil), 404)
	grants := decode[map[string][]acl.Grant](t, h.do("GET", "/api/media/"+it.ID+"/grants", editor, nil))["grants"]
	if len(grants) != 1 || grants[0].Subject != "group:press" || grants[0].From == nil || grants[0].From.FolderID != top.ID {
		t.Errorf("inherited grants = %+v", grants)
	}
	// The viewer browses the folder and sees the item.
	listing := decode[struct {
		Folders []acl.Folder
		Items   []itemJSON
	}](t, h.do("GET", "/api/folders/"+deep.ID, viewer, nil))
	if len(listing.Items) != 1 || listing.Items[0].ID != it.ID {
		t.Errorf("viewer's folder listing = %+v", listing)
	}
	root := decode[struct{ Folders []acl.Folder }](t, h.do("GET", "/api/folders/root", viewer, nil))
	if len(root.Folders) != 1 || root.Folders[0].ID != top.ID {
		t.Errorf("viewer's root = %+v", root.Folders)
	}

	// Leaving the group ends access at once.
	wantStatus(t, h.do("DELETE", "/api/groups/press/members/"+viewerEmail, admin, nil), 204)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 404)
	wantStatus(t, h.do("PUT", "/api/groups/press/members/"+viewerEmail, admin, nil), 204)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 200)

	// Moving the item out of the granted tree ends access at once; moving it back restores it.
	wantStatus(t, h.do("PATCH", "/api/media/"+it.ID, editor, jsonBody(`{"folder":null}`)), 200)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 404)
	wantStatus(t, h.do("PATCH", "/api/media/"+it.ID, editor, jsonBody(`{"folder":"`+sub.ID+`","filename":"renamed.mp4"}`)), 200)
	got := decode[itemJSON](t, h.do("GET", "/api/media/"+it.ID, viewer, nil))
	if got.Filename != "renamed.mp4" || got.Folder == nil || *got.Folder != sub.ID {
		t.Errorf("after move and rename: %+v", got)
	}
	// Moving the folder holding the grant's subtree elsewhere does the same.
	other2 := h.folder(editor, "Archive", nil)
	wantStatus(t, h.do("PATCH", "/api/folders/"+sub.ID, editor, jsonBody(`{"parent":"`+other2.ID+`"}`)), 200)
	wantStatus(t, h.do("GET", it.URL, viewer, nil), 404)
	// A folder can't move below itself.
	wantStatus(t, h.do("PATCH", "/api/folders/"+sub.ID, editor, jsonBody(`{"parent":"`+deep.ID+`"}`)), 409)
	// Deleting a folder puts it in the trash with everything below it.
	wantStatus(t, h.do("DELETE", "/api/folders/"+top.ID, editor, nil), 204)
	wantStatus(t, h.do("GET", "/api/folders/"+top.ID, editor, nil), 404)
	wantStatus(t, h.do("DELETE", "/api/folders/"+sub.ID, editor, nil), 204)
	wantStatus(t, h.do("GET", "/api/folders/"+sub.ID, editor, nil), 404)
	wantStatus(t, h.do("GET", it.URL, editor, nil), 404)
	wantStatus(t, h.do("POST", "/api/trash/"+sub.ID+"/restore", editor, nil), 200)
	wantStatus(t, h.do("GET", it.URL, editor, nil), 200)

	// everyone: every signed-in user.
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/everyone", editor, jsonBody(`{"permission":"view"}`)), 200)
	wantStatus(t, h.do("GET", it.URL, other, nil), 200)
	wantStatus(t, h.do("GET", it.URL, "", nil), 401)
}

func TestDisableUserAndDeleteTokenEndAccessAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	email, token := h.user(acl.RoleEditor)
	it := h.upload(token, "a.mp4", sampleMP4(t))

	// A second token, created over the API and then deleted.
	resp := h.do("POST", "/api/tokens", token, jsonBody(`{"name":"cms"}`))
	wantStatus(t, resp, 201)
	created := decode[map[string]string](t, resp)
	wantStatus(t, h.do("GET", it.URL, created["token"], nil), 200)
	list := decode[map[string][]map[string]any](t, h.do("GET", "/api/tokens", token, nil))["tokens"]
	if len(list) != 2 {
		t.Fatalf("tokens = %v", list)
	}
	for _, tk := range list {
		if _, leaked := tk["token"]; leaked {
			t.Fatal("the token list shows a token")
		}
	}
	wantStatus(t, h.do("DELETE", "/api/tokens/"+created["id"], token, nil), 204)
	wantStatus(t, h.do("GET", it.URL, created["token"], nil), 401)

	// Disabling ends the user's token and browser session at once.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"email": {email}, "password": {"password123"}}
	req, _ := http.NewRequest("POST", h.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	lr, err := c.Do(req)
	if err != nil || lr.StatusCode != 303 {
		t.Fatalf("login: %v %v", err, lr)
	}
	get := func() int {
		r, err := c.Get(h.srv.URL + it.URL)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if get() != 200 {
		t.Fatal("the session does not stream")
	}
	wantStatus(t, h.do("PATCH", "/api/users/"+email, token, jsonBody(`{"disabled":true}`)), 403)
	wantStatus(t, h.do("PATCH", "/api/users/"+email, admin, jsonBody(`{"disabled":true}`)), 200)
	wantStatus(t, h.do("GET", it.URL, token, nil), 401)
	if got := get(); got != 401 {
		t.Fatalf("disabled user's session: %d", got)
	}
	wantStatus(t, h.do("PATCH", "/api/users/"+email, admin, jsonBody(`{"disabled":false}`)), 200)
	wantStatus(t, h.do("GET", it.URL, token, nil), 200)
	// Re-enabling does not revive the old session: disabling ended it.
	if got := get(); got != 401 {
		t.Fatalf("old session after re-enabling: %d", got)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	email, _ := h.user(acl.RoleEditor)
	login := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		form := url.Values{"email": {email}, "password": {"password123"}}
		req, _ := http.NewRequest("POST", h.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r, err := c.Do(req); err != nil || r.StatusCode != 303 {
			t.Fatalf("login: %v", err)
		}
		return c
	}
	me := func(c *http.Client) int {
		r, err := c.Get(h.srv.URL + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	a, b := login(), login()
	post := func(c *http.Client, body string) int {
		req, _ := http.NewRequest("POST", h.srv.URL+"/api/me/password", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if got := post(a, `{"current":"wrong-password","new":"another-password"}`); got != 403 {
		t.Fatalf("wrong current password: %d", got)
	}
	if got := post(a, `{"current":"password123","new":"another-password"}`); got != 204 {
		t.Fatalf("change password: %d", got)
	}
	if me(a) != 200 || me(b) != 401 {
		t.Fatalf("after the change: this session %d (want 200), the other %d (want 401)", me(a), me(b))
	}
}

func TestReadAudit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ownerEmail, owner := h.user(acl.RoleEditor)
	strangerEmail, stranger := h.user(acl.RoleEditor)
	it := h.upload(owner, "a.mp4", sampleMP4(t))
	h.do("GET", it.URL, owner, nil, "Range", "bytes=0-99")
	h.do("GET", it.URL, stranger, nil)
	h.do("GET", it.URL, "", nil)
	wantStatus(t, h.do("GET", "/api/media/"+it.ID+"/access", stranger, nil), 404)

	var page audit.Page
	deadline := time.Now().Add(5 * time.Second)
	for len(page.Entries) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		page = decode[audit.Page](t, h.do("GET", "/api/media/"+it.ID+"/access?raw=1", owner, nil))
	}
	want := map[string]audit.Entry{
		ownerEmail:    {Actor: ownerEmail, Allowed: true, Range: "bytes=0-99"},
		strangerEmail: {Actor: strangerEmail, Allowed: false},
		"anonymous":   {Actor: "anonymous", Allowed: false},
	}
	if len(page.Entries) != 3 {
		t.Fatalf("audit = %+v", page.Entries)
	}
	for _, e := range page.Entries {
		w, ok := want[e.Actor]
		if !ok || e.Allowed != w.Allowed || e.Range != w.Range || e.At.IsZero() {
			t.Errorf("entry %+v, want %+v", e, w)
		}
	}
	var stored int
	h.pool.QueryRow(context.Background(), `SELECT count(*) FROM access_log WHERE media_id = $1`, it.ID).Scan(&stored)
	if stored != 3 {
		t.Errorf("%d rows in access_log", stored)
	}
}

// TestGrantSubjectsTheDatabaseRefuses checks that a subject PostgreSQL
// cannot even compare (NUL, bytes that are not UTF-8) is the client's
// mistake, a 400, on an item the caller manages: it was a 500.
func TestGrantSubjectsTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	it := h.upload(editor, "a.mp4", sampleMP4(t))
	for _, s := range []string{"group:a%00b", "group:a%FFb", "user:a%00@b.c", "a%00@b.c", "user:a%FF@b.c", "group:a%20b"} {
		wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/"+s, editor, jsonBody(`{"permission":"view"}`)), 400)
		wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/grants/"+s, editor, nil), 400)
	}
}

// TestGroupMembersTheDatabaseRefuses is the same for group memberships: a
// group name no group can have is not found, an email no user can have is
// invalid.
func TestGroupMembersTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	wantStatus(t, h.do("POST", "/api/groups", admin, jsonBody(`{"name":"press"}`)), 201)
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/api/groups/pr%00ess/members/a@b.c", 404},
		{"/api/groups/pr%FFess/members/a@b.c", 404},
		{"/api/groups/press/members/a%00@b.c", 400},
		{"/api/groups/press/members/a%FF@b.c", 400},
	} {
		wantStatus(t, h.do("PUT", tt.path, admin, nil), tt.status)
		wantStatus(t, h.do("DELETE", tt.path, admin, nil), tt.status)
	}
}

// TestReadAuditViews checks the grouped audit through the API: one row per
// reader and way in (via) with its requests and bytes: a viewer through a
// group's grant on a folder above the item, the owner, an admin, a share
// link, a refused stranger; a poster load is no request of it.
func TestReadAuditViews(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	ownerEmail, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	strangerEmail, stranger := h.user(acl.RoleEditor)
	f := h.folder(owner, "Projects", nil)
	video := sampleMP4(t)
	it := h.uploadTo(owner, f.ID, "clip.mp4", video)
	wantStatus(t, h.do("POST", "/api/groups", admin, jsonBody(`{"name":"team"}`), "Content-Type", "application/json"), http.StatusCreated)
	wantStatus(t, h.do("PUT", "/api/groups/team/members/"+viewerEmail, admin, nil), http.StatusNoContent)
	wantStatus(t, h.do("PUT", "/api/folders/"+f.ID+"/grants/group:team", owner, jsonBody(`{"permission":"view"}`), "Content-Type", "application/json"), http.StatusOK)
	h.addDerived(it, media.DerivedPoster, []byte("\xff\xd8\xff poster"))
	l := h.share(owner, "media", it.ID, "{}")

	wantStatus(t, h.do("GET", it.URL, viewer, nil, "Range", "bytes=0-99"), http.StatusPartialContent)
	wantStatus(t, h.do("GET", it.URL, viewer, nil, "Range", "bytes=100-299"), http.StatusPartialContent)
	wantStatus(t, h.do("HEAD", it.URL, viewer, nil), http.StatusOK)
	wantStatus(t, h.do("GET", derivedURL(it.ID, media.DerivedPoster), viewer, nil), http.StatusOK)
	wantStatus(t, h.do("GET", it.URL, owner, nil), http.StatusOK)
	wantStatus(t, h.do("GET", it.URL, admin, nil, "Range", "bytes=-10"), http.StatusPartialContent)
	wantStatus(t, h.browser().get(l.URL+"/download", "Range", "bytes=0-0"), http.StatusPartialContent)
	wantStatus(t, h.do("GET", it.URL, stranger, nil), http.StatusNotFound)

	size := int64(len(video))
	want := map[string]audit.View{
		viewerEmail:    {Via: "group:team on folder Projects", Allowed: true, Requests: 3, Bytes: 300},
		ownerEmail:     {Via: "owner", Allowed: true, Requests: 1, Bytes: size},
		"link:" + l.ID: {Via: audit.ViaLink, Allowed: true, Requests: 1, Bytes: 1},
		strangerEmail:  {Via: "", Allowed: false, Requests: 1, Bytes: 0},
	}
	var views []audit.View
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		views = decode[audit.Views](t, h.do("GET", "/api/media/"+it.ID+"/access", owner, nil)).Views
		var n int64
		for _, v := range views {
			n += v.Requests
		}
		if n >= 7 || time.Now().After(deadline) {
			break
		}
	}
	if len(views) != 5 {
		t.Fatalf("views = %+v, want 5", views)
	}
	for _, v := range views {
		if strings.HasPrefix(v.Who, "admin") {
			if v.Via != "admin" || v.Requests != 1 || v.Bytes != 10 {
				t.Errorf("the admin's view %+v", v)
			}
			continue
		}
		w, ok := want[v.Who]
		if !ok || v.Via != w.Via || v.Allowed != w.Allowed || v.Requests != w.Requests || v.Bytes != w.Bytes ||
			v.Started.IsZero() || v.Ended.Before(v.Started) {
			t.Errorf("view %+v, want %+v", v, w)
		}
	}
}
