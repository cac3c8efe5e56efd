package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
)

var uploadLocRE = regexp.MustCompile(`^/api/uploads/[0-9a-f]{32}$`)

// tusMeta encodes key, value pairs as Upload-Metadata.
func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// tusCreate asks for an upload of length bytes; a body, when given, is its
// first bytes (creation-with-upload). header pairs come last and win.
func (h *harness) tusCreate(token string, length int, meta string, body []byte, header ...string) *http.Response {
	h.t.Helper()
	hdr := []string{"Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(length), "Upload-Metadata", meta}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
		hdr = append(hdr, "Content-Type", "application/offset+octet-stream")
	}
	return h.do("POST", "/api/uploads/", token, r, append(hdr, header...)...)
}

// tusStart creates an upload and returns its URL.
func (h *harness) tusStart(token string, length int, meta string) string {
	h.t.Helper()
	resp := h.tusCreate(token, length, meta, nil)
	wantStatus(h.t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	if !uploadLocRE.MatchString(loc) {
		h.t.Fatalf("Location = %q, want /api/uploads/<id>", loc)
	}
	return loc
}

func (h *harness) tusPatch(token, loc string, offset int, chunk []byte) *http.Response {
	h.t.Helper()
	return h.do("PATCH", loc, token, bytes.NewReader(chunk), "Tus-Resumable", "1.0.0",
		"Upload-Offset", strconv.Itoa(offset), "Content-Type", "application/offset+octet-stream")
}

func (h *harness) tusHead(token, loc string) *http.Response {
	h.t.Helper()
	return h.do("HEAD", loc, token, nil, "Tus-Resumable", "1.0.0")
}

// wantHeader fails t unless resp's header k is v.
func wantHeader(t *testing.T, resp *http.Response, k, v string) {
	t.Helper()
	if got := resp.Header.Get(k); got != v {
		t.Errorf("%s %s: %s = %q, want %q", resp.Request.Method, resp.Request.URL.Path, k, got, v)
	}
}

// uploadFiles lists the uploads dir.
func (h *harness) uploadFiles() []string {
	h.t.Helper()
	entries, err := os.ReadDir(h.cfg.UploadsDir())
	if err != nil {
		h.t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// receipt returns the item the receipt of the upload at loc names ("" while
// unfinished), and whether there is a receipt.
func (h *harness) receipt(loc string) (string, bool) {
	h.t.Helper()
	var item *string
	err := h.pool.QueryRow(context.Background(), `SELECT media_id::text FROM resumable_uploads WHERE id = $1`, path.Base(loc)).Scan(&item)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if item == nil {
		return "", true
	}
	return *item, true
}

func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestTusDiscovery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	resp := h.do("OPTIONS", "/api/uploads/", "", nil)
	wantStatus(t, resp, http.StatusOK)
	wantHeader(t, resp, "Tus-Max-Size", strconv.FormatInt(h.cfg.MaxUpload, 10))
	wantHeader(t, resp, "Tus-Version", "1.0.0")
	ext := strings.Split(resp.Header.Get("Tus-Extension"), ",")
	for _, want := range []string{"creation", "creation-with-upload", "termination"} {
		if !slices.Contains(ext, want) {
			t.Errorf("Tus-Extension %q lacks %s", ext, want)
		}
	}
	for _, unwanted := range []string{"concatenation", "creation-defer-length"} {
		if slices.Contains(ext, unwanted) {
			t.Errorf("Tus-Extension %q offers %s", ext, unwanted)
		}
	}
}

func TestTusResumableUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	email, token := h.user(acl.RoleEditor)
	folder := h.folder(token, "Clips", nil)
	video := sampleMP4(t)
	half := len(video) / 2

	// filetype and anything else a client adds is not kept; the type is sniffed.
	loc := h.tusStart(token, len(video), tusMeta("filename", "clip one.mp4", "folder", folder.ID, "filetype", "text/html"))
	if files := h.uploadFiles(); len(files) != 2 {
		t.Errorf("uploads dir holds %v, want the upload's data and info", files)
	}

	resp := h.tusPatch(token, loc, 0, video[:half])
	wantStatus(t, resp, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", strconv.Itoa(half))
	wantHeader(t, resp, headerItemID, "")

	head := h.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", strconv.Itoa(half))
	wantHeader(t, head, "Upload-Length", strconv.Itoa(len(video)))
	wantHeader(t, head, "Tus-Resumable", "1.0.0")
	wantHeader(t, head, "Cache-Control", "no-store")

	early := h.do("GET", loc+"/item", token, nil)
	wantStatus(t, early, http.StatusConflict)
	wantHeader(t, early, "Upload-Offset", strconv.Itoa(half))
	// A PATCH from the wrong offset changes nothing.
	wantStatus(t, h.tusPatch(token, loc, half+1, video[half+1:]), http.StatusConflict)

	off, err := strconv.Atoi(h.tusHead(token, loc).Header.Get("Upload-Offset"))
	if err != nil || off != half {
		t.Fatalf("offset after a refused PATCH = %d (%v), want %d", off, err, half)
	}
	last := h.tusPatch(token, loc, off, video[off:])
	wantStatus(t, last, http.StatusNoContent)
	wantHeader(t, last, "Upload-Offset", strconv.Itoa(len(video)))
	id := last.Header.Get(headerItemID)
	if !acl.ValidID(id) {
		t.Fatalf("%s = %q", headerItemID, id)
	}
	wantHeader(t, last, headerItemURL, "/api/media/"+id)

	it := decode[itemJSON](t, h.do("GET", last.Header.Get(headerItemURL), token, nil))
	if it.ID != id || it.SHA256 != sha256Of(video) || it.Size != int64(len(video)) || it.ContentType != "video/mp4" ||
		it.Owner != email || it.Folder == nil || *it.Folder != folder.ID || it.Filename != "clip one.mp4" || it.Permission != "manage" {
		t.Errorf("item = %+v", it)
	}
	if got := readAll(t, h.do("GET", it.URL, token, nil)); !bytes.Equal(got, video) {
		t.Error("streamed bytes differ from the file")
	}

	// A client that missed the last answer learns the item all the same.
	again := decode[itemJSON](t, h.do("GET", loc+"/item", token, nil))
	if again.ID != id {
		t.Errorf("GET …/item = %s, want %s", again.ID, id)
	}
	head = h.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", strconv.Itoa(len(video)))
	wantHeader(t, head, headerItemID, id)
	wantStatus(t, h.tusPatch(token, loc, len(video), nil), http.StatusNoContent)
	if n := h.count("media"); n != 1 {
		t.Errorf("%d items after retries, want 1", n)
	}

	// The plain upload of the same bytes dedups to the same blob.
	plain := h.upload(token, "plain.mp4", video)
	if plain.SHA256 != it.SHA256 || plain.ID == it.ID {
		t.Errorf("plain upload %s/%s, resumable %s/%s", plain.ID, plain.SHA256, it.ID, it.SHA256)
	}
	if n := h.count("blobs"); n != 1 {
		t.Errorf("%d blobs, want 1", n)
	}
	// Only the receipt is left of the upload, in PostgreSQL.
	if files := h.uploadFiles(); len(files) != 0 {
		t.Errorf("uploads dir holds %v", files)
	}
	if item, ok := h.receipt(loc); item != id || !ok {
		t.Errorf("receipt names %q (%v), want %s", item, ok, id)
	}
	assertEmptyDir(t, h.cfg.TmpDir())

	// Terminating a finished upload forgets it; the item stays.
	wantStatus(t, h.do("DELETE", loc, token, nil, "Tus-Resumable", "1.0.0"), http.StatusNoContent)
	wantStatus(t, h.tusHead(token, loc), http.StatusNotFound)
	wantStatus(t, h.do("GET", "/api/media/"+id, token, nil), http.StatusOK)
	if _, ok := h.receipt(loc); ok {
		t.Error("the terminated upload's receipt is kept")
	}
}

func TestTusCreationWithUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleAdmin)
	video := sampleMP4(t)

	// The whole file in the creation request.
	whole := h.tusCreate(token, len(video), tusMeta("filename", "whole.mp4"), video)
	wantStatus(t, whole, http.StatusCreated)
	wantHeader(t, whole, "Upload-Offset", strconv.Itoa(len(video)))
	if !uploadLocRE.MatchString(whole.Header.Get("Location")) {
		t.Errorf("Location = %q", whole.Header.Get("Location"))
	}
	it := decode[itemJSON](t, h.do("GET", whole.Header.Get(headerItemURL), token, nil))
	if it.ID != whole.Header.Get(headerItemID) || it.SHA256 != sha256Of(video) || it.Folder != nil || it.Filename != "whole.mp4" {
		t.Errorf("item = %+v", it)
	}

	// The first part with the creation, the rest by PATCH.
	part := h.tusCreate(token, len(video), tusMeta("filename", "parts.mp4", "folder", "root"), video[:1000])
	wantStatus(t, part, http.StatusCreated)
	wantHeader(t, part, "Upload-Offset", "1000")
	wantHeader(t, part, headerItemID, "")
	rest := h.tusPatch(token, part.Header.Get("Location"), 1000, video[1000:])
	wantStatus(t, rest, http.StatusNoContent)
	it2 := decode[itemJSON](t, h.do("GET", rest.Header.Get(headerItemURL), token, nil))
	if it2.SHA256 != it.SHA256 || it2.ID == it.ID || it2.Filename != "parts.mp4" {
		t.Errorf("item = %+v", it2)
	}
}

func TestTusRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	editorEmail, editor := h.user(acl.RoleEditor)
	_, viewer := h.user(acl.RoleViewer)
	_, other := h.user(acl.RoleEditor)
	hidden := h.folder(other, "Hidden", nil)
	viewOnly := h.folder(other, "Look only", nil)
	wantStatus(t, h.do("PUT", "/api/folders/"+viewOnly.ID+"/grants/"+url.PathEscape(editorEmail), other,
		jsonBody(`{"permission":"view"}`), "Content-Type", "application/json"), http.StatusOK)
	name := tusMeta("filename", "a.mp4")
	tests := []struct {
		name   string
		token  string
		length int
		meta   string
		body   []byte
		header []string
		status int
		ours   bool // a JSON error from the app, not one of tusd's own
	}{
		{"anonymous", "", 10, name, nil, nil, http.StatusUnauthorized, true},
		{"bad token", "mg_nope", 10, name, nil, nil, http.StatusUnauthorized, true},
		{"viewer", viewer, 10, name, nil, nil, http.StatusForbidden, true},
		{"viewer with the bytes", viewer, 3, name, []byte("abc"), nil, http.StatusForbidden, true},
		{"over the limit", editor, int(h.cfg.MaxUpload) + 1, name, nil, nil, http.StatusRequestEntityTooLarge, true},
		{"empty", editor, 0, name, nil, nil, http.StatusBadRequest, true},
		{"no file name", editor, 10, tusMeta("folder", "root"), nil, nil, http.StatusBadRequest, true},
		{"no usable file name", editor, 10, tusMeta("filename", "dir/\u202e"), nil, nil, http.StatusBadRequest, true},
		{"folder not an id", editor, 10, tusMeta("filename", "a.mp4", "folder", "../x"), nil, nil, http.StatusNotFound, true},
		{"folder below view", editor, 10, tusMeta("filename", "a.mp4", "folder", hidden.ID), nil, nil, http.StatusNotFound, true},
		{"folder below view, with the bytes", editor, 3, tusMeta("filename", "a.mp4", "folder", hidden.ID), []byte("abc"), nil, http.StatusNotFound, true},
		{"folder view only", editor, 10, tusMeta("filename", "a.mp4", "folder", viewOnly.ID), nil, nil, http.StatusForbidden, true},
		{"no Tus-Resumable", editor, 10, name, nil, []string{"Tus-Resumable", ""}, http.StatusPreconditionFailed, false},
		{"deferred length", editor, 0, name, nil, []string{"Upload-Length", "", "Upload-Defer-Length", "1"}, http.StatusNotImplemented, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.tusCreate(tt.token, tt.length, tt.meta, tt.body, tt.header...)
			wantStatus(t, resp, tt.status)
			if resp.Header.Get("Location") != "" {
				t.Errorf("a refused upload has a Location: %s", resp.Header.Get("Location"))
			}
			if tt.ours {
				if e := decode[map[string]string](t, resp); e["error"] == "" {
					t.Error("no JSON error message")
				}
			}
		})
	}
	if files := h.uploadFiles(); len(files) != 0 {
		t.Errorf("refused uploads left %v", files)
	}
	assertEmptyDir(t, h.cfg.TmpDir())
	if n := h.count("media"); n != 0 {
		t.Errorf("refused uploads made %d items", n)
	}
	if n := h.count("resumable_uploads"); n != 0 {
		t.Errorf("refused uploads left %d receipts", n)
	}
}

func TestTusUploadIsTheCreatorsOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	_, stranger := h.user(acl.RoleEditor)
	_, admin := h.user(acl.RoleAdmin)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	loc := h.tusStart(owner, len(data), tusMeta("filename", "mine.bin"))
	wantStatus(t, h.tusPatch(owner, loc, 0, data[:5000]), http.StatusNoContent)
	never := "/api/uploads/" + strings.Repeat("0", 32)

	type answer struct {
		status int
		body   string
	}
	try := func(token, target, method string) answer {
		var resp *http.Response
		switch method {
		case "HEAD":
			resp = h.tusHead(token, target)
		case "PATCH":
			resp = h.tusPatch(token, target, 5000, data[5000:])
		case "DELETE":
			resp = h.do("DELETE", target, token, nil, "Tus-Resumable", "1.0.0")
		case "GET item":
			resp = h.do("GET", target+"/item", token, nil)
		}
		return answer{resp.StatusCode, string(readAll(t, resp))}
	}
	for _, method := range []string{"HEAD", "PATCH", "DELETE", "GET item"} {
		for who, token := range map[string]string{"stranger": stranger, "admin": admin} {
			got, unused := try(token, loc, method), try(token, never, method)
			if got.status != http.StatusNotFound || got != unused {
				t.Errorf("%s %s on another's upload = %+v; on an id never used = %+v", who, method, got, unused)
			}
		}
		if got := try("", loc, method); got.status != http.StatusUnauthorized {
			t.Errorf("anonymous %s = %+v, want 401", method, got)
		}
	}
	// None of that touched the upload: the creator goes on where it was.
	head := h.tusHead(owner, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", "5000")
	done := h.tusPatch(owner, loc, 5000, data[5000:])
	wantStatus(t, done, http.StatusNoContent)
	it := decode[itemJSON](t, h.do("GET", done.Header.Get(headerItemURL), owner, nil))
	if it.SHA256 != sha256Of(data) {
		t.Errorf("item sha256 %s, want %s", it.SHA256, sha256Of(data))
	}
	// Finished, it is still the creator's only.
	for _, method := range []string{"HEAD", "GET item"} {
		if got := try(stranger, loc, method); got.status != http.StatusNotFound {
			t.Errorf("stranger %s on a finished upload = %+v", method, got)
		}
	}
}

