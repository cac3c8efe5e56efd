package app

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mediagate/mediagate/web"
)

func TestAssetsAreServedByContentHash(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		"app.js":        {Data: []byte("console.log(1)\n")},
		"app.css":       {Data: []byte("body{}\n")},
		"img/logo.svg":  {Data: []byte("<svg/>")},
		"noext":         {Data: []byte("x")},
		"same/app.js":   {Data: []byte("console.log(1)\n")},
		"other/app.css": {Data: []byte("p{}\n")},
	}
	as, err := newAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	hashOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:8]) }

	for name, f := range files {
		u, err := as.URL(name)
		if err != nil {
			t.Fatalf("URL(%q): %v", name, err)
		}
		if !strings.Contains(u, "."+hashOf(f.Data)) || !strings.HasPrefix(u, "/static/") {
			t.Errorf("URL(%q) = %q, want /static/… with the content's hash", name, u)
		}
	}
	if u, _ := as.URL("app.js"); u != "/static/app."+hashOf(files["app.js"].Data)+".js" {
		t.Errorf("URL(app.js) = %q: the hash goes before the extension", u)
	}
	if _, err := as.URL("missing.js"); err == nil {
		t.Error("URL of an unknown asset: no error, so a typo in a template would go unnoticed")
	}

	get := func(method, path string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		as.ServeHTTP(rec, req)
		return rec
	}
	hashed, _ := as.URL("app.js")
	for _, c := range []struct {
		method, path string
		status       int
		cache        string
		body         string
	}{
		{"GET", hashed, 200, immutableCache, "console.log(1)\n"},
		{"HEAD", hashed, 200, immutableCache, ""},
		{"GET", "/static/app.js", 200, plainCache, "console.log(1)\n"},
		{"GET", "/static/app.0123456789abcdef.js", 404, "no-store", ""},            // a stale hash
		{"GET", "/static/app." + hashOf([]byte("x")) + ".js", 404, "no-store", ""}, // another file's hash
		{"GET", "/static/nope.js", 404, "no-store", ""},
		{"GET", "/static/", 404, "no-store", ""},
		{"POST", hashed, 404, "no-store", ""},
	} {
		rec := get(c.method, c.path)
		if rec.Code != c.status || rec.Header().Get("Cache-Control") != c.cache {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, rec.Code, rec.Header().Get("Cache-Control"), c.status, c.cache)
		}
		if c.body != "" && rec.Body.String() != c.body {
			t.Errorf("%s %s: body %q", c.method, c.path, rec.Body.String())
		}
	}
	if ct := get("GET", hashed).Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type of a script: %q", ct)
	}
	css, _ := as.URL("app.css")
	if ct := get("GET", css).Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type of a style sheet: %q", ct)
	}
	// Revalidation of a plain name answers 304 by the ETag.
	rec := get("GET", "/static/app.js")
	if again := get("GET", "/static/app.js", "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", again.Code)
	}
}

// TestEmbeddedAssets checks the real static files: every one has a hashed
// URL, and the pages' templates name only files that exist.
func TestEmbeddedAssets(t *testing.T) {
	t.Parallel()
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	static, _ := fs.Sub(web.Static, "static")
	names, _ := fs.Glob(static, "*")
	if len(names) == 0 {
		t.Fatal("no static files embedded")
	}
	re := regexp.MustCompile(`^/static/[a-z0-9_-]+\.[0-9a-f]{16}\.[a-z]+$`)
	for _, n := range names {
		u, err := p.assets.URL(n)
		if err != nil || !re.MatchString(u) {
			t.Errorf("asset %q: URL %q, %v", n, u, err)
		}
	}
	for _, want := range []string{"app.js", "app.css", "early.js"} {
		if _, err := p.assets.URL(want); err != nil {
			t.Errorf("the layout needs %s: %v", want, err)
		}
	}
}
