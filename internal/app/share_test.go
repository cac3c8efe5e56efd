package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/audit"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/metrics"
	"github.com/mediagate/mediagate/internal/session"
)

// browser is a fresh client with its own cookie jar that does not follow
// redirects: one person's browser.
type browser struct {
	h *harness
	c *http.Client
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, body io.Reader, header ...string) *http.Response {
	b.h.t.Helper()
	req, err := http.NewRequest(method, b.h.srv.URL+path, body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	b.h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (b *browser) get(path string, header ...string) *http.Response {
	b.h.t.Helper()
	return b.do("GET", path, nil, header...)
}

// unlock posts the password form as a browser on site (same-origin or
// cross-site) would.
func (b *browser) unlock(path, password, site string) *http.Response {
	b.h.t.Helper()
	origin := b.h.srv.URL
	if site != "same-origin" {
		origin = "http://evil.example"
	}
	return b.do("POST", path, strings.NewReader(url.Values{"password": {password}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", origin, "Sec-Fetch-Site", site)
}

// share makes a link on kind ("media" or "folders") id with the JSON body.
func (h *harness) share(token, kind, id, body string) linkJSON {
	h.t.Helper()
	resp := h.do("POST", "/api/"+kind+"/"+id+"/links", token, strings.NewReader(body), "Content-Type", "application/json")
	wantStatus(h.t, resp, http.StatusCreated)
	return decode[linkJSON](h.t, resp)
}

// accessLog polls the item's read audit until it holds want requests by
// who, and returns them one entry per request: an entry that stands for n
// identical requests (audit.FoldWindow) is n entries with a share of its
// bytes each.
func (h *harness) accessLog(token, item, who string, want int) []audit.Entry {
	h.t.Helper()
	var mine []audit.Entry
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page := decode[audit.Page](h.t, h.do("GET", "/api/media/"+item+"/access?raw=1", token, nil))
		mine = mine[:0]
		for _, e := range page.Entries {
			if e.Actor != who {
				continue
			}
			if e.Requests < 1 || (e.Requests > 1) == e.Last.IsZero() {
				h.t.Fatalf("audit entry %+v: a count below 1, or last_at without a count above 1", e)
			}
			n := e.Requests
			e.Bytes, e.Requests, e.Last = e.Bytes/n, 1, time.Time{}
			for range n {
				mine = append(mine, e)
			}
		}
		if len(mine) >= want || time.Now().After(deadline) {
			return mine
		}
	}
}

func wantShareHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s %s: Referrer-Policy %q, want no-referrer", resp.Request.Method, resp.Request.URL.Path, got)
	}
}

func tokenOf(l linkJSON) string { return strings.TrimPrefix(l.URL, sharePrefix) }

func TestShareItemLinkPlays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	it := h.upload(owner, "clip.mp4", video)
	resp := h.do("POST", "/api/media/"+it.ID+"/links", owner, nil) // no body: no expiry, no password
	wantStatus(t, resp, http.StatusCreated)
	l := decode[linkJSON](t, resp)
	if !strings.HasPrefix(l.URL, sharePrefix+acl.LinkTokenPrefix) || len(tokenOf(l)) != 47 || !acl.ValidID(l.ID) || l.ExpiresAt != nil {
		t.Fatalf("created link = %+v", l)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the response showing the token may be cached: %q", resp.Header.Get("Cache-Control"))
	}

	b := h.browser()
	page := b.get(l.URL)
	wantStatus(t, page, 200)
	wantShareHeaders(t, page)
	html := string(readAll(t, page))
	src := l.URL + "/download"
	if !strings.Contains(html, `<video id="player" controls preload="metadata" src="`+src+`"`) || !strings.Contains(html, `>clip.mp4</h1>`) {
		t.Errorf("the share page has no player on %s:\n%s", src, html)
	}
	if got := page.Header.Get("Content-Security-Policy"); got != h.app.pages.assets.CSP() {
		t.Errorf("page CSP = %q, want the page CSP", got)
	}
	if page.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("share page Cache-Control = %q", page.Header.Get("Cache-Control"))
	}

	full := b.get(src)
	wantStatus(t, full, 200)
	wantShareHeaders(t, full)
	if got := readAll(t, full); !bytes.Equal(got, video) {
		t.Fatalf("downloaded %d bytes, not the upload's %d", len(got), len(video))
	}
	if full.Header.Get("Content-Type") != "video/mp4" || full.Header.Get("Cache-Control") != config.PrivateCacheControl ||
		full.Header.Get("Content-Security-Policy") != config.PlayerCSP {
		t.Errorf("download headers = %v", full.Header)
	}
	part := b.get(src, "Range", "bytes=100-199")
	wantStatus(t, part, http.StatusPartialContent)
	wantShareHeaders(t, part)
	if got := readAll(t, part); !bytes.Equal(got, video[100:200]) {
		t.Errorf("Range 100-199 gave %d other bytes", len(got))
	}
	head := b.do("HEAD", src, nil)
	wantStatus(t, head, 200)
	if head.ContentLength != int64(len(video)) || len(readAll(t, head)) != 0 {
		t.Errorf("HEAD: Content-Length %d, want %d and no body", head.ContentLength, len(video))
	}
	// Nobody signed in, nothing unlocked: no session was started or written.
	for _, r := range []*http.Response{page, full, part, head} {
		if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("%s %s set a cookie: %v", r.Request.Method, r.Request.URL.Path, c)
		}
	}
	// The same bytes for the owner through the private URL: one delivery path.
	if !bytes.Equal(readAll(t, h.do("GET", it.URL, owner, nil)), video) {
		t.Error("private URL differs")
	}

	entries := h.accessLog(owner, it.ID, "link:"+l.ID, 3)
	if len(entries) != 3 {
		t.Fatalf("audit entries for link:%s = %+v, want 3", l.ID, entries)
	}
	ranges := map[string]bool{}
	for _, e := range entries {
		if !e.Allowed {
			t.Errorf("audit entry %+v: not allowed", e)
		}
		ranges[e.Range] = true
	}
	if !ranges["bytes=100-199"] || !ranges[""] {
		t.Errorf("audit ranges = %v", ranges)
	}
}

