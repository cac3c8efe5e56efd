package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/web"
)

// page GETs path as the token's user without following redirects and
// returns the response and its body.
func (h *harness) page(path, token string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, string(readAll(h.t, resp))
}

var (
	tagRE        = regexp.MustCompile(`(?s)<([a-zA-Z][a-zA-Z0-9-]*)\b([^>]*)>`)
	attrNameRE   = regexp.MustCompile(`(?s)\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?`)
	styleBlockRE = regexp.MustCompile(`(?i)<style\b`)
)

// embeddedAssets are the real static files, as the app serves them.
var embeddedAssets = sync.OnceValues(func() (*assets, error) {
	static, err := fs.Sub(web.Static, "static")
	if err != nil {
		return nil, err
	}
	return newAssets(static)
})

// importMapTag is the one inline script a page may have: the app's import
// map, which the page CSP allows by its hash (TestPagesRenderForTheRightUsers
// checks that hash).
func importMapTag(t testing.TB) string {
	as, err := embeddedAssets()
	if err != nil || as.importMap == "" {
		t.Fatalf("no import map: %v", err)
	}
	return `<script type="importmap">` + as.importMap + `</script>`
}

// inlineCode lists what in a page the CSP would block or that would need
// 'unsafe-inline': a script without src, a style element or attribute, an
// event handler attribute, a javascript: URL. The app's own import map,
// exactly as it renders it (importMapTag), is left out. html/template
// escapes '<', '>' and quotes in attribute values and text, so a tag is
// exactly a '<' up to the next '>'.
func inlineCode(html string) []string {
	var found []string
	if as, err := embeddedAssets(); err == nil && as.importMap != "" {
		html = strings.Replace(html, `<script type="importmap">`+as.importMap+`</script>`, "", 1)
	}
	if styleBlockRE.MatchString(html) {
		found = append(found, "a <style> element")
	}
	for _, m := range tagRE.FindAllStringSubmatch(html, -1) {
		tag, attrs := strings.ToLower(m[1]), m[2]
		var names []string
		for _, a := range attrNameRE.FindAllStringSubmatch(attrs, -1) {
			names = append(names, strings.ToLower(a[1]))
		}
		if tag == "script" && !slices.Contains(names, "src") {
			found = append(found, "inline script: "+m[0])
		}
		for _, n := range names {
			if n == "style" || strings.HasPrefix(n, "on") {
				found = append(found, fmt.Sprintf("attribute %q in %s", n, m[0]))
			}
		}
		if strings.Contains(strings.ToLower(attrs), "javascript:") {
			found = append(found, "javascript: URL in "+m[0])
		}
	}
	return found
}

func checkNoInline(t *testing.T, name, html string) {
	t.Helper()
	for _, f := range inlineCode(html) {
		t.Errorf("%s: %s", name, f)
	}
}

func TestInlineCodeIsFound(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		`<p style="color:red">x</p>`,
		`<script>alert(1)</script>`,
		`<SCRIPT type="module">x</SCRIPT>`,
		`<style>p{}</style>`,
		`<button onclick="x()">`,
		`<img src=x onerror=alert(1)>`,
		`<a href="javascript:alert(1)">`,
		"<div\nstyle='x'>",
		`<script data-src="/x.js"></script>`,
		`<script type="importmap">{"imports":{"mg/api.js":"https://evil.example/api.js"}}</script>`,
	} {
		if len(inlineCode(bad)) == 0 {
			t.Errorf("inlineCode missed %s", bad)
		}
	}
	clean := importMapTag(t) + `<script type="module" src="/static/js/main.js"></script><p data-style="x" class="onion" title="onclick=x">onclick=</p>`
	if f := inlineCode(clean); len(f) != 0 {
		t.Errorf("inlineCode found %q in a clean page", f)
	}
}

func samplePNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{200, 40, 40, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var samplePDF = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")

func TestPagesRenderForTheRightUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	_, editor := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	_, stranger := h.user(acl.RoleEditor)

	folder := h.folder(editor, "Campaign <2026>", nil)
	sub := h.folder(editor, "Cuts", &folder.ID)
	video := h.uploadTo(editor, sub.ID, "teaser.mp4", sampleMP4(t))
	img := h.uploadTo(editor, folder.ID, "poster.png", samplePNG(t))
	pdf := h.upload(editor, "brief.pdf", samplePDF)
	other := h.upload(editor, "notes.txt", []byte("plain notes"))
	wantStatus(t, h.do("PUT", "/api/media/"+video.ID+"/grants/"+viewerEmail, editor, jsonBody(`{"permission":"view"}`)), 200)

	pageCSPWant := []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "frame-src 'self'"}
	check := func(name, path, token string, status int, must ...string) string {
		t.Helper()
		resp, body := h.page(path, token)
		if resp.StatusCode != status {
			t.Fatalf("%s: GET %s: %d, want %d", name, path, resp.StatusCode, status)
		}
		if status == 303 {
			return body
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, w := range pageCSPWant {
			if !strings.Contains(csp, w) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, w)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", name, csp)
		}
		if sum := sha256.Sum256([]byte(strings.TrimSuffix(strings.TrimPrefix(importMapTag(t), `<script type="importmap">`), `</script>`))); !strings.Contains(body, importMapTag(t)) ||
			!strings.Contains(csp, "script-src 'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"';") {
			t.Errorf("%s: the page's import map is missing or its hash is not in the CSP %q", name, csp)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		checkNoInline(t, name, body)
		for _, m := range must {
			if !strings.Contains(body, m) {
				t.Errorf("%s: page lacks %q", name, m)
			}
		}
		return body
	}
	absent := func(name, body string, not ...string) {
		t.Helper()
		for _, n := range not {
			if strings.Contains(body, n) {
				t.Errorf("%s: page has %q", name, n)
			}
		}
	}

	// Anonymous: the sign-in page, and every other page sends there.
	check("login", "/login", "", 200, `name="email"`, `name="password"`, `action="/login"`)
	for _, p := range []string{"/", "/m/" + video.ID, "/admin/users", "/admin/groups", "/account", "/?folder=" + folder.ID} {
		resp, _ := h.page(p, "")
		if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("anonymous GET %s: %d %q, want 303 to /login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// The library: folders, items, the upload form that works without scripts.
	root := check("library root", "/", editor, 200,
		`data-testid="upload-input"`, `action="/upload"`, `enctype="multipart/form-data"`, `name="folder"`,
		`Campaign &lt;2026&gt;`, "brief.pdf", "notes.txt", `data-testid="new-folder"`, `data-testid="view-list"`)
	absent("library root", root, "teaser.mp4", "poster.png") // they are in folders
	inFolder := check("folder", "/?folder="+folder.ID, editor, 200,
		"poster.png", `href="/?folder=`+sub.ID+`"`, `name="folder" value="`+folder.ID+`"`,
		`data-testid="folder-access"`, `data-testid="delete-folder"`, `loading="lazy"`)
	absent("folder", inFolder, "brief.pdf")
	// A video's tile is its icon until the pipeline made a thumbnail (this
	// harness runs none): never the video itself.
	subFolder := check("sub folder", "/?folder="+sub.ID, editor, 200,
		"teaser.mp4", `aria-current="page">Cuts</a>`, `<a class="thumb thumb-video" href="/m/`+video.ID+`"`, `<span class="play-mark">`)
	absent("sub folder", subFolder, "<video", "data-src", `/smedia/`+video.ID+`/teaser.mp4`)
	check("all media", "/?view=all", editor, 200, "teaser.mp4", "poster.png", "brief.pdf", "notes.txt")
	search := check("search", "/?q=TEASER", editor, 200, "teaser.mp4", "Results for")
	absent("search", search, "poster.png", "brief.pdf")
	empty := check("search nothing", "/?q=zzz", editor, 200, `data-testid="empty"`, "Nothing matches")
	absent("search nothing", empty, `data-testid="items"`)
	// Nothing of their own at the root: the first page is what is shared
	// with them, and its next pages list All media's.
	viewerRoot := check("viewer library", "/", viewer, 200, `data-testid="shared-with-me"`, "teaser.mp4")
	absent("viewer library", viewerRoot, "Nothing here yet", "upload-input", "poster.png", "brief.pdf")
	strangerRoot := check("stranger library", "/", stranger, 200, "Your library is empty")
	absent("stranger library", strangerRoot, `data-testid="shared-with-me"`, "teaser.mp4")
	viewerAll := check("viewer all media", "/?view=all", viewer, 200, "teaser.mp4")
	absent("viewer all media", viewerAll, "upload-input", "poster.png", "brief.pdf")
	check("unknown folder", "/?folder=00000000-0000-0000-0000-000000000000", editor, 404)
	check("stranger's view of a folder", "/?folder="+folder.ID, stranger, 404)

	// The media page: the player, and the editors only for its managers.
	owner := check("video, owner", "/m/"+video.ID, editor, 200,
		`id="player"`, `<video id="player" controls preload="metadata"`, `src="/smedia/`+video.ID+`/teaser.mp4"`,
		`data-testid="grants-form"`, `data-testid="link-form"`, `data-testid="publish"`, `data-testid="audit"`,
		`download="teaser.mp4"`, `data-testid="rename"`, `data-testid="move"`, `data-testid="delete"`,
		`href="/?folder=`+folder.ID+`"`, `href="/?folder=`+sub.ID+`"`)
	_ = owner
	vpage := check("video, viewer", "/m/"+video.ID, viewer, 200, `id="player"`, `src="/smedia/`+video.ID+`/teaser.mp4"`, "download")
	absent("video, viewer", vpage, "grants-form", "link-form", `data-testid="publish"`, `data-testid="audit"`,
		`data-testid="rename"`, `data-testid="delete"`, `data-testid="move"`)
	check("video, admin", "/m/"+video.ID, admin, 200, `data-testid="grants-form"`)
	check("video, stranger", "/m/"+video.ID, stranger, 404)
	check("image", "/m/"+img.ID, editor, 200, `<img id="preview" class="preview" src="/smedia/`+img.ID+`/poster.png"`)
	// A PDF is framed from its URL, which serves it inline, under the
	// strict media CSP (the viewer needs nothing more); other text stays an
	// attachment.
	check("pdf", "/m/"+pdf.ID, editor, 200, `<iframe id="pdf" class="pdf" src="/smedia/`+pdf.ID+`/brief.pdf"`)
	for path, want := range map[string]string{pdf.URL: "inline", other.URL: "attachment"} {
		resp := h.do("GET", path, editor, nil)
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, want+";") || resp.Header.Get("Content-Security-Policy") != config.MediaCSP {
			t.Errorf("GET %s: Content-Disposition %q (want %s), CSP %q", path, cd, want, resp.Header.Get("Content-Security-Policy"))
		}
	}
	plain := check("other", "/m/"+other.ID, editor, 200, "No preview", `download="notes.txt"`)
	absent("other", plain, `id="player"`, "<iframe")
	check("malformed id", "/m/nope", editor, 404)

	// Admin pages: admins only.
	check("users", "/admin/users", admin, 200, viewerEmail, `data-testid="user-form"`, `data-testid="toggle-user"`, `data-testid="role-select"`)
	check("groups", "/admin/groups", admin, 200, `data-testid="group-form"`)
	for _, p := range []string{"/admin/users", "/admin/groups"} {
		check("editor "+p, p, editor, 403)
		check("viewer "+p, p, viewer, 403)
	}
	adminLib := check("admin nav", "/", admin, 200, `href="/admin/users"`, `href="/admin/groups"`)
	_ = adminLib
	edLib := check("editor nav", "/account", editor, 200, `data-testid="password-form"`, `data-testid="token-form"`, `data-testid="token-table"`)
	absent("editor nav", edLib, `href="/admin/users"`)
	check("viewer account", "/account", viewer, 200, `data-testid="password-form"`)
	check("no page", "/nowhere", editor, 404)
}

// TestHashedAssetsFromPages follows the layout's asset URLs.
func TestHashedAssetsFromPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, body := h.page("/login", "")
	urls := regexp.MustCompile(`/static/(?:js/)?[a-z0-9_-]+\.[0-9a-f]{16}\.(?:js|css|svg)`).FindAllString(body, -1)
	if len(urls) < 14 {
		t.Fatalf("the layout links %d hashed assets, want the icon, the CSS, early.js and every module: %v", len(urls), urls)
	}
	for _, u := range urls {
		resp := h.do("GET", u, "", nil)
		wantStatus(t, resp, 200)
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", u, cc)
		}
		stale := regexp.MustCompile(`\.[0-9a-f]{16}\.`).ReplaceAllString(u, ".0000000000000000.")
		wantStatus(t, h.do("GET", stale, "", nil), 404)
	}
	resp := h.do("GET", "/static/app.css", "", nil)
	wantStatus(t, resp, 200)
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("a plain name is cached as immutable: %q", cc)
	}
}

