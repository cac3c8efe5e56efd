package app

import (
	"bytes"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
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

// TestTrashPaging: GET /api/trash answers a page at a time with the next
// page's cursor, and the trash page shows its first 50 entries with a
// "Load more" link to the next ones; bad paging parameters are a 400.
func TestTrashPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	var ids []string
	for i := range 51 {
		it := h.upload(editor, fmt.Sprintf("note-%02d.txt", i), []byte(fmt.Sprintf("note %d\n", i)))
		wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, editor, nil), 204)
		ids = append(ids, it.ID)
	}
	type page struct {
		Entries    []media.TrashEntry
		NextCursor string `json:"next_cursor"`
	}
	var seen []string
	for cursor, n := "", 0; ; n++ {
		p := decode[page](t, h.do("GET", "/api/trash?limit=20&cursor="+url.QueryEscape(cursor), editor, nil))
		for _, e := range p.Entries {
			seen = append(seen, e.ID)
		}
		if want := min(20, 51-20*n); len(p.Entries) != want {
			t.Fatalf("page %d: %d entries, want %d", n, len(p.Entries), want)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if slices.Sort(seen); !slices.Equal(seen, slices.Sorted(slices.Values(ids))) {
		t.Errorf("the pages listed %d entries, want the 51 once each", len(seen))
	}
	wantStatus(t, h.do("GET", "/api/trash?limit=0", editor, nil), 400)
	wantStatus(t, h.do("GET", "/api/trash?cursor=not-a-cursor", editor, nil), 400)

	resp, body := h.page("/trash", editor)
	if resp.StatusCode != 200 || strings.Count(body, `data-testid="trash-row"`) != 50 {
		t.Fatalf("GET /trash: %d with %d rows, want 200 and 50", resp.StatusCode, strings.Count(body, `data-testid="trash-row"`))
	}
	m := regexp.MustCompile(`<a class="btn" href="(/trash\?cursor=[^"]+)" data-action="trash-more" data-testid="trash-more">Load more</a>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET /trash: no Load more link")
	}
	resp, body = h.page(html.UnescapeString(m[1]), editor)
	if resp.StatusCode != 200 || strings.Count(body, `data-testid="trash-row"`) != 1 || strings.Contains(body, `data-testid="trash-more"`) {
		t.Errorf("the next page: %d with %d rows (Load more: %v), want 200, the last one, no link",
			resp.StatusCode, strings.Count(body, `data-testid="trash-row"`), strings.Contains(body, `data-testid="trash-more"`))
	}
}
