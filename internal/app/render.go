package app

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"strings"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/web"
)

// pages holds one template set per page, each with the layout and the
// shared parts (templates/_*.html), parsed once, and the static assets the
// pages link to by their hashed names.
type pages struct {
	sets   map[string]*template.Template
	assets *assets
}

var funcs = template.FuncMap{"size": config.HumanSize}

func parsePages() (*pages, error) {
	names, err := fs.Glob(web.Templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(web.Static, "static")
	if err != nil {
		return nil, err
	}
	as, err := newAssets(static)
	if err != nil {
		return nil, err
	}
	fm := template.FuncMap{"asset": as.URL, "scripts": as.Scripts}
	maps.Copy(fm, uiFuncs)
	maps.Copy(fm, funcs)
	p := &pages{sets: map[string]*template.Template{}, assets: as}
	for _, n := range names {
		if strings.HasSuffix(n, "/layout.html") || strings.HasPrefix(n, "templates/_") {
			continue
		}
		t, err := template.New("").Funcs(fm).ParseFS(web.Templates, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		p.sets[name] = t
	}
	return p, nil
}

// render executes the page into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (a *App) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	t, ok := a.pages.sets[page]
	if !ok {
		a.log.Error("no such template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		a.log.Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Error pages under the media prefixes too get the page policy.
	h.Set("Content-Security-Policy", a.pages.assets.CSP())
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

func (a *App) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p, _ := caller(r)
	data := map[string]any{"Title": http.StatusText(status), "Message": msg}
	if p.Valid() {
		data["User"] = p
	}
	a.render(w, status, "error", data)
}
