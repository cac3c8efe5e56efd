package app

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// Cache lifetimes of static files: a hashed name never changes content, so
// browsers may keep it for a year; a plain name may change with a release,
// so it is asked about again (by its ETag) every time it is used.
const (
	immutableCache = "public, max-age=31536000, immutable"
	plainCache     = "no-cache"
)

// The scripts are ES modules under moduleDir. They import each other by
// bare specifiers, "mg/<name>.js", which the page's import map turns into
// their hashed URLs: a page loads only the modules of the release that
// rendered it, never a mix of old and new, and a module without the map
// does not load at all. entryModule is the one the page runs.
const (
	moduleDir   = "js/"
	moduleScope = "mg/"
	entryModule = moduleDir + "main.js"
)

// assets serves the embedded static files under content-hashed names
// ("/static/app.3f9c0e2b7a1d4c5e.js"), worked out once at start-up, and
// under their plain names for anything that links to those.
type assets struct {
	urls  map[string]string      // plain name -> "/static/<hashed name>"
	files map[string]staticAsset // plain and hashed names -> content

	modules   map[string]string // import specifier ("mg/api.js") -> hashed URL
	importMap string            // its JSON
	scripts   template.HTML     // the import map, the preloads and the entry module
	csp       string            // pageCSP with the import map's hash, once there is one
}

type staticAsset struct {
	data   []byte
	etag   string
	hashed bool
}

// newAssets reads every file of fsys and names it by its content.
func newAssets(fsys fs.FS) (*assets, error) {
	as := &assets{urls: map[string]string{}, files: map[string]staticAsset{}, modules: map[string]string{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:8])
		hashed := hashedName(name, hash)
		etag := `"` + hash + `"`
		as.urls[name] = "/static/" + hashed
		as.files[name] = staticAsset{data: data, etag: etag}
		as.files[hashed] = staticAsset{data: data, etag: etag, hashed: true}
		if rest, ok := strings.CutPrefix(name, moduleDir); ok && path.Ext(rest) == ".js" && !strings.Contains(rest, "/") {
			as.modules[moduleScope+rest] = as.urls[name]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	if err := as.buildScripts(); err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	return as, nil
}

// buildScripts renders, once, what the layout puts in every page's head:
// the import map (inline: browsers take no other kind, so the page CSP
// allows it by its hash), a modulepreload per module, which spares the
// browser finding them one import at a time, and the entry module.
// Without modules (a test's file set) there is nothing to render.
func (as *assets) buildScripts() error {
	if len(as.modules) == 0 {
		return nil
	}
	entry, ok := as.urls[entryModule]
	if !ok {
		return fmt.Errorf("no entry module %s", entryModule)
	}
	// json.Marshal sorts the keys and escapes <, > and &, so the map is the
	// same bytes every start and cannot end its script element.
	imap, err := json.Marshal(map[string]map[string]string{"imports": as.modules})
	if err != nil {
		return err
	}
	as.importMap = string(imap)
	sum := sha256.Sum256(imap)
	as.csp = strings.Replace(pageCSP, "script-src 'self'", "script-src 'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", 1)
	urls := make([]string, 0, len(as.modules))
	for _, u := range as.modules {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	var b strings.Builder
	b.WriteString(`<script type="importmap">`)
	b.Write(imap)
	b.WriteString("</script>\n")
	for _, u := range urls {
		b.WriteString(`<link rel="modulepreload" href="` + template.HTMLEscapeString(u) + `">` + "\n")
	}
	b.WriteString(`<script type="module" src="` + template.HTMLEscapeString(entry) + `"></script>`)
	as.scripts = template.HTML(b.String())
	return nil
}

// Scripts is the template function "scripts": the page's import map,
// module preloads and entry module.
func (as *assets) Scripts() template.HTML { return as.scripts }

// CSP is the page Content-Security-Policy that lets the import map run.
func (as *assets) CSP() string { return cmp.Or(as.csp, pageCSP) }

// hashedName puts hash before the extension: app.js -> app.<hash>.js.
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// URL is the template function "asset": the hashed URL of a static file.
// An unknown name fails the page, so a typo shows up in the first test.
func (as *assets) URL(name string) (string, error) {
	u, ok := as.urls[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return u, nil
}

// ServeHTTP answers /static/<name>. A hashed name that is not the current
// one (a page from an older release asking for its CSS) is a 404 rather
// than today's content cached for a year under yesterday's name.
func (as *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	f, ok := as.files[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", plainCache)
	if f.hashed {
		h.Set("Cache-Control", immutableCache)
	}
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}