// TestUploadFormIntoFolder is the page's upload without scripts.
func TestUploadFormIntoFolder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	f := h.folder(editor, "Inbox", nil)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("folder", f.ID)
	fw, _ := mw.CreateFormFile("file", "form.mp4")
	fw.Write(sampleMP4(t))
	mw.Close()
	req, _ := http.NewRequest("POST", h.srv.URL+"/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+editor)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantStatus(t, resp, 303)
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/m/")
	it := decode[itemJSON](t, h.do("GET", "/api/media/"+id, editor, nil))
	if it.Folder == nil || *it.Folder != f.ID || it.Filename != "form.mp4" {
		t.Errorf("form upload: %+v, want form.mp4 in %s", it, f.ID)
	}
}

func TestCreateUserAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	_, editor := h.user(acl.RoleEditor)
	post := func(token, body string) *http.Response {
		return h.do("POST", "/api/users", token, jsonBody(body), "Content-Type", "application/json")
	}
	resp := post(admin, `{"email":"New.Person@Example.com","role":"viewer","password":"long enough"}`)
	wantStatus(t, resp, 201)
	var u struct {
		ID, Email, Role string
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		t.Fatal(err)
	}
	if u.Email != "new.person@example.com" || u.Role != "viewer" || u.ID == "" {
		t.Errorf("created %+v", u)
	}
	if _, err := h.users.CheckPassword(t.Context(), "new.person@example.com", "long enough"); err != nil {
		t.Errorf("the new user can't sign in: %v", err)
	}
	for _, c := range []struct {
		token, body string
		status      int
	}{
		{editor, `{"email":"x@example.com","role":"viewer","password":"long enough"}`, 403},
		{"", `{"email":"x@example.com","role":"viewer","password":"long enough"}`, 401},
		{admin, `{"email":"new.person@example.com","role":"viewer","password":"long enough"}`, 409},
		{admin, `{"email":"x@example.com","role":"viewer","password":"short"}`, 400},
		{admin, `{"email":"not an email","role":"viewer","password":"long enough"}`, 400},
		{admin, `{"email":"x@example.com","role":"owner","password":"long enough"}`, 400},
		{admin, `{"email":"x@example.com","role":"viewer","password":"long enough","extra":1}`, 400},
	} {
		resp := post(c.token, c.body)
		if resp.StatusCode != c.status {
			t.Errorf("POST /api/users %s: %d, want %d: %s", c.body, resp.StatusCode, c.status, readAll(t, resp))
		}
	}
}

