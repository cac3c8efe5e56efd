package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/apidoc/contract"
	"github.com/mediagate/mediagate/internal/audit"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

// harness is the app on a real PostgreSQL database and a temp data dir,
// behind a real HTTP server.
type harness struct {
	t     *testing.T
	cfg   config.Config
	pool  *pgxpool.Pool
	users *session.Users
	srv   *httptest.Server
	hub   *invalidate.Hub
	app   *App
	n     atomic.Int32
}

func newHarness(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	pool, url := testdb.New(t)
	cfg := config.Default()
	cfg.DatabaseURL = url
	cfg.DataDir = t.TempDir()
	cfg.MaxUpload = 1 << 20
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return startHarness(t, cfg, pool)
}

// startHarness runs the app with cfg on pool, which is on cfg's database.
func startHarness(t *testing.T, cfg config.Config, pool *pgxpool.Pool) *harness {
	t.Helper()
	url := cfg.DatabaseURL
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	disk, err := media.OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	// A real invalidation hub, so every test also runs through the caches.
	hub := invalidate.NewHub(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitCtx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	if err := hub.WaitHealthy(waitCtx); err != nil {
		t.Fatalf("invalidation listener: %v", err)
	}
	reads := audit.New(pool, log, audit.Options{Interval: 20 * time.Millisecond})
	auditCtx, stopAudit := context.WithCancel(context.Background())
	go reads.Run(auditCtx)
	t.Cleanup(func() { stopAudit(); reads.Wait() })
	decide := acl.NewDecider(pool).Cached(hub)
	store := media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: cfg.MaxUpload}, decide, log)
	store.SetTrashRetention(cfg.TrashRetention)
	auth := session.NewAuth(pool, cfg, log, hub)
	t.Cleanup(auth.Close)
	a, err := New(cfg, pool, auth, decide, store, reads, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // after srv.Close
	// Every exchange under /api/ is checked against the API document.
	srv := httptest.NewServer(contract.Default(t).Handler(t, a.Routes()))
	t.Cleanup(srv.Close)
	return &harness{t: t, cfg: cfg, pool: pool, users: auth.Users, srv: srv, hub: hub, app: a}
}

// user makes a user with role and returns its email and an API token.
func (h *harness) user(role acl.Role) (string, string) {
	h.t.Helper()
	email := fmt.Sprintf("%s%d@example.com", role, h.n.Add(1))
	u, err := h.users.Create(context.Background(), email, role, "password123")
	if err != nil {
		h.t.Fatal(err)
	}
	token, err := h.users.CreateToken(context.Background(), u.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return email, token
}

func (h *harness) do(method, path, token string, body io.Reader, header ...string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", resp.Request.URL.Path, err)
	}
	return v
}

func wantStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, b)
	}
}

func sampleMP4(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/sample.mp4")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) upload(token, name string, content []byte) itemJSON {
	h.t.Helper()
	resp := h.do("POST", "/api/media?filename="+url.QueryEscape(name), token, bytes.NewReader(content))
	wantStatus(h.t, resp, http.StatusCreated)
	return decode[itemJSON](h.t, resp)
}

func TestUploadRawAndMultipart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	sum := sha256.Sum256(video)

	raw := h.upload(token, "clip one.mp4", video)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("note", "ignored field before the file")
	fw, _ := mw.CreateFormFile("file", "clip two.mp4")
	fw.Write(video)
	mw.Close()
	resp := h.do("POST", "/api/media", token, &body, "Content-Type", mw.FormDataContentType())
	wantStatus(t, resp, http.StatusCreated)
	multi := decode[itemJSON](t, resp)

	for _, it := range []struct {
		got  itemJSON
		name string
	}{{raw, "clip one.mp4"}, {multi, "clip two.mp4"}} {
		if it.got.Filename != it.name || it.got.SHA256 != hex.EncodeToString(sum[:]) ||
			it.got.Size != int64(len(video)) || it.got.ContentType != "video/mp4" {
			t.Errorf("upload %q: got %+v", it.name, it.got)
		}
		if want := "/smedia/" + it.got.ID + "/" + url.PathEscape(it.name); it.got.URL != want {
			t.Errorf("url = %q, want %q", it.got.URL, want)
		}
	}
	if raw.ID == multi.ID {
		t.Fatal("two uploads share an id")
	}
	got := readAll(t, h.do("GET", multi.URL, token, nil))
	if !bytes.Equal(got, video) {
		t.Fatal("streamed bytes differ from the upload")
	}
}

