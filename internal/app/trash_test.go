package app

import (
	"bytes"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/media"
)

// TestTrashEndpoints: DELETE puts an item in the trash (its stream, share
// link and published URL answer 404, it leaves the listing and shows in
// GET /api/trash for its managers only); restore brings all of it back at
// the same URLs; purge removes it for good. Folders likewise, with the
// name conflict and the note of a restore without its folder.
func TestTrashEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	editorEmail, editor := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	_, stranger := h.user(acl.RoleEditor)
	_, admin := h.user(acl.RoleAdmin)
	video := sampleMP4(t)
	it := h.upload(editor, "a.mp4", video)
	pub := decode[map[string]string](t, h.do("POST", "/api/media/"+it.ID+"/publish", editor, nil))["public_url"]
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/user:"+viewerEmail, editor, jsonBody(`{"permission":"view"}`)), 200)
	link := h.share(editor, "media", it.ID, `{}`)
	b := h.browser()
	reachable := func(want int) {
		t.Helper()
		for _, get := range []struct {
			what, path, token string
		}{{"stream", it.URL, viewer}, {"public", pub, ""}, {"link", link.URL + "/download", ""}, {"api", "/api/media/" + it.ID, editor}} {
			var resp = h.do("GET", get.path, get.token, nil)
			if get.what == "link" {
				resp = b.get(get.path)
			}
			body := readAll(t, resp)
			if resp.StatusCode != want {
				t.Errorf("%s %s: %d, want %d", get.what, get.path, resp.StatusCode, want)
			} else if want == 200 && get.what != "api" && !bytes.Equal(body, video) {
				t.Errorf("%s: not the same bytes", get.what)
			}
		}
	}
	reachable(200)

	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, viewer, nil), 403)
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, editor, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, editor, nil), 404)
	reachable(404)
	list := decode[struct{ Items []itemJSON }](t, h.do("GET", "/api/media", editor, nil))
	if len(list.Items) != 0 {
		t.Errorf("listing with the item in the trash: %+v", list.Items)
	}
	trash := decode[struct{ Entries []media.TrashEntry }](t, h.do("GET", "/api/trash", editor, nil)).Entries
	if len(trash) != 1 || trash[0].ID != it.ID || trash[0].Kind != "item" || trash[0].Name != "a.mp4" ||
		trash[0].DeletedBy != editorEmail || trash[0].Size != int64(len(video)) || trash[0].FolderPath != "" {
		t.Errorf("the editor's trash: %+v", trash)
	}
	for _, who := range []string{viewer, stranger} {
		if got := decode[struct{ Entries []media.TrashEntry }](t, h.do("GET", "/api/trash", who, nil)).Entries; len(got) != 0 {
			t.Errorf("another's trash: %+v", got)
		}
	}
	wantStatus(t, h.do("GET", "/api/trash", "", nil), 401)
	wantStatus(t, h.do("POST", "/api/trash/"+it.ID+"/restore", viewer, nil), 403)
	wantStatus(t, h.do("POST", "/api/trash/"+it.ID+"/restore", stranger, nil), 404)
	wantStatus(t, h.do("POST", "/api/trash/not-an-id/restore", editor, nil), 404)
	wantStatus(t, h.do("DELETE", "/api/trash/"+it.ID, stranger, nil), 404)

	resp := h.do("POST", "/api/trash/"+it.ID+"/restore", editor, nil)
	wantStatus(t, resp, 200)
	if r := decode[media.Restored](t, resp); r != (media.Restored{ID: it.ID, Kind: "item", Name: "a.mp4"}) {
		t.Errorf("restore answered %+v", r)
	}
	reachable(200)

	// Purge: by an admin, for good.
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, editor, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/trash/"+it.ID, admin, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/trash/"+it.ID, admin, nil), 404)
	wantStatus(t, h.do("POST", "/api/trash/"+it.ID+"/restore", editor, nil), 404)
	reachable(404)

	// Folders: a name taken meanwhile is a conflict; a folder gone sends
	// what was in it to the root, with a note.
	top := h.folder(editor, "Top", nil)
	inner := h.uploadTo(editor, top.ID, "in.mp4", video)
	wantStatus(t, h.do("DELETE", "/api/media/"+inner.ID, editor, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/folders/"+top.ID, editor, nil), 204)
	again := h.folder(editor, "Top", nil)
	wantStatus(t, h.do("POST", "/api/trash/"+top.ID+"/restore", editor, nil), 409)
	wantStatus(t, h.do("DELETE", "/api/folders/"+again.ID, editor, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/trash/"+again.ID, editor, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/trash/"+top.ID, editor, nil), 204)
	resp = h.do("POST", "/api/trash/"+inner.ID+"/restore", editor, nil)
	wantStatus(t, resp, 200)
	if r := decode[media.Restored](t, resp); r.Note == "" {
		t.Errorf("restore without its folder: %+v, want a note", r)
	}
	wantStatus(t, h.do("GET", inner.URL, editor, nil), 200)
}