func TestShareFolderLink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	top := h.folder(owner, "Holiday", nil)
	sub := h.folder(owner, "Day 1", &top.ID)
	inTop := h.uploadTo(owner, top.ID, "top.mp4", video)
	inSub := h.uploadTo(owner, sub.ID, "beach <1>.mp4", video)
	outside := h.upload(owner, "secret.mp4", video)
	l := h.share(owner, "folders", top.ID, `{}`)
	base := l.URL

	b := h.browser()
	page := b.get(base)
	wantStatus(t, page, 200)
	wantShareHeaders(t, page)
	html := string(readAll(t, page))
	for _, want := range []string{
		">Holiday</h1>",
		`href="` + base + `/item/` + inTop.ID + `"`, `href="` + base + `/download/` + inTop.ID + `"`,
		`href="` + base + `/item/` + inSub.ID + `"`, `href="` + base + `/download/` + inSub.ID + `"`,
		"beach &lt;1&gt;.mp4", "Day 1",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("folder page lacks %s", want)
		}
	}
	if strings.Contains(html, outside.ID) || strings.Contains(html, "secret.mp4") {
		t.Error("folder page lists an item outside the folder")
	}

	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"item in the folder", base + "/download/" + inTop.ID, 200},
		{"item in a subfolder", base + "/download/" + inSub.ID, 200},
		{"item outside", base + "/download/" + outside.ID, 404},
		{"no item", base + "/download", 404},
		{"malformed item", base + "/download/nope", 404},
		{"player page inside", base + "/item/" + inSub.ID, 200},
		{"player page outside", base + "/item/" + outside.ID, 404},
	} {
		resp := b.get(tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: GET %s = %d, want %d", tc.name, tc.path, resp.StatusCode, tc.status)
		}
		wantShareHeaders(t, resp)
		body := readAll(t, resp)
		if tc.status == 200 && strings.Contains(tc.path, "/download/") && !bytes.Equal(body, video) {
			t.Errorf("%s: wrong bytes", tc.name)
		}
	}
	player := string(readAll(t, b.get(base+"/item/"+inSub.ID)))
	if !strings.Contains(player, `src="`+base+`/download/`+inSub.ID+`"`) || !strings.Contains(player, `href="`+base+`"`) {
		t.Errorf("player page:\n%s", player)
	}

	// Moving the item out of the shared tree ends its access at once.
	wantStatus(t, h.do("PATCH", "/api/media/"+inSub.ID, owner, strings.NewReader(`{"folder":null}`)), 200)
	wantStatus(t, b.get(base+"/download/"+inSub.ID, "Range", "bytes=0-9"), 404)
	// Moving another in grants it.
	wantStatus(t, h.do("PATCH", "/api/media/"+outside.ID, owner, strings.NewReader(`{"folder":"`+sub.ID+`"}`)), 200)
	wantStatus(t, b.get(base+"/download/"+outside.ID), 200)

	denied := h.accessLog(owner, inSub.ID, "link:"+l.ID, 2)
	var allowed, refused int
	for _, e := range denied {
		if e.Allowed {
			allowed++
		} else {
			refused++
		}
	}
	if allowed < 1 || refused != 1 {
		t.Errorf("audit of the moved item = %+v, want allowed reads and one refusal", denied)
	}
}