func TestTusTerminate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	data := bytes.Repeat([]byte("z"), 4000)
	loc := h.tusStart(token, len(data), tusMeta("filename", "gone.txt"))
	wantStatus(t, h.tusPatch(token, loc, 0, data[:1000]), http.StatusNoContent)
	wantStatus(t, h.do("DELETE", loc, token, nil, "Tus-Resumable", "1.0.0"), http.StatusNoContent)
	wantStatus(t, h.tusHead(token, loc), http.StatusNotFound)
	wantStatus(t, h.tusPatch(token, loc, 1000, data[1000:]), http.StatusNotFound)
	if files := h.uploadFiles(); len(files) != 0 {
		t.Errorf("a terminated upload left %v", files)
	}
	if _, ok := h.receipt(loc); ok {
		t.Error("a terminated upload left its receipt")
	}
	if n := h.count("media"); n != 0 {
		t.Errorf("%d items", n)
	}
}

// TestTusResumeAfterDisconnect cuts a PATCH off mid-body, as a lost network
// or a closed tab would, and resumes from the offset HEAD reports.
func TestTusResumeAfterDisconnect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	data := make([]byte, 600<<10)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	copy(data, sampleMP4(t)[:4096]) // sniffed from its start
	loc := h.tusStart(token, len(data), tusMeta("filename", "cut.mp4"))
	const sent = 200 << 10

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, "PATCH", h.srv.URL+loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data)) // the server waits for all of it
	for k, v := range map[string]string{"Authorization": "Bearer " + token, "Tus-Resumable": "1.0.0",
		"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"} {
		req.Header.Set(k, v)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has written what was sent, then drop the connection.
	bin := filepath.Join(h.cfg.UploadsDir(), path.Base(loc))
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(bin); err == nil && fi.Size() == sent {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the server did not receive the first bytes")
		}
	}
	cancel()
	pw.CloseWithError(context.Canceled) // the transport waits for its body writer
	if err := <-done; err == nil {
		t.Fatal("the cut PATCH succeeded")
	}

	head := h.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	off, err := strconv.Atoi(head.Header.Get("Upload-Offset"))
	if err != nil || off != sent {
		t.Fatalf("Upload-Offset after the cut = %q, want %d", head.Header.Get("Upload-Offset"), sent)
	}
	resp := h.tusPatch(token, loc, off, data[off:])
	wantStatus(t, resp, http.StatusNoContent)
	it := decode[itemJSON](t, h.do("GET", resp.Header.Get(headerItemURL), token, nil))
	if it.SHA256 != sha256Of(data) || it.Size != int64(len(data)) || it.ContentType != "video/mp4" {
		t.Errorf("item = %+v, want sha256 %s", it, sha256Of(data))
	}
}

func TestTusJanitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *config.Config) { c.UploadExpiry = time.Hour })
	_, token := h.user(acl.RoleEditor)
	data := bytes.Repeat([]byte("janitor "), 512)
	stale := h.tusStart(token, len(data), tusMeta("filename", "stale.txt"))
	wantStatus(t, h.tusPatch(token, stale, 0, data[:100]), http.StatusNoContent)
	fresh := h.tusStart(token, len(data), tusMeta("filename", "fresh.txt"))
	wantStatus(t, h.tusPatch(token, fresh, 0, data[:100]), http.StatusNoContent)
	finished := h.tusStart(token, len(data), tusMeta("filename", "finished.txt"))
	last := h.tusPatch(token, finished, 0, data)
	wantStatus(t, last, http.StatusNoContent)

	// All three saw nothing for two hours; then the fresh one got bytes.
	if _, err := h.pool.Exec(context.Background(), `UPDATE resumable_uploads
		SET created_at = created_at - interval '2 hours', active_at = active_at - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h.tusPatch(token, fresh, 100, data[100:200]), http.StatusNoContent)
	n, err := h.app.Uploads().Expire(context.Background(), time.Now())
	if err != nil || n != 2 {
		t.Errorf("Expire = %d, %v; want 2 removed", n, err)
	}
	wantStatus(t, h.tusHead(token, stale), http.StatusNotFound)
	wantStatus(t, h.tusHead(token, finished), http.StatusNotFound)
	head := h.tusHead(token, fresh)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", "200")
	wantStatus(t, h.do("GET", last.Header.Get(headerItemURL), token, nil), http.StatusOK)
	if files := h.uploadFiles(); len(files) != 2 {
		t.Errorf("uploads dir holds %v, want the fresh upload only", files)
	}
	if n := h.count("resumable_uploads"); n != 1 {
		t.Errorf("%d receipts, want the fresh upload's", n)
	}

	// The serve command's janitor, with a tiny expiry.
	h2 := newHarness(t, func(c *config.Config) { c.UploadExpiry = 50 * time.Millisecond })
	_, token2 := h2.user(acl.RoleEditor)
	loc := h2.tusStart(token2, len(data), tusMeta("filename", "abandoned.txt"))
	wantStatus(t, h2.tusPatch(token2, loc, 0, data[:100]), http.StatusNoContent)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); h2.app.Uploads().Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	for start := time.Now(); len(h2.uploadFiles()) != 0 || h2.count("resumable_uploads") != 0; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the janitor left %v and %d receipts", h2.uploadFiles(), h2.count("resumable_uploads"))
		}
	}
	wantStatus(t, h2.tusHead(token2, loc), http.StatusNotFound)
}

// TestTusWithSessionCookie uploads from our own page: the session cookie
// authenticates, the session is never written (no Set-Cookie: the route is
// outside LoadAndSave), and another site's page is refused.
func TestTusWithSessionCookie(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	email, _ := h.user(acl.RoleEditor)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, target, site string, body []byte, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, h.srv.URL+target, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Sec-Fetch-Site", site)
		if site == "same-origin" {
			req.Header.Set("Origin", h.srv.URL)
		} else {
			req.Header.Set("Origin", "http://evil.example")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	login := send("POST", "/login", "same-origin", []byte(url.Values{"email": {email}, "password": {"password123"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
	wantStatus(t, login, http.StatusSeeOther)

	data := []byte("a small text file, uploaded from the library page\n")
	create := []string{"Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", tusMeta("filename", "page.txt")}
	wantStatus(t, send("POST", "/api/uploads/", "cross-site", nil, create...), http.StatusForbidden)
	resp := send("POST", "/api/uploads/", "same-origin", nil, create...)
	wantStatus(t, resp, http.StatusCreated)
	patch := send("PATCH", resp.Header.Get("Location"), "same-origin", data, "Tus-Resumable", "1.0.0",
		"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")
	wantStatus(t, patch, http.StatusNoContent)
	for _, r := range []*http.Response{resp, patch} {
		if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("%s wrote the session: %v", r.Request.Method, sc)
		}
	}
	it := decode[itemJSON](t, send("GET", patch.Header.Get(headerItemURL), "same-origin", nil))
	if it.Owner != email || it.SHA256 != sha256Of(data) || !strings.HasPrefix(it.ContentType, "text/plain") {
		t.Errorf("item = %+v", it)
	}
	if files := h.uploadFiles(); len(files) != 0 {
		t.Errorf("uploads dir holds %v, want nothing", files)
	}
	if item, _ := h.receipt(patch.Request.URL.Path); item != it.ID {
		t.Errorf("receipt names %q, want %s", item, it.ID)
	}
}

// TestTusFolderRevokedMidUpload checks that the folder permission is checked
// again when the last byte arrives: no item, and the upload is ended.
func TestTusFolderRevokedMidUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	guestEmail, guest := h.user(acl.RoleEditor)
	shared := h.folder(owner, "Shared", nil)
	grant := "/api/folders/" + shared.ID + "/grants/" + url.PathEscape(guestEmail)
	wantStatus(t, h.do("PUT", grant, owner, jsonBody(`{"permission":"edit"}`), "Content-Type", "application/json"), http.StatusOK)
	data := bytes.Repeat([]byte("revoked "), 1000)
	loc := h.tusStart(guest, len(data), tusMeta("filename", "late.txt", "folder", shared.ID))
	wantStatus(t, h.tusPatch(guest, loc, 0, data[:100]), http.StatusNoContent)

	wantStatus(t, h.do("DELETE", grant, owner, nil), http.StatusNoContent)
	last := h.tusPatch(guest, loc, 100, data[100:])
	wantStatus(t, last, http.StatusNotFound) // the folder no longer exists for the guest
	if e := decode[map[string]string](t, last); !strings.Contains(e["error"], "folder") {
		t.Errorf("error = %q", e["error"])
	}
	wantHeader(t, last, headerItemID, "")
	wantStatus(t, h.tusHead(guest, loc), http.StatusNotFound)
	if files := h.uploadFiles(); len(files) != 0 {
		t.Errorf("the refused upload left %v", files)
	}
	if _, ok := h.receipt(loc); ok {
		t.Error("the refused upload left its receipt")
	}
	assertEmptyDir(t, h.cfg.TmpDir())
	if n := h.count("media"); n != 0 {
		t.Errorf("%d items", n)
	}
}

// TestTusItemFinishesACompleteUpload covers an upload whose bytes are all on
// disk but which was never made an item (the server stopped, or PostgreSQL
// was away, right after the last byte): GET …/item makes it, once.
func TestTusItemFinishesACompleteUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	email, token := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	loc := h.tusStart(token, len(video), tusMeta("filename", "crash.mp4"))
	// The last PATCH's bytes reached the disk; its answer never came.
	if err := os.WriteFile(filepath.Join(h.cfg.UploadsDir(), path.Base(loc)), video, 0o600); err != nil {
		t.Fatal(err)
	}
	head := h.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", strconv.Itoa(len(video)))
	wantHeader(t, head, headerItemID, "")

	first := decode[itemJSON](t, h.do("GET", loc+"/item", token, nil))
	if first.SHA256 != sha256Of(video) || first.Owner != email || first.Filename != "crash.mp4" || first.ContentType != "video/mp4" {
		t.Errorf("item = %+v", first)
	}
	second := decode[itemJSON](t, h.do("GET", loc+"/item", token, nil))
	if second.ID != first.ID || h.count("media") != 1 {
		t.Errorf("asking twice made %d items (%s, %s)", h.count("media"), first.ID, second.ID)
	}
	wantHeader(t, h.tusHead(token, loc), headerItemID, first.ID)
}

// instance starts another instance of h's app, as a second server behind the
// same nginx upstream: the same database and data dir, its own pool, caches,
// locks and HTTP server.
func (h *harness) instance() *harness {
	h.t.Helper()
	pool, err := pgxpool.New(context.Background(), h.cfg.DatabaseURL)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(pool.Close) // after the instance's own cleanups
	return startHarness(h.t, h.cfg, pool)
}

// TestTusAcrossInstances runs an upload over two instances of the app, as
// a load balancer spreads one client's requests: created on one, resumed
// and finished on the other, and answered for by both. A PATCH that hangs on
// one instance is stopped by the client's HEAD on the other (tusd's release
// request, which crosses instances by NOTIFY), and the HEAD then answers
// with what that PATCH wrote, at once rather than after tusd's 20 s lock
// timeout.
func TestTusAcrossInstances(t *testing.T) {
	t.Parallel()
	a := newHarness(t, nil)
	b := a.instance()
	email, token := a.user(acl.RoleEditor)
	_, stranger := a.user(acl.RoleEditor)
	data := make([]byte, 600<<10)
	for i := range data {
		data[i] = byte(i * 13 % 251)
	}
	copy(data, sampleMP4(t)[:4096]) // sniffed from its start
	loc := a.tusStart(token, len(data), tusMeta("filename", "both.mp4"))
	head := b.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", "0")
	wantStatus(t, b.tusHead(stranger, loc), http.StatusNotFound)

	// A PATCH on a that sends a third of the file and then nothing.
	const sent = 200 << 10
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest("PATCH", a.srv.URL+loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	for k, v := range map[string]string{"Authorization": "Bearer " + token, "Tus-Resumable": "1.0.0",
		"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"} {
		req.Header.Set(k, v)
	}
	hung := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			hung <- 0
			return
		}
		resp.Body.Close()
		hung <- resp.StatusCode
	}()
	if _, err := pw.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(a.cfg.UploadsDir(), path.Base(loc))
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(bin); err == nil && fi.Size() == sent {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("a did not receive the first bytes")
		}
	}

	// The client gives up on it and asks b where to resume.
	start := time.Now()
	head = b.tusHead(token, loc)
	took := time.Since(start)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", strconv.Itoa(sent))
	if took > 5*time.Second {
		t.Errorf("HEAD on b waited %v for a's PATCH to let go", took)
	}
	t.Logf("HEAD on b stopped the PATCH on a and answered in %v", took)
	select {
	case status := <-hung:
		if status == http.StatusNoContent {
			t.Error("the interrupted PATCH succeeded")
		}
		t.Logf("the interrupted PATCH got %d (0: no answer)", status)
	case <-time.After(10 * time.Second):
		t.Fatal("the PATCH on a still runs")
	}

	last := b.tusPatch(token, loc, sent, data[sent:])
	wantStatus(t, last, http.StatusNoContent)
	id := last.Header.Get(headerItemID)
	it := decode[itemJSON](t, a.do("GET", loc+"/item", token, nil))
	if it.ID != id || it.SHA256 != sha256Of(data) || it.Owner != email || it.ContentType != "video/mp4" {
		t.Errorf("item from a = %+v, want %s with sha256 %s", it, id, sha256Of(data))
	}
	head = a.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", strconv.Itoa(len(data)))
	wantHeader(t, head, headerItemID, id)
	wantStatus(t, a.do("GET", loc+"/item", stranger, nil), http.StatusNotFound)

	// Forgotten on one, it is gone on both.
	wantStatus(t, a.do("DELETE", loc, token, nil, "Tus-Resumable", "1.0.0"), http.StatusNoContent)
	wantStatus(t, b.tusHead(token, loc), http.StatusNotFound)
	if files := a.uploadFiles(); len(files) != 0 {
		t.Errorf("uploads dir holds %v", files)
	}
}
