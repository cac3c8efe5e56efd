package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Cache lifetimes of static files: a hashed name never changes content, so
// browsers may keep it for a year; a plain name may change with a release.
const (
	immutableCache = "public, max-age=31536000, immutable"
	plainCache     = "public, max-age=300"
)

// assets serves the embedded static files under content-hashed names
// ("/static/app.3f9c0e2b7a1d4c5e.js"), worked out once at start-up, and
// under their plain names for anything that links to those.
type assets struct {
	urls  map[string]string      // plain name -> "/static/<hashed name>"
	files map[string]staticAsset // plain and hashed names -> content
}

type staticAsset struct {
	data   []byte
	etag   string
	hashed bool
}

// newAssets reads every file of fsys and names it by its content.
func newAssets(fsys fs.FS) (*assets, error) {
	as := &assets{urls: map[string]string{}, files: map[string]staticAsset{}}
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
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	return as, nil
}

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