func TestSharePasswordLink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	it := h.upload(owner, "private.mp4", video)
	l := h.share(owner, "media", it.ID, `{"password":"open sesame"}`)
	download := l.URL + "/download"

	a, other := h.browser(), h.browser()
	form := a.get(l.URL)
	wantStatus(t, form, 200)
	wantShareHeaders(t, form)
	html := string(readAll(t, form))
	if !strings.Contains(html, `<label for="password">`) || !strings.Contains(html, `<form method="post" action="`+l.URL+`"`) ||
		strings.Contains(html, "<video") || strings.Contains(html, download) {
		t.Errorf("locked page:\n%s", html)
	}
	wantStatus(t, a.get(download), 403)
	wantStatus(t, a.get(download, "Range", "bytes=0-99"), 403)

	wrong := a.unlock(l.URL, "open sesam", "same-origin")
	wantStatus(t, wrong, 401)
	wantShareHeaders(t, wrong)
	if html := string(readAll(t, wrong)); !strings.Contains(html, "Wrong password.") || !strings.Contains(html, `name="password"`) {
		t.Errorf("wrong password page:\n%s", html)
	}
	wantStatus(t, a.get(download), 403)
	// Another site can't post the form, even with the right password.
	wantStatus(t, a.unlock(l.URL, "open sesame", "cross-site"), 403)
	wantStatus(t, a.get(download), 403)

	right := a.unlock(l.URL, "open sesame", "same-origin")
	wantStatus(t, right, http.StatusSeeOther)
	if loc := right.Header.Get("Location"); loc != l.URL {
		t.Errorf("unlock redirected to %q", loc)
	}
	var cookie *http.Cookie
	for _, c := range right.Cookies() {
		if c.Name == session.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("unlock set no session cookie: %v", right.Cookies())
	}
	page := a.get(l.URL)
	wantStatus(t, page, 200)
	if !strings.Contains(string(readAll(t, page)), `src="`+download+`"`) {
		t.Error("the unlocked page has no player")
	}
	got := a.get(download)
	wantStatus(t, got, 200)
	if !bytes.Equal(readAll(t, got), video) {
		t.Error("unlocked download differs")
	}
	wantStatus(t, a.get(download, "Range", "bytes=0-99"), 206)
	// A second link unlocked in the same browser: a new session token again
	// (a planted cookie gains nothing), and both links stay open.
	it2 := h.upload(owner, "second.mp4", video)
	l2 := h.share(owner, "media", it2.ID, `{"password":"another secret"}`)
	wantStatus(t, a.get(l2.URL+"/download"), 403)
	right2 := a.unlock(l2.URL, "another secret", "same-origin")
	wantStatus(t, right2, http.StatusSeeOther)
	var renewed *http.Cookie
	for _, c := range right2.Cookies() {
		if c.Name == session.CookieName {
			renewed = c
		}
	}
	if renewed == nil || renewed.Value == cookie.Value {
		t.Errorf("the session token was not renewed on unlocking: %v then %v", cookie, renewed)
	}
	wantStatus(t, a.get(l2.URL+"/download"), 200)
	wantStatus(t, a.get(download, "Range", "bytes=0-99"), 206)
	// The old session token is dead: it unlocks nothing.
	req, _ := http.NewRequest("GET", h.srv.URL+download, nil)
	req.AddCookie(cookie)
	old, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	old.Body.Close()
	if old.StatusCode != 403 {
		t.Errorf("the replaced session token still unlocks: %d", old.StatusCode)
	}

	// Only for that browser.
	wantStatus(t, other.get(download), 403)
	wantStatus(t, h.do("GET", download, "", nil), 403)
	if html := string(readAll(t, other.get(l.URL))); !strings.Contains(html, `name="password"`) {
		t.Error("another browser sees the unlocked page")
	}

	// Guessing is throttled per link: the right password no longer helps
	// once the limit is reached, and the browser that has it keeps it.
	for i := range 10 {
		wantStatus(t, other.unlock(l.URL, "guess"+string(rune('a'+i)), "same-origin"), 401)
	}
	throttled := other.unlock(l.URL, "open sesame", "same-origin")
	wantStatus(t, throttled, http.StatusTooManyRequests)
	if throttled.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantStatus(t, other.get(download), 403)
	wantStatus(t, a.get(download), 200)

	// Twelve downloads: four refused before the password, three allowed
	// after and one refused with the replaced token, two refused elsewhere,
	// one refused and one allowed at the end.
	entries := h.accessLog(owner, it.ID, "link:"+l.ID, 12)
	var allowed, refused int
	for _, e := range entries {
		if e.Allowed {
			allowed++
		} else {
			refused++
		}
	}
	if allowed != 4 || refused != 8 {
		t.Errorf("audit: %d allowed, %d refused, want 4 and 8: %+v", allowed, refused, entries)
	}
}

func TestShareExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	it := h.upload(owner, "a.mp4", sampleMP4(t))
	before := time.Now()
	l := h.share(owner, "media", it.ID, `{"expires_in":1}`)
	if l.ExpiresAt == nil || l.ExpiresAt.Sub(before.Add(time.Second)).Abs() > 2*time.Second {
		t.Fatalf("expires_at = %v, want about a second from now", l.ExpiresAt)
	}
	b := h.browser()
	wantStatus(t, b.get(l.URL+"/download", "Range", "bytes=0-9"), 206)
	wantStatus(t, b.get(l.URL), 200)
	time.Sleep(time.Until(*l.ExpiresAt) + 200*time.Millisecond)
	for _, tc := range []struct{ path, rng string }{
		{l.URL, ""}, {l.URL + "/download", ""}, {l.URL + "/download", "bytes=10-19"},
	} {
		resp := b.get(tc.path, "Range", tc.rng)
		wantStatus(t, resp, http.StatusGone)
		wantShareHeaders(t, resp)
		if html := string(readAll(t, resp)); !strings.Contains(html, "expired") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s after expiry: %s", tc.path, html)
		}
	}
	list := decode[struct{ Links []acl.Link }](t, h.do("GET", "/api/media/"+it.ID+"/links", owner, nil))
	if len(list.Links) != 1 || list.Links[0].ExpiresAt == nil || !list.Links[0].ExpiresAt.Equal(*l.ExpiresAt) {
		t.Errorf("listing = %+v", list.Links)
	}
}

func TestShareRevokeStopsTheNextRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	it := h.upload(owner, "a.mp4", sampleMP4(t))
	l := h.share(owner, "media", it.ID, `{}`)
	kept := h.share(owner, "media", it.ID, `{}`)
	b := h.browser()
	// A player already playing: its requests are answered from the caches.
	for range 3 {
		wantStatus(t, b.get(l.URL+"/download", "Range", "bytes=0-99"), 206)
	}
	wantStatus(t, h.do("DELETE", "/api/links/"+l.ID, owner, nil), 204)
	for _, rng := range []string{"bytes=100-199", ""} {
		resp := b.get(l.URL+"/download", "Range", rng)
		wantStatus(t, resp, http.StatusGone)
		if html := string(readAll(t, resp)); !strings.Contains(html, "revoked") {
			t.Errorf("revoked download page: %s", html)
		}
	}
	wantStatus(t, b.get(l.URL), http.StatusGone)
	wantStatus(t, b.get(kept.URL+"/download", "Range", "bytes=0-99"), 206)
	// Revoking again is harmless.
	wantStatus(t, h.do("DELETE", "/api/links/"+l.ID, owner, nil), 204)

	list := decode[struct{ Links []acl.Link }](t, h.do("GET", "/api/media/"+it.ID+"/links", owner, nil))
	revoked := map[string]bool{}
	for _, x := range list.Links {
		revoked[x.ID] = x.Revoked
	}
	if len(revoked) != 2 || !revoked[l.ID] || revoked[kept.ID] {
		t.Errorf("listing after revoke = %+v", list.Links)
	}
	entries := h.accessLog(owner, it.ID, "link:"+l.ID, 5)
	if len(entries) != 5 || entries[0].Allowed {
		t.Errorf("audit = %+v, want 5 entries, the newest refused", entries)
	}
}

