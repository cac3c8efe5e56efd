package app

import (
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
)

// TestLibraryFiltersAndTrashPage checks the library's type filter, the
// search within a folder and its subfolders, the folder path of each item
// where the listing is not one folder's, the selection controls, and the
// trash page.
func TestLibraryFiltersAndTrashPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *config.Config) { c.TrashRetention = 36 * time.Hour })
	_, editor := h.user(acl.RoleEditor)
	a := h.folder(editor, "Shoots", nil)
	b := h.folder(editor, "Day <1>", &a.ID)
	h.uploadTo(editor, b.ID, "clip-one.mp4", sampleMP4(t))
	h.uploadTo(editor, a.ID, "clip-still.png", samplePNG(t))
	h.upload(editor, "clip-notes.txt", []byte("notes at the root"))
	trashed := h.upload(editor, "trashed <draft>.txt", []byte("deleted, to be listed in the trash"))

	page := func(name, path string, must, not []string) string {
		t.Helper()
		resp, body := h.page(path, editor)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: GET %s: %d", name, path, resp.StatusCode)
		}
		checkNoInline(t, name, body)
		for _, m := range must {
			if !strings.Contains(body, m) {
				t.Errorf("%s: page lacks %q", name, m)
			}
		}
		for _, n := range not {
			if strings.Contains(body, n) {
				t.Errorf("%s: page has %q", name, n)
			}
		}
		return body
	}
	path := func(p string) string { return `data-testid="item-path"><span class="sr">In: </span>` + p + `</span>` }

	page("videos in all media", "/?view=all&type=video", []string{"clip-one.mp4", `<option value="video" selected>`, path("Shoots/Day &lt;1&gt;")},
		[]string{"clip-still.png", "clip-notes.txt"})
	page("documents in all media", "/?view=all&type=document", []string{"clip-notes.txt", path("Library")}, []string{"clip-one.mp4", "clip-still.png"})
	page("an unknown type", "/?view=all&type=spreadsheet", []string{"clip-one.mp4", "clip-still.png", "clip-notes.txt", `<option value="" selected>`}, nil)
	page("search in a folder and below", "/?folder="+a.ID+"&subfolders=1&q=clip", []string{"clip-one.mp4", "clip-still.png",
		`name="subfolders" value="1" checked`, path("Shoots/Day &lt;1&gt;"), path("Shoots")}, []string{"clip-notes.txt", `data-testid="upload-input"`})
	page("search everywhere from a folder", "/?folder="+a.ID+"&q=clip", []string{"clip-one.mp4", "clip-still.png", "clip-notes.txt"}, []string{`value="1" checked`})
	page("a folder and below, images", "/?folder="+a.ID+"&subfolders=1&type=image", []string{"clip-still.png"}, []string{"clip-one.mp4", "clip-notes.txt"})
	page("a folder", "/?folder="+a.ID, []string{"clip-still.png", `data-testid="search-here"`, `data-testid="bulk-bar"`,
		`data-testid="select-all"`, `aria-label="Select clip-still.png"`, `data-testid="bulk-delete"`, `data-testid="bulk-grant-form"`},
		[]string{"clip-one.mp4", `data-testid="item-path"`})
	page("the root", "/", []string{"clip-notes.txt", "data-drop-root", `data-testid="nav-trash"`}, []string{`data-testid="search-here"`})

	page("empty trash", "/trash", []string{`data-testid="trash"`, `href="/trash" aria-current="page"`, "stays here for 36 hours",
		`data-testid="trash-table" hidden`}, []string{`data-testid="trash-row"`, `data-testid="trash-empty" hidden`})
	wantStatus(t, h.do("DELETE", "/api/media/"+trashed.ID, editor, nil), 204)
	page("trash", "/trash", []string{`<tr data-id="` + trashed.ID + `" data-kind="item" data-name="trashed &lt;draft&gt;.txt" data-testid="trash-row">`,
		`<td>Library</td>`, `data-testid="trash-restore"`, `data-testid="trash-purge"`, `data-testid="trash-empty" hidden`}, []string{`data-testid="trash-table" hidden`})
	if resp, _ := h.page("/trash", ""); resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("anonymous GET /trash: %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
}
