package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/testenv"
)

// TestBrowserEditors drives chromium behind nginx through the editors'
// pages at scale: a session that ends during a rename (the dialog signs in
// again and the typed name is saved), the links to copy on the media page,
// a folder share link made in the folder view, a viewer's first page, dark
// mode, and a sort select that arrow keys don't submit. Screenshots of each
// step go to the artifacts directory.
func TestBrowserEditors(t *testing.T) {
	testenv.LookPath(t, "chromium")
	s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: browserMaxUpload, serveArgs: []string{"serve"}})
	admin := s.addUser(t, "admin@editors.test", "admin")
	owner := s.addUser(t, "owner@editors.test", "editor")
	viewer := s.addUser(t, "viewer@editors.test", "viewer")
	sample := sampleMP4(t)
	video := s.mustUpload(t, owner.token, "sample.mp4", sample)
	s.mustUpload(t, owner.token, "notes.txt", []byte("the second item, so that sorting changes something\n"))
	var shots int
	o := s.newChrome(t, "owner", &shots)
	o.login(t, owner)

	t.Run("session-ends-during-rename", func(t *testing.T) {
		if st := o.navigate(t, "/m/"+string(video.ID)); st != http.StatusOK {
			o.fail(t, "GET /m/%s: status %d", video.ID, st)
		}
		const typed = "renamed after signing in.mp4"
		o.do(t, "typing a new name", 0,
			chromedp.Click(chromedp.CSS(`[data-testid=rename]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=rename-name]`)),
		)
		evalJS[bool](t, o, `(() => { document.querySelector("[data-testid=rename-name]").value = ""; return true })()`)
		o.do(t, "typing the new name", 0, chromedp.SendKeys(chromedp.CSS(`[data-testid=rename-name]`), typed))
		o.screenshot(t, "name-typed")
		endSessions(t, s)
		pollJS(t, o, "the session to end", 0, `fetch("/api/me").then(r => r.status)`, func(st int) bool { return st == http.StatusUnauthorized })

		o.do(t, "saving the name", 0, chromedp.Click(chromedp.CSS(`[data-testid=rename-save]`)))
		pollJS(t, o, "the session dialog", 0, `document.querySelector("[data-testid=session-dialog]").open`, func(b bool) bool { return b })
		if got := evalJS[string](t, o, `document.activeElement.id + "|" + document.querySelector("#rename-name").value + "|" + document.querySelector("#rename-dialog").open`); got != "session-password|"+typed+"|true" {
			t.Errorf("with the session dialog open: focus|typed name|rename dialog open = %q, want %q", got, "session-password|"+typed+"|true")
		}
		o.screenshot(t, "session-dialog")

		o.do(t, "a wrong password", 0, chromedp.SendKeys(chromedp.CSS(`[data-testid=session-password]`), "not the password"), chromedp.Click(chromedp.CSS(`[data-testid=session-submit]`)))
		msg := pollJS(t, o, "the dialog's error", 0, `(() => { const e = document.querySelector("#session-dialog .error"); return e.hidden ? "" : e.textContent })()`, func(v string) bool { return v != "" })
		if msg != "Wrong email or password." {
			t.Errorf("a wrong password in the dialog says %q", msg)
		}
		o.screenshot(t, "session-wrong-password")

		evalJS[bool](t, o, `(() => { document.querySelector("[data-testid=session-password]").value = ""; return true })()`)
		o.do(t, "signing in in the dialog", 0,
			chromedp.SendKeys(chromedp.CSS(`[data-testid=session-password]`), owner.password),
			chromedp.Click(chromedp.CSS(`[data-testid=session-submit]`)))
		got := pollJS(t, o, "the rename to go through", 0,
			`document.querySelector("#media-title").textContent + "|" + document.querySelector("#rename-dialog").open + "|" + document.querySelector("#session-dialog").open`,
			func(v string) bool { return strings.HasPrefix(v, typed+"|false|false") })
		t.Logf("after signing in again: %s", got)
		o.screenshot(t, "renamed")
		a := s.get(t, itemPath(video.ID, ""), owner.token)
		mustStatus(t, "GET the item", a, http.StatusOK)
		if it := decodeJSON[mediaItem](t, "GET the item", a); it.Filename != typed {
			t.Errorf("the API says the file is named %q, want %q", it.Filename, typed)
		}
	})

	t.Run("copy-links", func(t *testing.T) {
		pub := s.do(t, call{method: http.MethodPost, path: itemPath(video.ID, "/publish"), token: owner.token})
		mustStatus(t, "publish", pub, http.StatusOK, http.StatusCreated)
		public := s.base + decodeJSON[struct {
			PublicURL string `json:"public_url"`
		}](t, "publish", pub).PublicURL
		it := decodeJSON[mediaItem](t, "GET the item", s.get(t, itemPath(video.ID, ""), owner.token))
		stream := s.base + it.URL

		origin := s.base
		o.do(t, "letting the page use the clipboard", 0, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				if _, err := chromedp.Call(ctx, browser.SetPermission, browser.SetPermissionParams{
					Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true}, Setting: browser.PermissionSettingGranted, Origin: origin,
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		if st := o.navigate(t, "/m/"+string(video.ID)); st != http.StatusOK {
			o.fail(t, "GET /m/%s: status %d", video.ID, st)
		}
		// Record what the page hands the clipboard, and pass it on.
		evalJS[bool](t, o, `(() => { window.__copied = []; const w = navigator.clipboard.writeText.bind(navigator.clipboard);
			navigator.clipboard.writeText = (s) => { window.__copied.push(s); return w(s); }; return true })()`)
		for _, c := range []struct{ button, want string }{
			{"stream-copy", stream},
			{"public-copy", public},
			{"embed-copy", `<video controls preload="metadata" src="` + public + `"></video>`},
		} {
			n := evalJS[int](t, o, `window.__copied.length`)
			o.do(t, "clicking "+c.button, 0, chromedp.Click(chromedp.CSS(`[data-testid=`+c.button+`]`)))
			got := pollJS(t, o, c.button+" to copy", 0, fmt.Sprintf(`(() => { const t = document.querySelector("#toast");
				return window.__copied.length > %d && !t.hidden ? window.__copied[%d] + "|" + t.textContent + "|" + t.getAttribute("role") : "" })()`, n, n),
				func(v string) bool { return v != "" })
			if want := c.want + "|Copied to the clipboard.|status"; got != want {
				t.Errorf("%s: copied|toast|role %q, want %q", c.button, got, want)
			}
			if clip, err := tryJS[string](o, `navigator.clipboard.readText()`, 5*time.Second); err != nil {
				t.Logf("%s: the clipboard can't be read back here (%v); the page's writeText got %q", c.button, err, c.want)
			} else if clip != c.want {
				t.Errorf("%s: the clipboard holds %q, want %q", c.button, clip, c.want)
			}
			o.screenshot(t, c.button)
		}
	})

	t.Run("folder-share-link", func(t *testing.T) {
		f := s.sendJSON(t, http.MethodPost, "/api/folders", owner.token, map[string]any{"name": "Reel"})
		mustStatus(t, "create folder", f, http.StatusCreated)
		folder := decodeJSON[struct {
			ID string `json:"id"`
		}](t, "create folder", f).ID
		inside := s.mustUpload(t, owner.token, "inside-reel.txt", []byte("shared through the folder's link\n"))
		mustStatus(t, "move into the folder", s.sendJSON(t, http.MethodPatch, itemPath(inside.ID, ""), owner.token, map[string]any{"folder": folder}), http.StatusOK)

		if st := o.navigate(t, "/?folder="+url.QueryEscape(folder)); st != http.StatusOK {
			o.fail(t, "GET the folder: status %d", st)
		}
		o.do(t, "opening the share links", 0, chromedp.Click(chromedp.CSS(`[data-testid=folder-links]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=link-form]`)))
		pollJS(t, o, "the empty link list", 0, `document.querySelector("[data-testid=link-list]").textContent`, func(v string) bool { return v == "No share links yet." })
		o.screenshot(t, "links-dialog")
		o.do(t, "creating a link", 0, chromedp.SetValue(chromedp.CSS(`[data-testid=link-expiry]`), "86400"), chromedp.Click(chromedp.CSS(`[data-testid=link-create]`)))
		link := pollJS(t, o, "the new link", 0,
			`(() => { const n = document.querySelector("[data-testid=new-link]"); return !n.hidden && document.querySelectorAll("[data-testid=link]").length === 1 ? document.querySelector("[data-testid=new-link-url]").value : "" })()`,
			func(v string) bool { return v != "" })
		if !strings.HasPrefix(link, s.base+"/s/") {
			t.Fatalf("the folder's link %q is not under %s/s/", link, s.base)
		}
		o.screenshot(t, "link-created")

		anon := s.newChrome(t, "anonymous", &shots)
		if st := anon.navigate(t, strings.TrimPrefix(link, s.base)); st != http.StatusOK {
			anon.fail(t, "GET the folder's link: status %d", st)
		}
		if body := evalJS[string](t, anon, `document.body.textContent`); !strings.Contains(body, "inside-reel.txt") || !strings.Contains(body, "Reel") {
			t.Errorf("the folder's link in a fresh profile does not list Reel's file: %q", tail(body, 400))
		}
		anon.screenshot(t, "shared-folder")

		// Revoked through the dialog, the link stops working.
		o.do(t, "revoking", 0, chromedp.Click(chromedp.CSS(`[data-testid=revoke-link]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-ok]`)),
			chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
		pollJS(t, o, "the link gone from the list", 0, `document.querySelectorAll("[data-testid=link]").length`, func(n int) bool { return n == 0 })
		if st := anon.navigate(t, strings.TrimPrefix(link, s.base)); st != http.StatusGone {
			t.Errorf("the revoked folder link: status %d, want 410", st)
		}
	})

	t.Run("viewer-landing", func(t *testing.T) {
		// The item lies in a folder the viewer can't see; a group grant gives it.
		f := s.sendJSON(t, http.MethodPost, "/api/folders", owner.token, map[string]any{"name": "Cuts"})
		mustStatus(t, "create folder", f, http.StatusCreated)
		folder := decodeJSON[struct {
			ID string `json:"id"`
		}](t, "create folder", f).ID
		clip := s.mustUpload(t, owner.token, "crew-clip.mp4", sample)
		mustStatus(t, "move", s.sendJSON(t, http.MethodPatch, itemPath(clip.ID, ""), owner.token, map[string]any{"folder": folder}), http.StatusOK)
		mustStatus(t, "create group", s.sendJSON(t, http.MethodPost, "/api/groups", admin.token, map[string]any{"name": "crew"}), http.StatusCreated)
		mustStatus(t, "add member", s.do(t, call{method: http.MethodPut, path: "/api/groups/crew/members/" + viewer.email, token: admin.token}), http.StatusOK, http.StatusNoContent)
		mustStatus(t, "grant", s.sendJSON(t, http.MethodPut, itemPath(clip.ID, "/grants/group:crew"), owner.token, map[string]any{"permission": "view"}), http.StatusOK, http.StatusNoContent)

		v := s.newChrome(t, "viewer", &shots)
		v.login(t, viewer)
		got := evalJS[string](t, v, `(() => { const names = Array.from(document.querySelectorAll("[data-testid=items] .item-name"), a => a.textContent);
			return !!document.querySelector("[data-testid=shared-with-me]") + "|" + !!document.querySelector("[data-testid=empty]") + "|" + names.join(",") })()`)
		if got != "true|false|crew-clip.mp4" {
			t.Errorf("the viewer's first page: shared note|empty state|items = %q, want true|false|crew-clip.mp4", got)
		}
		v.screenshot(t, "viewer-landing")

		t.Run("dark-mode", func(t *testing.T) {
			bg := func(scheme string) string {
				v.do(t, "emulating prefers-color-scheme: "+scheme, 0, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
					return err
				}))
				out := evalJS[string](t, v, `(() => { const b = getComputedStyle(document.body), c = getComputedStyle(document.querySelector(".item"));
					return b.backgroundColor + "|" + b.color + "|" + c.backgroundColor + "|" + getComputedStyle(document.documentElement).colorScheme })()`)
				v.screenshot(t, scheme)
				return out
			}
			if got, want := bg("dark"), "rgb(18, 21, 28)|rgb(230, 233, 239)|rgb(27, 31, 41)|dark"; got != want {
				t.Errorf("dark: body background|text|tile|color-scheme = %q, want %q", got, want)
			}
			if got, want := bg("light"), "rgb(244, 245, 247)|rgb(28, 34, 48)|rgb(255, 255, 255)|light"; got != want {
				t.Errorf("light: body background|text|tile|color-scheme = %q, want %q", got, want)
			}
		})
	})

	t.Run("sort-arrow-key", func(t *testing.T) {
		if st := o.navigate(t, "/?view=all"); st != http.StatusOK {
			o.fail(t, "GET all media: status %d", st)
		}
		evalJS[bool](t, o, `(() => { window.__stayed = true; return true })()`)
		before := evalJS[string](t, o, `document.querySelector("#sort").value`)
		mark := o.net.mark()
		o.do(t, "an arrow key on the sort select", 0, chromedp.Focus(chromedp.CSS(`#sort`)), chromedp.KeyEvent(kb.ArrowDown))
		after := evalJS[string](t, o, `document.querySelector("#sort").value`)
		if after == before {
			o.fail(t, "ArrowDown left the sort select at %q: the test can't tell anything", before)
		}
		// A round trip to the server: a submit the key started would have
		// gone out before it comes back.
		evalJS[int](t, o, `fetch("/healthz").then(r => r.status)`)
		docs := o.net.since(mark, func(e netEvent) bool { return e.Type == "Document" })
		if stayed := evalJS[bool](t, o, `window.__stayed === true && !/sort=/.test(location.search)`); !stayed || len(docs) > 0 {
			t.Errorf("an arrow key on the sort select navigated: stayed %v, documents %s", stayed, describe(docs))
		}
		o.screenshot(t, "sort-chosen")
		o.do(t, "applying the sort", 0, chromedp.Click(chromedp.CSS(`[data-testid=sort-apply]`)))
		pollJS(t, o, "the sorted page", 0, `location.search`, func(q string) bool { return strings.Contains(q, "sort="+after) })
		o.screenshot(t, "sorted")
	})
}

// endSessions deletes every session row, as signing out everywhere does:
// the browsers' cookies name sessions that no longer exist.
func endSessions(t *testing.T, s *suite) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatalf("connecting to the suite's database: %v", err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, "DELETE FROM sessions")
	if err != nil {
		t.Fatalf("ending the sessions: %v", err)
	}
	if tag.RowsAffected() == 0 {
		t.Fatalf("no session to end")
	}
}
