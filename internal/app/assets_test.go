package app

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
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
	var names []string
	fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, name)
		}
		return err
	})
	if len(names) == 0 {
		t.Fatal("no static files embedded")
	}
	re := regexp.MustCompile(`^/static/(js/)?[a-z0-9_-]+\.[0-9a-f]{16}\.[a-z]+$`)
	for _, n := range names {
		u, err := p.assets.URL(n)
		if err != nil || !re.MatchString(u) {
			t.Errorf("asset %q: URL %q, %v", n, u, err)
		}
	}
	for _, want := range []string{entryModule, "app.css", "early.js"} {
		if _, err := p.assets.URL(want); err != nil {
			t.Errorf("the layout needs %s: %v", want, err)
		}
	}
}

// TestModulesLoadThroughTheImportMap checks the real modules: each is
// served under its content hash with a year's cache, the import map names
// every one (and nothing else), every import of every module is a name in
// the map, so no module is ever fetched by a plain name, and a plain name
// is asked about again every time rather than kept.
func TestModulesLoadThroughTheImportMap(t *testing.T) {
	t.Parallel()
	as, err := embeddedAssets()
	if err != nil {
		t.Fatal(err)
	}
	var imap struct {
		Imports map[string]string `json:"imports"`
	}
	if err := json.Unmarshal([]byte(as.importMap), &imap); err != nil {
		t.Fatalf("import map %q: %v", as.importMap, err)
	}
	files, _ := fs.Glob(web.Static, "static/"+moduleDir+"*.js")
	if len(files) < 10 {
		t.Fatalf("only %d modules: %v", len(files), files)
	}
	if len(imap.Imports) != len(files) {
		t.Errorf("the import map names %d modules, there are %d: %v", len(imap.Imports), len(files), imap.Imports)
	}
	importRE := regexp.MustCompile(`(?m)^(?:import\s+(?:[^"';]*?\s*from\s*)?|export\s*(?:\*|\{[^}]*\})\s*from\s*)["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']`)
	for _, f := range files {
		data, _ := fs.ReadFile(web.Static, f)
		name := path.Base(f)
		spec := moduleScope + name
		u, ok := imap.Imports[spec]
		sum := sha256.Sum256(data)
		if want := "/static/" + moduleDir + hashedName(name, hex.EncodeToString(sum[:8])); !ok || u != want {
			t.Errorf("import map: %s -> %q, want %q", spec, u, want)
		}
		for _, m := range importRE.FindAllStringSubmatch(string(data), -1) {
			dep := m[1] + m[2]
			if _, ok := imap.Imports[dep]; !ok {
				t.Errorf("%s imports %q, which the import map does not name", name, dep)
			}
		}
		for _, c := range []struct {
			path, cache string
		}{{u, immutableCache}, {"/static/" + moduleDir + name, plainCache}} {
			rec := httptest.NewRecorder()
			as.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			if rec.Code != 200 || rec.Header().Get("Cache-Control") != c.cache || rec.Body.String() != string(data) ||
				!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
				t.Errorf("GET %s: %d %q %q, want 200 %q and the module", c.path, rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Type"), c.cache)
			}
		}
	}
	if strings.Contains(plainCache, "max-age") && !strings.Contains(plainCache, "max-age=0") {
		t.Errorf("plain names are cached: %q", plainCache)
	}
	// The head of every page: the map first, a preload of every module, the
	// entry module by its hashed URL; and the CSP lets that one map run.
	head := string(as.Scripts())
	if !strings.HasPrefix(head, importMapTag(t)) || !strings.HasSuffix(head, `<script type="module" src="`+imap.Imports[moduleScope+path.Base(entryModule)]+`"></script>`) {
		t.Errorf("page scripts:\n%s", head)
	}
	for _, u := range imap.Imports {
		if !strings.Contains(head, `<link rel="modulepreload" href="`+u+`">`) {
			t.Errorf("no modulepreload of %s", u)
		}
	}
	sum := sha256.Sum256([]byte(as.importMap))
	if csp := as.CSP(); !strings.Contains(csp, "script-src 'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"';") || strings.Contains(csp, "unsafe") {
		t.Errorf("page CSP %q does not allow the import map by its hash alone", csp)
	}
}
