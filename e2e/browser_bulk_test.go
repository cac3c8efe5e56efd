package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mediagate/mediagate/internal/testenv"
)

// placedItem is what these tests read of an item: where it is.
type placedItem struct {
	ID       flexID  `json:"id"`
	Filename string  `json:"filename"`
	Folder   *string `json:"folder"`
}

// TestBrowserBulk drives chromium behind nginx through the library's work
// on many items at once: 20 items moved and then deleted in one go, one of
// them refused (the editor may only view it) and named in the summary,
// Undo; items dragged onto a folder; the trash page restoring an item with
// its bytes and grants, and purging another; publishing again at the same
// URL and asking for a new one; an admin resetting a password that then
// signs in, deleting a user, renaming and deleting a group. Screenshots of each step go to the artifacts directory.
func TestBrowserBulk(t *testing.T) {
	testenv.LookPath(t, "chromium")
	s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: browserMaxUpload, serveArgs: []string{"serve"}})
	admin := s.addUser(t, "admin@bulk.test", "admin")
	owner := s.addUser(t, "owner@bulk.test", "editor")
	other := s.addUser(t, "other@bulk.test", "editor")
	viewer := s.addUser(t, "viewer@bulk.test", "viewer")
	archive := s.mustFolder(t, owner.token, "Archive")

	var mine []mediaItem
	for i := range 19 {
		mine = append(mine, s.mustUpload(t, owner.token, fmt.Sprintf("clip-%02d.txt", i), []byte(fmt.Sprintf("clip %d\n", i))))
	}
	theirs := s.mustUpload(t, other.token, "theirs.txt", []byte("the owner may only view this\n"))
	s.grantView(t, other, theirs, owner)

	var shots int
	o := s.newChrome(t, "owner", &shots)
	o.login(t, owner)

	// allMedia opens All media and waits for its n items.
	allMedia := func(t *testing.T, n int) {
		t.Helper()
		if st := o.navigate(t, "/?view=all"); st != http.StatusOK {
			o.fail(t, "GET all media: status %d", st)
		}
		pollJS(t, o, "the listing's items", 0, `document.querySelectorAll(".items > .item .item-check").length`, func(v int) bool { return v == n })
	}
	selectedCount := func() string {
		return evalJS[string](t, o, `document.querySelector("[data-testid=bulk-count]").textContent`)
	}
	// summary waits for the batch's summary and returns its head line and
	// the refused items' ids.
	summary := func(t *testing.T, head string) []string {
		t.Helper()
		got := pollJS(t, o, "the summary", 0, `(() => { const r = document.querySelector("[data-testid=bulk-result]");
			return r.hidden ? "" : r.querySelector("p").textContent })()`, func(v string) bool { return strings.HasPrefix(v, head) })
		t.Logf("summary: %s", got)
		return evalJS[[]string](t, o, `Array.from(document.querySelectorAll("[data-testid=bulk-refused] li"), li => li.dataset.id + "|" + li.textContent)`)
	}
	wantRefusedTheirs := func(t *testing.T, refused []string) {
		t.Helper()
		if len(refused) != 1 || !strings.HasPrefix(refused[0], string(theirs.ID)+"|theirs.txt: ") || len(refused[0]) < len(string(theirs.ID))+len("|theirs.txt: ")+5 {
			t.Errorf("refused: %q, want theirs.txt alone, with a reason", refused)
		}
	}

	t.Run("bulk-move", func(t *testing.T) {
		allMedia(t, 20)
		o.do(t, "selecting all on the page", 0, chromedp.Click(chromedp.CSS(`[data-testid=select-all]`)))
		if got := selectedCount(); got != "20 selected" {
			t.Fatalf("after select all: %q", got)
		}
		o.screenshot(t, "all-selected")
		o.do(t, "choosing Archive", 0,
			chromedp.Click(chromedp.CSS(`[data-testid=bulk-move]`)),
			chromedp.WaitVisible(chromedp.CSS(`#folder-picker [data-folder="`+archive+`"]`)),
			chromedp.Click(chromedp.CSS(`#folder-picker [data-folder="`+archive+`"]`)))
		pollJS(t, o, "the picker inside Archive", 0, `document.querySelector("[data-testid=picker-choose]").textContent`, func(v string) bool { return v == "Move into “Archive”" })
		o.screenshot(t, "picker")
		o.do(t, "moving", 0, chromedp.Click(chromedp.CSS(`[data-testid=picker-choose]`)))
		wantRefusedTheirs(t, summary(t, "19 moved · 1 refused"))
		if got := selectedCount(); got != "1 selected" {
			t.Errorf("after the move, the refused item alone should stay selected: %q", got)
		}
		o.screenshot(t, "moved")
		for _, it := range mine {
			if p := s.item(t, owner.token, it.ID); p.Folder == nil || *p.Folder != archive {
				t.Errorf("%s is in %v, want Archive", it.Filename, p.Folder)
			}
		}
		if p := s.item(t, other.token, theirs.ID); p.Folder != nil {
			t.Errorf("the refused item moved to %s", *p.Folder)
		}
	})

	t.Run("bulk-delete-undo", func(t *testing.T) {
		allMedia(t, 20)
		// The keyboard: Space toggles, Shift+arrows extend from there.
		o.do(t, "Space, then Shift+ArrowRight twice", 0,
			chromedp.Focus(chromedp.CSS(`.items > .item:nth-child(1) .item-check`)),
			chromedp.KeyEvent(" "),
			chromedp.KeyEvent(kb.ArrowRight, chromedp.KeyModifiers(chromedp.ModifierShift)),
			chromedp.KeyEvent(kb.ArrowRight, chromedp.KeyModifiers(chromedp.ModifierShift)))
		if got := selectedCount(); got != "3 selected" {
			t.Errorf("after Space and two Shift+ArrowRight: %q, want 3 selected", got)
		}
		// A shift-click selects the range from the last one clicked.
		o.click(t, `.items > .item:nth-child(6) .item-check`)
		o.click(t, `.items > .item:nth-child(11) .item-check`, chromedp.ModifierShift)
		if got := selectedCount(); got != "9 selected" {
			t.Errorf("3 selected, then a click and a shift-click over 6: %q, want 9 selected", got)
		}
		o.screenshot(t, "ranges")
		o.do(t, "selecting all, deleting", 0,
			chromedp.Click(chromedp.CSS(`[data-testid=bulk-clear]`)),
			chromedp.Click(chromedp.CSS(`[data-testid=select-all]`)),
			chromedp.Click(chromedp.CSS(`[data-testid=bulk-delete]`)))
		wantRefusedTheirs(t, summary(t, "19 moved to the trash · 1 refused"))
		pollJS(t, o, "the listing without them", 0, `document.querySelectorAll(".items > .item").length`, func(n int) bool { return n == 1 })
		o.screenshot(t, "deleted")
		for _, it := range mine {
			expectStatus(t, "GET a deleted item", s.get(t, itemPath(it.ID, ""), owner.token), http.StatusNotFound)
		}
		expectStatus(t, "GET the refused item", s.get(t, itemPath(theirs.ID, ""), owner.token), http.StatusOK)

		o.do(t, "Undo", 0, chromedp.Click(chromedp.CSS(`[data-testid=bulk-undo]`)))
		summary(t, "19 restored")
		pollJS(t, o, "the listing with them again", 0, `document.querySelectorAll(".items > .item").length`, func(n int) bool { return n == 20 })
		o.screenshot(t, "undone")
		for _, it := range mine {
			if p := s.item(t, owner.token, it.ID); p.Folder == nil || *p.Folder != archive {
				t.Errorf("restored %s is in %v, want Archive", it.Filename, p.Folder)
			}
		}
	})

	t.Run("drag-onto-folder", func(t *testing.T) {
		target := s.mustFolder(t, owner.token, "Target")
		loose := s.mustUpload(t, owner.token, "drag-me.txt", []byte("dragged onto a folder\n"))
		if st := o.navigate(t, "/"); st != http.StatusOK {
			o.fail(t, "GET /: status %d", st)
		}
		o.drag(t, `.items > .item[data-id="`+string(loose.ID)+`"] .item-name`, `.sidebar .tree a[href="/?folder=`+target+`"]`)
		summary(t, "1 moved")
		if p := s.item(t, owner.token, loose.ID); p.Folder == nil || *p.Folder != target {
			t.Errorf("drag-me.txt is in %v, want Target", p.Folder)
		}
		o.screenshot(t, "dragged-one")

		// The selection goes along with the item dragged: two of Archive's
		// items onto "Library", the root.
		if st := o.navigate(t, "/?folder="+url.QueryEscape(archive)); st != http.StatusOK {
			o.fail(t, "GET Archive: status %d", st)
		}
		a, b := mine[0], mine[1]
		o.do(t, "selecting two", 0,
			chromedp.Click(chromedp.CSS(`.items > .item[data-id="`+string(a.ID)+`"] .item-check`)),
			chromedp.Click(chromedp.CSS(`.items > .item[data-id="`+string(b.ID)+`"] .item-check`)))
		o.drag(t, `.items > .item[data-id="`+string(b.ID)+`"] .item-name`, `.sidebar [data-drop-root]`)
		summary(t, "2 moved")
		for _, it := range []mediaItem{a, b} {
			if p := s.item(t, owner.token, it.ID); p.Folder != nil {
				t.Errorf("%s is in %s, want the root", it.Filename, *p.Folder)
			}
		}
		o.screenshot(t, "dragged-selection")

		// Give access… to the two, now at the root.
		if st := o.navigate(t, "/"); st != http.StatusOK {
			o.fail(t, "GET /: status %d", st)
		}
		o.do(t, "giving the viewer access", 0,
			chromedp.Click(chromedp.CSS(`.items > .item[data-id="`+string(a.ID)+`"] .item-check`)),
			chromedp.Click(chromedp.CSS(`.items > .item[data-id="`+string(b.ID)+`"] .item-check`)),
			chromedp.Click(chromedp.CSS(`[data-testid=bulk-grant]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-grant-name]`)),
			chromedp.SendKeys(chromedp.CSS(`[data-testid=bulk-grant-name]`), viewer.email),
			chromedp.Click(chromedp.CSS(`[data-testid=bulk-grant-save]`)))
		summary(t, "2 given access")
		for _, it := range []mediaItem{a, b} {
			expectStatus(t, "the viewer's GET of "+it.Filename, s.get(t, smediaPath(it.ID, ""), viewer.token), http.StatusOK)
		}
		o.screenshot(t, "access-given")
	})

	t.Run("trash-restore", func(t *testing.T) {
		body := []byte("bytes that must come back with the item\n")
		kept := s.mustUpload(t, owner.token, "kept.txt", body)
		s.grantView(t, owner, kept, viewer)
		gone := s.mustUpload(t, owner.token, "gone.txt", []byte("purged for good\n"))
		mustStatus(t, "delete gone.txt", s.do(t, call{method: http.MethodDelete, path: itemPath(gone.ID, ""), token: owner.token}), http.StatusNoContent)

		if st := o.navigate(t, "/m/"+string(kept.ID)); st != http.StatusOK {
			o.fail(t, "GET /m/%s: status %d", kept.ID, st)
		}
		o.do(t, "deleting on the media page", 0, chromedp.Click(chromedp.CSS(`[data-testid=delete]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-ok]`)), chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
		summary(t, "“kept.txt” moved to the trash.")
		o.screenshot(t, "moved-to-trash")
		expectStatus(t, "the viewer's GET of a trashed item", s.get(t, smediaPath(kept.ID, ""), viewer.token), http.StatusNotFound)

		o.do(t, "opening the trash", 0, chromedp.Click(chromedp.CSS(`[data-testid=nav-trash]`)))
		rows := `Array.from(document.querySelectorAll("[data-testid=trash-row]"), r => r.dataset.id).sort().join(",")`
		want := []string{string(kept.ID), string(gone.ID)}
		slices.Sort(want)
		pollJS(t, o, "the trash's rows", 0, rows, func(v string) bool { return v == strings.Join(want, ",") })
		o.screenshot(t, "trash")
		o.do(t, "restoring kept.txt", 0, chromedp.Click(chromedp.CSS(`[data-testid=trash-row][data-id="`+string(kept.ID)+`"] [data-testid=trash-restore]`)))
		pollJS(t, o, "kept.txt gone from the trash", 0, rows, func(v string) bool { return v == string(gone.ID) })
		for _, u := range []*user{owner, viewer} {
			a := s.get(t, smediaPath(kept.ID, ""), u.token)
			if expectStatus(t, u.email+"'s GET of the restored item", a, http.StatusOK) && string(a.Body) != string(body) {
				t.Errorf("%s reads %q from the restored item, want %q", u.email, a.Body, body)
			}
		}
		o.do(t, "deleting gone.txt forever", 0, chromedp.Click(chromedp.CSS(`[data-testid=trash-row][data-id="`+string(gone.ID)+`"] [data-testid=trash-purge]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-ok]`)), chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
		pollJS(t, o, "the empty trash", 0, `!document.querySelector("[data-testid=trash-empty]").hidden && document.querySelector("[data-testid=trash-table]").hidden`, func(v bool) bool { return v })
		o.screenshot(t, "trash-empty")
		expectStatus(t, "restoring a purged item", s.do(t, call{method: http.MethodPost, path: "/api/trash/" + url.PathEscape(string(gone.ID)) + "/restore", token: owner.token}), http.StatusNotFound)
	})

	t.Run("trash-load-more", func(t *testing.T) {
		var ids []string
		for i := range 51 {
			ids = append(ids, string(s.mustUpload(t, owner.token, fmt.Sprintf("old-%02d.txt", i), []byte(fmt.Sprintf("old %d\n", i))).ID))
		}
		// All media is past its first page now too: its Load more shares the
		// page fetch with the trash's.
		listed := len(decodeJSON[struct {
			Items []mediaItem `json:"items"`
		}](t, "list", s.get(t, "/api/media?limit=200", owner.token)).Items)
		allItems := `document.querySelectorAll(".items > .item").length + "|" + !!document.querySelector("[data-testid=load-more]")`
		if st := o.navigate(t, "/?view=all"); st != http.StatusOK {
			o.fail(t, "GET all media: status %d", st)
		}
		first := pollJS(t, o, "all media's first page", 0, allItems, func(v string) bool { return strings.HasSuffix(v, "|true") })
		if n, _, _ := strings.Cut(first, "|"); n == fmt.Sprint(listed) {
			t.Errorf("all media's first page shows all %d items and Load more", listed)
		}
		o.do(t, "loading more media", 0, chromedp.Click(chromedp.CSS(`[data-testid=load-more]`)))
		pollJS(t, o, "all media's second page", 0, allItems, func(v string) bool { return v == fmt.Sprint(listed, "|false") })

		mustStatus(t, "batch delete", s.sendJSON(t, http.MethodPost, "/api/media/batch", owner.token, map[string]any{"action": "delete", "ids": ids}), http.StatusOK)
		if st := o.navigate(t, "/trash"); st != http.StatusOK {
			o.fail(t, "GET /trash: status %d", st)
		}
		count := `document.querySelectorAll("[data-testid=trash-row]").length`
		pollJS(t, o, "the trash's first page", 0, count, func(v int) bool { return v == 50 })
		o.do(t, "loading more", 0, chromedp.Click(chromedp.CSS(`[data-testid=trash-more]`)))
		pollJS(t, o, "the trash's second page", 0, count+` + "|" + !!document.querySelector("[data-testid=trash-more]")`,
			func(v string) bool { return v == "51|false" })
		o.screenshot(t, "trash-load-more")
		rows := evalJS[[]string](t, o, `Array.from(document.querySelectorAll("[data-testid=trash-row]"), r => r.dataset.id)`)
		if !slices.Equal(slices.Sorted(slices.Values(rows)), slices.Sorted(slices.Values(ids))) {
			t.Errorf("the two pages' rows are %v, want the 51 deleted once each", rows)
		}
		// The row the second page brought works as the others.
		last := rows[len(rows)-1]
		o.do(t, "restoring the loaded row", 0, chromedp.Click(chromedp.CSS(`[data-testid=trash-row][data-id="`+last+`"] [data-testid=trash-restore]`)))
		pollJS(t, o, "the loaded row gone", 0, count, func(v int) bool { return v == 50 })
		expectStatus(t, "GET of the item restored from the second page", s.get(t, smediaPath(flexID(last), ""), owner.token), http.StatusOK)
		for _, id := range ids {
			if id != last {
				mustStatus(t, "purge", s.do(t, call{method: http.MethodDelete, path: "/api/trash/" + id, token: owner.token}), http.StatusNoContent)
			}
		}
	})

	t.Run("republish-keeps-url", func(t *testing.T) {
		it := s.mustUpload(t, owner.token, "poster.txt", []byte("published, withdrawn, published again\n"))
		if st := o.navigate(t, "/m/"+string(it.ID)); st != http.StatusOK {
			o.fail(t, "GET /m/%s: status %d", it.ID, st)
		}
		publicURL := `(() => { const on = document.querySelector(".publish-on"); return on.hidden ? "" : document.querySelector("[data-testid=public-url]").value })()`
		public := func(u string) string { return strings.TrimPrefix(u, s.base) }
		o.do(t, "publishing", 0, chromedp.Click(chromedp.CSS(`[data-testid=publish-button]`)))
		first := pollJS(t, o, "the public URL", 0, publicURL, func(v string) bool { return v != "" })
		expectStatus(t, "GET the public URL", s.get(t, public(first), ""), http.StatusOK)
		o.do(t, "unpublishing", 0, chromedp.Click(chromedp.CSS(`[data-testid=unpublish]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-ok]`)), chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
		pollJS(t, o, "unpublished", 0, publicURL, func(v string) bool { return v == "" })
		expectStatus(t, "GET the withdrawn URL", s.get(t, public(first), ""), http.StatusNotFound)
		o.screenshot(t, "unpublished")
		o.do(t, "publishing again", 0, chromedp.Click(chromedp.CSS(`[data-testid=publish-button]`)))
		if again := pollJS(t, o, "the public URL again", 0, publicURL, func(v string) bool { return v != "" }); again != first {
			t.Errorf("published again at %q, want the same URL %q", again, first)
		}
		expectStatus(t, "GET the URL published again", s.get(t, public(first), ""), http.StatusOK)
		o.screenshot(t, "published-again")
		o.do(t, "asking for a new URL", 0, chromedp.Click(chromedp.CSS(`[data-testid=publish-replace]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-ok]`)), chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
		fresh := pollJS(t, o, "a new public URL", 0, publicURL, func(v string) bool { return v != "" && v != first })
		expectStatus(t, "GET the old URL", s.get(t, public(first), ""), http.StatusNotFound)
		expectStatus(t, "GET the new URL", s.get(t, public(fresh), ""), http.StatusOK)
		o.screenshot(t, "new-url")
	})

	t.Run("admin-pages", func(t *testing.T) {
		a := s.newChrome(t, "admin", &shots)
		a.login(t, admin)
		if st := a.navigate(t, "/admin/users"); st != http.StatusOK {
			a.fail(t, "GET /admin/users: status %d", st)
		}
		const fresh = "a new password, given by the admin"
		a.do(t, "resetting the owner's password", 0,
			chromedp.Click(chromedp.CSS(`tr[data-email="`+owner.email+`"] [data-testid=reset-password]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=reset-password-input]`)),
			chromedp.SendKeys(chromedp.CSS(`[data-testid=reset-password-input]`), fresh))
		a.screenshot(t, "reset-dialog")
		a.do(t, "saving", 0, chromedp.Click(chromedp.CSS(`[data-testid=reset-save]`)))
		pollJS(t, a, "the toast", 0, `(() => { const t = document.querySelector("#toast"); return t.hidden ? "" : t.textContent })()`,
			func(v string) bool { return strings.HasPrefix(v, "New password set for "+owner.email) })
		a.screenshot(t, "reset-done")
		// The owner's session ended with it; the new password signs in.
		pollJS(t, o, "the owner signed out", 0, `fetch("/api/me").then(r => r.status)`, func(st int) bool { return st == http.StatusUnauthorized })
		o.login(t, &user{email: owner.email, password: fresh})
		o.screenshot(t, "signed-in-with-new-password")

		// Deleting a user gives what they own to the admin chosen.
		a.do(t, "deleting the other editor", 0,
			chromedp.Click(chromedp.CSS(`tr[data-email="`+other.email+`"] [data-testid=delete-user]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=reassign-to]`)))
		a.screenshot(t, "delete-user-dialog")
		a.do(t, "confirming", 0, chromedp.Click(chromedp.CSS(`[data-testid=delete-user-confirm]`)))
		pollJS(t, a, "the user's row gone", 0, `!document.querySelector('tr[data-email="`+other.email+`"]')`, func(v bool) bool { return v })
		if it := decodeJSON[struct {
			Owner string `json:"owner"`
		}](t, "GET theirs.txt", s.get(t, itemPath(theirs.ID, ""), admin.token)); it.Owner != admin.email {
			t.Errorf("theirs.txt belongs to %q after its owner was deleted, want %q", it.Owner, admin.email)
		}

		// A group renamed, then deleted.
		mustStatus(t, "create group", s.sendJSON(t, http.MethodPost, "/api/groups", admin.token, map[string]any{"name": "crew"}), http.StatusCreated)
		if st := a.navigate(t, "/admin/groups"); st != http.StatusOK {
			a.fail(t, "GET /admin/groups: status %d", st)
		}
		a.do(t, "renaming crew", 0,
			chromedp.Click(chromedp.CSS(`[data-group=crew] [data-testid=rename-group]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=group-new-name]`)),
			chromedp.SetValue(chromedp.CSS(`[data-testid=group-new-name]`), "stage-crew"),
			chromedp.Click(chromedp.CSS(`[data-testid=group-rename-save]`)))
		pollJS(t, a, "the renamed group", 0, `Array.from(document.querySelectorAll("[data-group]"), g => g.dataset.group).join(",")`, func(v string) bool { return v == "stage-crew" })
		a.screenshot(t, "group-renamed")
		a.do(t, "deleting it", 0, chromedp.Click(chromedp.CSS(`[data-group=stage-crew] [data-testid=delete-group]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-ok]`)), chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
		pollJS(t, a, "no group left", 0, `document.querySelectorAll("[data-group]").length`, func(n int) bool { return n == 0 })
		if groups := decodeJSON[struct {
			Groups []struct {
				Name string `json:"name"`
			} `json:"groups"`
		}](t, "GET /api/groups", s.get(t, "/api/groups", admin.token)).Groups; len(groups) != 0 {
			t.Errorf("groups after the delete: %+v", groups)
		}
	})
}

// drag drags the element at from onto the element at to as a person does:
// the mouse presses on it and moves away, the browser starts a drag (the
// page's dragstart fills its DataTransfer), and the drag is then carried
// over the target and dropped there through Input.dispatchDragEvent, which
// fires the page's dragenter, dragover and drop with that data. It fails t
// when no drag starts.
func (c *chrome) drag(t testing.TB, from, to string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
	defer cancel()
	center := func(sel string) (float64, float64) {
		p := evalJS[[]float64](t, c, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return [];
			e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2] })()`, sel))
		if len(p) != 2 {
			c.fail(t, "dragging: no element %s", sel)
		}
		return p[0], p[1]
	}
	tx, ty := center(to)
	fx, fy := center(from) // after the target's scrolling, which may have moved it
	got := make(chan *input.DragData, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := chromedp.Listen(lctx, func(ev any) {
		if d, ok := ev.(*input.EventDragIntercepted); ok {
			select {
			case got <- d.Data:
			default:
			}
		}
	}); err != nil {
		c.fail(t, "dragging: %v", err)
	}
	held := func(p *input.DispatchMouseEventParams) { p.Button, p.Buttons = input.MouseButtonLeft, 1 }
	drag := func(typ input.DispatchDragEventType, data *input.DragData) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: tx, Y: ty, Data: data})
			return err
		})
	}
	c.do(t, "pressing on "+from+" and moving away", 0,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: true})
			return err
		}),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, fx, fy),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, fx, fy, chromedp.ButtonType(input.MouseButtonLeft), chromedp.ClickCount(1)),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, fx+20, fy+20, held),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, tx, ty, held))
	var data *input.DragData
	select {
	case data = <-got:
	case <-ctx.Done():
		c.fail(t, "dragging %s: no drag started", from)
	}
	c.do(t, "dropping onto "+to, 0,
		drag(input.DispatchDragEventTypeDragEnter, data),
		drag(input.DispatchDragEventTypeDragOver, data),
		drag(input.DispatchDragEventTypeDrop, data),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, tx, ty, chromedp.ButtonType(input.MouseButtonLeft), chromedp.ClickCount(1)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: false})
			return err
		}))
}

// click clicks the element at sel with the mouse, holding modifiers.
func (c *chrome) click(t testing.TB, sel string, modifiers ...chromedp.Modifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(sel)))
	if err == nil && len(nodes) == 0 {
		err = fmt.Errorf("no such element")
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.MouseClickNode(nodes[0], chromedp.ButtonModifiers(modifiers...)))
	}
	if err != nil {
		c.fail(t, "clicking %s: %v", sel, err)
	}
}

// mustFolder creates a folder at the root and returns its id.
func (s *suite) mustFolder(t testing.TB, token, name string) string {
	t.Helper()
	a := s.sendJSON(t, http.MethodPost, "/api/folders", token, map[string]any{"name": name})
	mustStatus(t, "create folder "+name, a, http.StatusCreated)
	return decodeJSON[struct {
		ID string `json:"id"`
	}](t, "create folder", a).ID
}

// item is GET /api/media/{id} as token's user.
func (s *suite) item(t testing.TB, token string, id flexID) placedItem {
	t.Helper()
	a := s.get(t, itemPath(id, ""), token)
	mustStatus(t, "GET item "+string(id), a, http.StatusOK)
	return decodeJSON[placedItem](t, "GET item", a)
}