func TestUploadRejections(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, viewer := h.user(acl.RoleViewer)
	_, editor := h.user(acl.RoleEditor)
	big := bytes.Repeat([]byte("x"), int(h.cfg.MaxUpload)+1)
	var noFile bytes.Buffer
	mw := multipart.NewWriter(&noFile)
	mw.WriteField("other", "x")
	mw.Close()
	tests := []struct {
		name   string
		token  string
		path   string
		body   []byte
		header []string
		status int
	}{
		{"anonymous", "", "/api/media?filename=a.mp4", []byte("abc"), nil, http.StatusUnauthorized},
		{"viewer", viewer, "/api/media?filename=a.mp4", []byte("abc"), nil, http.StatusForbidden},
		{"no filename", editor, "/api/media", []byte("abc"), nil, http.StatusBadRequest},
		{"empty", editor, "/api/media?filename=a.txt", nil, nil, http.StatusBadRequest},
		{"too large", editor, "/api/media?filename=big.bin", big, nil, http.StatusRequestEntityTooLarge},
		{"too large, chunked", editor, "/api/media?filename=big.bin", big, []string{"X-Chunked", "1"}, http.StatusRequestEntityTooLarge},
		{"multipart without file", editor, "/api/media", noFile.Bytes(), []string{"Content-Type", mw.FormDataContentType()}, http.StatusBadRequest},
		{"bad token", "mg_nope", "/api/media?filename=a.mp4", []byte("abc"), nil, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if len(tt.header) > 0 && tt.header[0] == "X-Chunked" {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			resp := h.do("POST", tt.path, tt.token, body, tt.header...)
			wantStatus(t, resp, tt.status)
			e := decode[map[string]string](t, resp)
			if e["error"] == "" {
				t.Errorf("no JSON error message")
			}
			// The limit in words people read (the harness's is 1 MiB).
			if want := "too large: uploads are limited to 1 MiB"; tt.status == http.StatusRequestEntityTooLarge && e["error"] != want {
				t.Errorf("error %q, want %q", e["error"], want)
			}
		})
	}
	assertEmptyDir(t, h.cfg.TmpDir())
	var n int
	h.pool.QueryRow(context.Background(), "SELECT count(*) FROM media").Scan(&n)
	if n != 0 {
		t.Errorf("%d items stored by rejected uploads", n)
	}
}

// assertEmptyDir fails when any regular file is left below dir.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".lock") {
			t.Errorf("left behind: %s", path)
		}
		return nil
	})
}

func TestAccessRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	_, admin := h.user(acl.RoleAdmin)
	strangerEmail, stranger := h.user(acl.RoleEditor)
	granteeEmail, grantee := h.user(acl.RoleViewer)
	it := h.upload(owner, "a.mp4", sampleMP4(t))

	check := func(who, token string, want int) {
		t.Helper()
		for _, path := range []string{it.URL, "/smedia/" + it.ID, "/api/media/" + it.ID} {
			if got := h.do("GET", path, token, nil).StatusCode; got != want {
				t.Errorf("%s GET %s: %d, want %d", who, path, got, want)
			}
		}
	}
	check("owner", owner, 200)
	check("admin", admin, 200)
	check("stranger", stranger, 404)
	check("grantee before grant", grantee, 404)
	check("anonymous", "", 401)

	grant := func(token, email, perm string) *http.Response {
		return h.do("PUT", "/api/media/"+it.ID+"/grants/"+url.PathEscape(email), token,
			strings.NewReader(`{"permission":"`+perm+`"}`), "Content-Type", "application/json")
	}
	wantStatus(t, grant(stranger, granteeEmail, "view"), 404) // a stranger learns nothing
	wantStatus(t, grant(owner, granteeEmail, "admin"), 400)
	wantStatus(t, grant(owner, "nobody@example.com", "view"), 404)
	wantStatus(t, grant(owner, granteeEmail, "view"), 200)
	check("grantee", grantee, 200)
	// view is not manage: the grantee may not pass access on or delete.
	wantStatus(t, grant(grantee, strangerEmail, "view"), 403)
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, grantee, nil), 403)
	wantStatus(t, h.do("POST", "/api/media/"+it.ID+"/publish", grantee, nil), 403)

	grants := decode[map[string][]acl.Grant](t, h.do("GET", "/api/media/"+it.ID+"/grants", owner, nil))
	if g := grants["grants"]; len(g) != 1 || g[0].Subject != "user:"+granteeEmail || g[0].Permission != "view" {
		t.Errorf("grants = %+v", g)
	}
	list := decode[struct{ Items []itemJSON }](t, h.do("GET", "/api/media", grantee, nil))
	if len(list.Items) != 1 || list.Items[0].ID != it.ID || list.Items[0].Permission != "view" {
		t.Errorf("grantee's list = %+v", list.Items)
	}
	if l := decode[struct{ Items []itemJSON }](t, h.do("GET", "/api/media", stranger, nil)); len(l.Items) != 0 {
		t.Errorf("stranger sees %d items", len(l.Items))
	}

	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/grants/"+url.PathEscape(granteeEmail), owner, nil), 204)
	check("grantee after revoke", grantee, 404)
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, owner, nil), 204)
	check("owner after delete", owner, 404)
}

func TestAccelOnlyForTrustedAnnouncedProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	it := h.upload(token, "a.mp4", sampleMP4(t))

	direct := h.do("GET", it.URL, token, nil)
	if direct.Header.Get("X-Accel-Redirect") != "" || len(readAll(t, direct)) != int(it.Size) {
		t.Fatal("without X-Sendfile-Type the app must stream the file itself")
	}
	accel := h.do("GET", it.URL, token, nil, "X-Sendfile-Type", "X-Accel-Redirect")
	want := config.AccelPrefix + it.SHA256[:2] + "/" + it.SHA256[2:4] + "/" + it.SHA256
	if got := accel.Header.Get("X-Accel-Redirect"); got != want {
		t.Fatalf("X-Accel-Redirect = %q, want %q", got, want)
	}
	if b := readAll(t, accel); len(b) != 0 {
		t.Fatalf("accel response has a %d-byte body", len(b))
	}
	for k, v := range map[string]string{"Content-Type": "video/mp4", "Cache-Control": "private, no-cache"} {
		if accel.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, accel.Header.Get(k), v)
		}
	}
	// A peer outside the trusted proxies cannot ask for X-Accel.
	h2 := newHarness(t, func(c *config.Config) { c.TrustedProxies = nil })
	_, token2 := h2.user(acl.RoleEditor)
	it2 := h2.upload(token2, "a.mp4", sampleMP4(t))
	if h2.do("GET", it2.URL, token2, nil, "X-Sendfile-Type", "X-Accel-Redirect").Header.Get("X-Accel-Redirect") != "" {
		t.Fatal("an untrusted peer got X-Accel-Redirect")
	}
}

func TestPublishDirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	it := h.upload(token, "a.mp4", video)
	resp := h.do("POST", "/api/media/"+it.ID+"/publish", token, nil)
	wantStatus(t, resp, 200)
	pub := decode[map[string]string](t, resp)["public_url"]
	if !strings.HasPrefix(pub, config.PublicPrefix) || !strings.HasSuffix(pub, ".mp4") {
		t.Fatalf("public_url = %q", pub)
	}
	got := h.do("GET", pub, "", nil)
	wantStatus(t, got, 200)
	if !bytes.Equal(readAll(t, got), video) || got.Header.Get("Content-Type") != "video/mp4" {
		t.Fatal("published file differs")
	}
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/publish", token, nil), 204)
	wantStatus(t, h.do("GET", pub, "", nil), 404)
	wantStatus(t, h.do("GET", it.URL, "", nil), 401)

	// Publishing again brings the same URL back; new_url replaces it for good.
	publish := func(body string) string {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		resp := h.do("POST", "/api/media/"+it.ID+"/publish", token, r)
		wantStatus(t, resp, 200)
		return decode[map[string]string](t, resp)["public_url"]
	}
	if again := publish(""); again != pub {
		t.Errorf("republished at %q, want %q", again, pub)
	}
	wantStatus(t, h.do("GET", pub, "", nil), 200)
	if again := publish(`{"new_url": false}`); again != pub {
		t.Errorf("published with new_url false at %q, want %q", again, pub)
	}
	fresh := publish(`{"new_url": true}`)
	if fresh == pub || !strings.HasPrefix(fresh, config.PublicPrefix) {
		t.Errorf("new_url gave %q (old %q)", fresh, pub)
	}
	wantStatus(t, h.do("GET", pub, "", nil), 404)
	wantStatus(t, h.do("GET", fresh, "", nil), 200)
	if got := decode[itemJSON](t, h.do("GET", "/api/media/"+it.ID, token, nil)); got.PublicURL != fresh {
		t.Errorf("item's public_url = %q, want %q", got.PublicURL, fresh)
	}
	wantStatus(t, h.do("POST", "/api/media/"+it.ID+"/publish", token, strings.NewReader(`{"new_url": "yes"}`)), 400)
	wantStatus(t, h.do("POST", "/api/media/"+it.ID+"/publish", token, strings.NewReader(`{"path": "../x"}`)), 400)
	wantStatus(t, h.do("GET", fresh, "", nil), 200)
}

func TestBrowserLoginFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	email, _ := h.user(acl.RoleEditor)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, origin string) *http.Response {
		req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", map[bool]string{true: "same-origin", false: "cross-site"}[origin == h.srv.URL])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	get := func(path string) *http.Response {
		resp, err := c.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	if r := get("/"); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous library: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	wantStatus(t, post("/login", url.Values{"email": {email}, "password": {"password123"}}, "http://evil.example"), 403)
	wantStatus(t, post("/login", url.Values{"email": {email}, "password": {"wrong-password"}}, h.srv.URL), 401)
	ok := post("/login", url.Values{"email": {email}, "password": {"password123"}, "next": {"//evil.example/"}}, h.srv.URL)
	wantStatus(t, ok, 303)
	if ok.Header.Get("Location") != "/" {
		t.Errorf("login redirected to %q, want / (an off-site next is refused)", ok.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range ok.Cookies() {
		if ck.Name == session.CookieName {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie = %+v", cookie)
	}
	wantStatus(t, get("/"), 200)
	me := decode[map[string]string](t, get("/api/me"))
	if me["email"] != email || me["role"] != "editor" {
		t.Errorf("/api/me = %v", me)
	}
	// A cookie-authenticated upload from our own page works; from another site it doesn't.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "page.mp4")
	fw.Write(sampleMP4(t))
	mw.Close()
	req, _ := http.NewRequest("POST", h.srv.URL+"/upload", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, _ := c.Do(req)
	wantStatus(t, resp, 403)
	req, _ = http.NewRequest("POST", h.srv.URL+"/upload", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, _ = c.Do(req)
	wantStatus(t, resp, 303)
	page := get(resp.Header.Get("Location"))
	wantStatus(t, page, 200)
	if html := string(readAll(t, page)); !strings.Contains(html, "<video") || !strings.Contains(html, "page.mp4") {
		t.Error("media page has no player")
	}

	wantStatus(t, post("/logout", nil, h.srv.URL), 303)
	wantStatus(t, get("/api/me"), 401)
	// The old cookie, replayed by hand, is dead too.
	req, _ = http.NewRequest("GET", h.srv.URL+"/api/me", nil)
	req.AddCookie(cookie)
	resp, _ = http.DefaultClient.Do(req)
	wantStatus(t, resp, 401)
}

func TestDatabaseFailureFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	it := h.upload(token, "a.mp4", sampleMP4(t))

	// Kill every server connection of the app's pool and forbid new ones.
	dbName := h.pool.Config().ConnConfig.Database
	admin, err := pgxpool.New(context.Background(), testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	exec := func(sql string) {
		if _, err := admin.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec("ALTER DATABASE " + dbName + " WITH ALLOW_CONNECTIONS false")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + dbName + "'")
	// Cached decisions may be used until the listener notices its
	// connection is gone; from then on every request goes to the database.
	for start := time.Now(); h.hub.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the invalidation listener did not notice the database going away")
		}
	}

	for i := 0; i < 3; i++ {
		resp := h.do("GET", it.URL, token, nil, "X-Sendfile-Type", "X-Accel-Redirect")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Accel-Redirect") != "" {
			t.Fatalf("with the database down: %d, X-Accel-Redirect %q", resp.StatusCode, resp.Header.Get("X-Accel-Redirect"))
		}
	}
	exec("ALTER DATABASE " + dbName + " WITH ALLOW_CONNECTIONS true")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := h.do("GET", it.URL, token, nil)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered after the database came back: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestErrorsAreJSONUnderAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	tests := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/nope", "", 404},
		{"GET", "/api/media/not-a-uuid", "", 404},
		{"GET", "/api/media?limit=0", "", 400},
		{"GET", "/api/media?cursor=bm90IGEgY3Vyc29y", "", 400},
		{"GET", "/api/media?q=%00", "", 400}, // not a database error
		{"GET", "/api/media?q=%FF", "", 400},
		{"PUT", "/api/media/00000000-0000-0000-0000-000000000000/grants/a@b.c", "{", 400},
		{"PUT", "/api/media/00000000-0000-0000-0000-000000000000/grants/a@b.c", `{"permission":"view"}`, 404},
		{"PATCH", "/api/me", "", 405},
	}
	for _, tt := range tests {
		resp := h.do(tt.method, tt.path, token, strings.NewReader(tt.body), "Content-Type", "application/json")
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s, want %d JSON", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status)
			continue
		}
		if e := decode[map[string]string](t, resp); e["error"] == "" {
			t.Errorf("%s %s: no error message", tt.method, tt.path)
		}
	}
	resp := h.do("GET", "/m/00000000-0000-0000-0000-000000000000", token, nil)
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page 404: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestCallerAnswersVary checks that every answer that may depend on the
// caller names the cookie and Authorization in Vary and keeps out of shared
// caches, and that the answers that are the same for everyone do not.
func TestCallerAnswersVary(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	it := h.upload(token, "clip.mp4", sampleMP4(t))
	pub := decode[map[string]string](t, h.do("POST", "/api/media/"+it.ID+"/publish", token, nil))
	asset := ""
	for _, m := range regexp.MustCompile(`/static/[^"]+\.css`).FindAllString(string(readAll(t, h.do("GET", "/login", "", nil))), 1) {
		asset = m
	}
	if asset == "" {
		t.Fatal("the login page links no stylesheet")
	}
	for _, tc := range []struct {
		path, token string
		status      int
		caller      bool // the answer depends on the caller
	}{
		{"/", token, 200, true},
		{"/login", "", 200, true},
		{"/api/me", token, 200, true},
		{"/api/me", "", 401, true},
		{"/api/media", token, 200, true},
		{"/api/media/" + it.ID, token, 200, true},
		{"/api/nope", token, 404, true},
		{it.URL, token, 200, true},
		{it.URL, "", 401, true},
		{"/smedia/00000000-0000-0000-0000-000000000000/x", token, 404, true},
		{"/m/" + it.ID, token, 200, true},
		{"/s/nope", "", 404, true},
		{pub["public_url"], "", 200, false},
		{asset, "", 200, false},
		{"/healthz", "", 200, false},
	} {
		resp := h.do("GET", tc.path, tc.token, nil)
		cc := resp.Header.Get("Cache-Control")
		vary := resp.Header.Values("Vary")
		varies := slices.ContainsFunc(vary, func(v string) bool { return strings.Contains(v, "Cookie") }) &&
			slices.ContainsFunc(vary, func(v string) bool { return strings.Contains(v, "Authorization") })
		switch {
		case resp.StatusCode != tc.status:
			t.Errorf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
		case tc.caller && (!varies || !(strings.Contains(cc, "private") || strings.Contains(cc, "no-store"))):
			t.Errorf("GET %s (%d): Vary %q, Cache-Control %q; want Vary: Cookie, Authorization and private or no-store", tc.path, resp.StatusCode, vary, cc)
		case !tc.caller && (len(vary) > 0 || strings.Contains(cc, "no-store")):
			t.Errorf("GET %s: Vary %q, Cache-Control %q; the same for everyone, it should be cacheable", tc.path, vary, cc)
		}
	}
}