func TestShareAPIPermissions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ownerEmail, owner := h.user(acl.RoleEditor)
	_, admin := h.user(acl.RoleAdmin)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	editorEmail, editor := h.user(acl.RoleViewer)
	_, stranger := h.user(acl.RoleEditor)
	folder := h.folder(owner, "Shared", nil)
	it := h.uploadTo(owner, folder.ID, "a.mp4", sampleMP4(t))
	for email, perm := range map[string]string{viewerEmail: "view", editorEmail: "edit"} {
		wantStatus(t, h.do("PUT", "/api/folders/"+folder.ID+"/grants/"+url.PathEscape(email), owner,
			strings.NewReader(`{"permission":"`+perm+`"}`)), 200)
	}
	itemLink := h.share(owner, "media", it.ID, `{"expires_in":3600,"password":"open sesame"}`)
	folderLink := h.share(owner, "folders", folder.ID, `{}`)

	for _, tc := range []struct {
		who    string
		token  string
		status int // for create, list and revoke alike
	}{
		{"anonymous", "", 401},
		{"stranger", stranger, 404},
		{"viewer", viewer, 403},
		{"editor", editor, 403},
	} {
		for _, target := range []struct{ kind, id, link string }{
			{"media", it.ID, itemLink.ID}, {"folders", folder.ID, folderLink.ID},
		} {
			base := "/api/" + target.kind + "/" + target.id + "/links"
			for _, req := range []struct{ method, path, body string }{
				{"POST", base, `{}`}, {"GET", base, ""}, {"DELETE", "/api/links/" + target.link, ""},
			} {
				resp := h.do(req.method, req.path, tc.token, strings.NewReader(req.body))
				if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Errorf("%s: %s %s = %d %s, want %d JSON", tc.who, req.method, req.path,
						resp.StatusCode, resp.Header.Get("Content-Type"), tc.status)
				}
			}
		}
	}
	// Nothing was revoked by them.
	wantStatus(t, h.do("GET", folderLink.URL, "", nil), 200)

	// Managers list; the token never shows again.
	for _, token := range []string{owner, admin} {
		resp := h.do("GET", "/api/media/"+it.ID+"/links", token, nil)
		wantStatus(t, resp, 200)
		raw := string(readAll(t, resp))
		if strings.Contains(raw, tokenOf(itemLink)) || strings.Contains(raw, "argon2") {
			t.Errorf("the listing leaks a secret: %s", raw)
		}
		var list struct{ Links []acl.Link }
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Links) != 1 || list.Links[0].ID != itemLink.ID || !list.Links[0].HasPassword || list.Links[0].Revoked ||
			list.Links[0].CreatedBy == nil || *list.Links[0].CreatedBy != ownerEmail || list.Links[0].ExpiresAt == nil {
			t.Errorf("listing = %s", raw)
		}
		for _, field := range []string{`"id"`, `"created_at"`, `"expires_at"`, `"has_password"`, `"revoked"`, `"created_by"`} {
			if !strings.Contains(raw, field) {
				t.Errorf("listing lacks %s: %s", field, raw)
			}
		}
	}
	folderList := decode[struct{ Links []acl.Link }](t, h.do("GET", "/api/folders/"+folder.ID+"/links", owner, nil))
	if len(folderList.Links) != 1 || folderList.Links[0].ID != folderLink.ID || folderList.Links[0].HasPassword {
		t.Errorf("folder listing = %+v", folderList.Links)
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"zero expiry", "/api/media/" + it.ID + "/links", `{"expires_in":0}`, 400},
		{"negative expiry", "/api/media/" + it.ID + "/links", `{"expires_in":-1}`, 400},
		{"fractional expiry", "/api/media/" + it.ID + "/links", `{"expires_in":1.5}`, 400},
		{"short password", "/api/media/" + it.ID + "/links", `{"password":"short"}`, 400},
		{"unknown field", "/api/media/" + it.ID + "/links", `{"token":"mine"}`, 400},
		{"not JSON", "/api/media/" + it.ID + "/links", `{`, 400},
		{"missing item", "/api/media/" + missingID + "/links", `{}`, 404},
		{"missing folder", "/api/folders/" + missingID + "/links", `{}`, 404},
		{"malformed item", "/api/media/nope/links", `{}`, 404},
	} {
		resp := h.do("POST", tc.path, owner, strings.NewReader(tc.body), "Content-Type", "application/json")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	for _, id := range []string{missingID, "nope"} {
		wantStatus(t, h.do("DELETE", "/api/links/"+id, owner, nil), 404)
	}
	// An admin may revoke anyone's link.
	wantStatus(t, h.do("DELETE", "/api/links/"+folderLink.ID, admin, nil), 204)
	wantStatus(t, h.do("GET", folderLink.URL, "", nil), http.StatusGone)
}

const missingID = "7d4c9a10-5e6f-4a3b-8c2d-1e0f9a8b7c6d"

func TestShareUnknownTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := h.browser()
	unknown := sharePrefix + acl.LinkTokenPrefix + strings.Repeat("A", 43)
	for _, path := range []string{
		unknown, unknown + "/download", unknown + "/download/" + missingID, unknown + "/item/" + missingID,
		sharePrefix + "nope", sharePrefix + "nope/download", sharePrefix + "x/y/z", sharePrefix,
	} {
		resp := b.get(path)
		wantStatus(t, resp, 404)
		wantShareHeaders(t, resp)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %s, want a page", path, resp.Header.Get("Content-Type"))
		}
	}
	resp := b.unlock(unknown, "whatever1", "same-origin")
	wantStatus(t, resp, 404)
	// A refused cross-site post says no-referrer too.
	resp = b.unlock(unknown, "whatever1", "cross-site")
	wantStatus(t, resp, 403)
	wantShareHeaders(t, resp)
}

func TestShareDownloadInAccelMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	it := h.upload(owner, "a.mp4", sampleMP4(t))
	l := h.share(owner, "media", it.ID, `{}`)
	b := h.browser()
	resp := b.get(l.URL+"/download", "X-Sendfile-Type", "X-Accel-Redirect", "Range", "bytes=0-99")
	wantStatus(t, resp, 200)
	want := config.AccelPrefix + it.SHA256[:2] + "/" + it.SHA256[2:4] + "/" + it.SHA256
	if got := resp.Header.Get("X-Accel-Redirect"); got != want {
		t.Fatalf("X-Accel-Redirect = %q, want %q", got, want)
	}
	if n := len(readAll(t, resp)); n != 0 {
		t.Errorf("accel response has a %d-byte body", n)
	}
	if resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Cache-Control") != config.PrivateCacheControl {
		t.Errorf("accel headers = %v", resp.Header)
	}
	wantShareHeaders(t, resp)
	wantStatus(t, h.do("DELETE", "/api/links/"+l.ID, owner, nil), 204)
	gone := b.get(l.URL+"/download", "X-Sendfile-Type", "X-Accel-Redirect")
	wantStatus(t, gone, http.StatusGone)
	if gone.Header.Get("X-Accel-Redirect") != "" {
		t.Error("a revoked link still answers with X-Accel-Redirect")
	}
}

func TestShareTokensStayOutOfLogs(t *testing.T) {
	t.Parallel()
	token := acl.LinkTokenPrefix + strings.Repeat("Zz9_", 10) + "abc"
	other := acl.LinkTokenPrefix + strings.Repeat("-y", 21) + "q"
	hashOf := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "#" + hex.EncodeToString(sum[:4])
	}
	h := hashOf(token)
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/smedia/x/y", "/smedia/x/y"},
		{"/s/", "/s/"},
		{"/s//", "/s//"},
		{"/s/" + token, "/s/" + h},
		{"/s/" + token + "/download", "/s/" + h + "/download"},
		{"/s/" + token + "/download/" + missingID, "/s/" + h + "/download/" + missingID},
		// However the path reaches the app, the segment after /s/ is the token.
		{"//s/" + token + "/download", "//s/" + h + "/download"},
		{"///s/" + token, "///s/" + h},
		{"/s//" + token + "/download", "/s//" + h + "/download"},
		{"/./s/" + token, "/./s/" + h},
		{"/x/../s/" + token, "/x/../s/" + h},
		{"/s/../s/" + token, "/s/../s/" + h},
		{"/s/" + token + "/..", "/s/" + h + "/.."},
		{"/s/not-a-token/x", "/s/" + hashOf("not-a-token") + "/x"},
		// Anything shaped like a token, anywhere.
		{"/x/s/" + token, "/x/s/" + h},
		{"/api/" + token + "/x", "/api/" + h + "/x"},
		{"/s/" + token + "/download/" + other, "/s/" + h + "/download/" + hashOf(other)},
		{"/s/" + token + "x!", "/s/" + hashOf(token+"x!")},
		{"/a" + token + "!b", "/a" + h + "!b"},
	} {
		got := logPath(tc.in)
		if got != tc.want {
			t.Errorf("logPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, token[4:12]) || strings.Contains(got, other[4:12]) {
			t.Errorf("logPath(%q) = %q holds the token", tc.in, got)
		}
	}
	if logPath("/s/"+token) == logPath("/s/"+token[:len(token)-1]+"d") {
		t.Error("two tokens log alike")
	}
	// The request log goes through it.
	for _, target := range []string{"/s/" + token + "/download", "//s/" + token + "/download", "/s//" + token} {
		var buf bytes.Buffer
		a := &App{log: slog.New(slog.NewTextHandler(&buf, nil)), metrics: metrics.New(slog.New(slog.DiscardHandler))}
		a.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
		if logged := buf.String(); !strings.Contains(logged, h) || strings.Contains(logged, token[4:12]) {
			t.Errorf("request log of %s: %s", target, logged)
		}
	}
}