// TestListSearchAndSort runs ListOptions through the API: the search is a
// literal substring of the name, and every order pages correctly.
func TestListSearchAndSort(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	_, other := h.user(acl.RoleEditor)
	f := h.folder(editor, "F", nil)
	// Names with LIKE's special characters, equal names but for case, and
	// equal sizes, so that ties are broken by id.
	files := []struct{ name, content string }{
		{"Report 100%", "aaaa"}, // ends in %: see the backslash case
		{"report 1000.txt", "bbbbbbbb"},
		{"a_b.txt", "cc"},
		{"axb.txt", "dddddddddddd"},
		{"back-slash.txt", "eeee"},
		{"Alpha.txt", "ffffff"},
		{"alpha.txt", "gggggg"},
		{"zeta.txt", "h"},
	}
	var all []itemJSON
	for _, fl := range files {
		all = append(all, h.upload(editor, fl.name, []byte(fl.content)))
	}
	inFolder := h.uploadTo(editor, f.ID, "report in folder.txt", []byte("iiiii"))
	h.upload(other, "report of someone else.txt", []byte("jjj")) // not visible to editor
	everything := append(slices.Clone(all), inFolder)

	list := func(path string) []string {
		t.Helper()
		var names []string
		seen := map[string]bool{}
		cursor := ""
		for page := 0; ; page++ {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			p := path + sep + "limit=2"
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			resp := h.do("GET", p, editor, nil)
			wantStatus(t, resp, 200)
			var body struct {
				Items []itemJSON `json:"items"`
				Next  string     `json:"next_cursor"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if len(body.Items) > 2 {
				t.Fatalf("%s: page of %d", p, len(body.Items))
			}
			for _, it := range body.Items {
				if seen[it.ID] {
					t.Fatalf("%s: %s twice", path, it.Filename)
				}
				seen[it.ID] = true
				names = append(names, it.Filename)
			}
			if body.Next == "" {
				return names
			}
			cursor = body.Next
			if page > 20 {
				t.Fatal("too many pages")
			}
		}
	}
	order := func(items []itemJSON, less func(a, b itemJSON) bool) []string {
		s := slices.Clone(items)
		sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
		var out []string
		for _, it := range s {
			out = append(out, it.Filename)
		}
		return out
	}
	byTime := func(a, b itemJSON) bool {
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	}
	rev := func(less func(a, b itemJSON) bool) func(a, b itemJSON) bool {
		return func(a, b itemJSON) bool { return less(b, a) }
	}
	byName := func(a, b itemJSON) bool {
		if la, lb := strings.ToLower(a.Filename), strings.ToLower(b.Filename); la != lb {
			return la < lb
		}
		return a.ID < b.ID
	}
	bySize := func(a, b itemJSON) bool {
		if a.Size != b.Size {
			return a.Size > b.Size
		}
		return a.ID > b.ID
	}
	names := func(items ...itemJSON) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.Filename)
		}
		return out
	}
	asSet := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

	for _, c := range []struct {
		name, path string
		want       []string
		anyOrder   bool
	}{
		{"newest", "/api/media", order(everything, rev(byTime)), false},
		{"newest by name", "/api/media?sort=newest", order(everything, rev(byTime)), false},
		{"oldest", "/api/media?sort=oldest", order(everything, byTime), false},
		{"size", "/api/media?sort=size", order(everything, bySize), false},
		{"search, any case", "/api/media?q=REPORT", names(all[0], all[1], inFolder), true},
		{"percent is literal", "/api/media?q=" + url.QueryEscape("100%"), names(all[0]), true},
		{"underscore is literal", "/api/media?q=a_b", names(all[2]), true},
		// Unescaped, a lone backslash would escape the closing % and match "100%".
		{"backslash is literal", "/api/media?q=" + url.QueryEscape(`\`), nil, true},
		{"hyphen", "/api/media?q=k-s", names(all[4]), true},
		{"search and sort", "/api/media?q=alpha&sort=name", order([]itemJSON{all[5], all[6]}, byName), false},
		{"nothing", "/api/media?q=" + url.QueryEscape("%%"), nil, true},
		{"folder, searched", "/api/folders/" + f.ID + "?q=report", names(inFolder), true},
		{"root, by size", "/api/folders/root?sort=size", order(all, bySize), false},
	} {
		got := list(c.path)
		want := c.want
		if c.anyOrder {
			got, want = asSet(got), asSet(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s\n got %q\nwant %q", c.name, c.path, got, want)
		}
	}
	// Name order: Go's lower-casing and PostgreSQL's collation may differ
	// on punctuation, so compare the order of the letters-only names and
	// that paging returned every item once.
	byNameGot := list("/api/media?sort=name")
	if len(byNameGot) != len(everything) {
		t.Fatalf("sort=name: %d items, want %d", len(byNameGot), len(everything))
	}
	var simple []string
	for _, n := range byNameGot {
		if n == "alpha.txt" || n == "Alpha.txt" || n == "zeta.txt" || n == "axb.txt" {
			simple = append(simple, strings.ToLower(n))
		}
	}
	if !slices.Equal(simple, []string{"alpha.txt", "alpha.txt", "axb.txt", "zeta.txt"}) {
		t.Errorf("sort=name: %q", byNameGot)
	}
	// The two Alphas, equal but for case, come in id order.
	alphas := order([]itemJSON{all[5], all[6]}, byName)
	var gotAlphas []string
	for _, n := range byNameGot {
		if strings.EqualFold(n, "alpha.txt") {
			gotAlphas = append(gotAlphas, n)
		}
	}
	if !slices.Equal(gotAlphas, alphas) {
		t.Errorf("sort=name ties: %q, want %q", gotAlphas, alphas)
	}

	// Refusals: an unknown order, a cursor read in another order.
	wantStatus(t, h.do("GET", "/api/media?sort=random", editor, nil), 400)
	resp := h.do("GET", "/api/media?limit=1&sort=name", editor, nil)
	next := decode[map[string]any](t, resp)["next_cursor"].(string)
	for _, s := range []string{"newest", "oldest", "size"} {
		wantStatus(t, h.do("GET", "/api/media?sort="+s+"&cursor="+url.QueryEscape(next), editor, nil), 400)
	}
	wantStatus(t, h.do("GET", "/api/media?sort=name&cursor="+url.QueryEscape(next), editor, nil), 200)

	// The page takes the same parameters; its next link keeps them.
	_, body := h.page("/?view=all&sort=name&q=txt", editor)
	if !strings.Contains(body, `value="name" selected`) || !strings.Contains(body, `value="txt"`) {
		t.Error("the library page doesn't show the chosen sort and search")
	}
	_, body = h.page("/?sort=bogus", editor)
	if !strings.Contains(body, `value="newest" selected`) {
		t.Error("an unknown sort on the page is not the default")
	}
}

// TestLibraryNextLink pages the library page by its own "Load more" link.
func TestLibraryNextLink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	const n = 61 // the page shows 60
	for i := range n {
		h.upload(editor, fmt.Sprintf("file %02d.txt", i), []byte(fmt.Sprintf("content %d", i)))
	}
	_, body := h.page("/?sort=name", editor)
	m := regexp.MustCompile(`href="(/\?[^"]+)" data-action="load-more"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no Load more link on a full page")
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(next, "sort=name") || !strings.Contains(next, "cursor=") {
		t.Errorf("next link %q lost the sort", next)
	}
	if strings.Count(body, `class="item"`) != 60 || !strings.Contains(body, "file 00.txt") || strings.Contains(body, "file 60.txt") {
		t.Error("first page: wrong items")
	}
	_, body = h.page(next, editor)
	if strings.Count(body, `class="item"`) != 1 || !strings.Contains(body, "file 60.txt") || strings.Contains(body, "load-more") {
		t.Error("second page: want file 60 alone and no further link")
	}
}

// TestTreeOpensTheCurrentPath checks the side tree and the breadcrumb of a
// folder shared from inside one the viewer can't see.
func TestTreeOpensTheCurrentPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, editor := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	a := h.folder(editor, "A", nil)
	b := h.folder(editor, "B", &a.ID)
	c := h.folder(editor, "C", &b.ID)
	h.folder(editor, "Z", nil)
	wantStatus(t, h.do("PUT", "/api/folders/"+b.ID+"/grants/"+viewerEmail, editor, jsonBody(`{"permission":"view"}`)), 200)

	_, body := h.page("/?folder="+c.ID, editor)
	for _, want := range []string{`href="/?folder=` + a.ID + `"`, `href="/?folder=` + b.ID + `"`, `aria-current="page"><svg`, ">Z</span>"} {
		if !strings.Contains(body, want) {
			t.Errorf("editor's tree lacks %q", want)
		}
	}
	if strings.Count(body, `aria-expanded="true"`) != 3 {
		t.Errorf("the path A/B/C should be open: %d open nodes", strings.Count(body, `aria-expanded="true"`))
	}
	_, body = h.page("/", viewer)
	if !strings.Contains(body, "Shared with me") || !strings.Contains(body, ">B</span>") || strings.Contains(body, ">A</span>") {
		t.Error("viewer's root: want B under Shared with me, and no A")
	}
	_, body = h.page("/?folder="+c.ID, viewer)
	if strings.Contains(body, `href="/?folder=`+a.ID+`"`) || !strings.Contains(body, `href="/?folder=`+b.ID+`"`) {
		t.Error("viewer's breadcrumb must start at B")
	}
	if strings.Contains(body, `data-testid="upload-input"`) || strings.Contains(body, `data-testid="new-folder"`) {
		t.Error("a viewer gets upload or folder controls")
	}
}

func TestSentence(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"not found: there is no page at /x":         "There is no page at /x",
		"set grant: not found: no user named \"a\"": "No user named \"a\"",
		"forbidden: only admins add users":          "Only admins add users",
		"internal error":                            "Internal error",
		"":                                          "",
		"a not found: b":                            "A not found: b",
	} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}
