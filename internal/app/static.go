package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/web"
)

// StaticPage is an error page that nginx answers by itself, when the app
// cannot (it is down) or is never asked (nginx refused the request first).
type StaticPage struct {
	Status int
	Body   string // the whole HTML document
	CSP    string // its Content-Security-Policy
}

// staticSelectors are the rules of app.css the error page uses: the page
// carries them inline, since the app that serves app.css may be the thing
// that is down.
var staticSelectors = []string{
	":root", "*", "html", "body", "h1", "a", "[hidden]", ".sr", ".icon", ":focus-visible", "main:focus",
	".skip", ".skip:focus", ".top", ".brand", ".brand .icon", "main", ".card", ".narrow",
}

// StaticErrorPages renders the app's error page for what nginx answers by
// itself: 404 (an unpublished /media/ URL), 413 (an upload over
// cfg.MaxUpload, refused before the app saw it), 502 and 504 (the app is down
// or does not answer). Each is the layout and error template of every other
// page, with the part of app.css it uses inline and allowed by its hash,
// and no script: nothing in it needs the app.
func StaticErrorPages(cfg config.Config) ([]StaticPage, error) {
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	css, err := fs.ReadFile(web.Static, "static/app.css")
	if err != nil {
		return nil, err
	}
	style := cssRules(string(css), staticSelectors)
	sum := sha256.Sum256([]byte(style))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	var out []StaticPage
	for _, page := range []struct {
		status int
		msg    string
	}{
		{http.StatusNotFound, "not found: there is no file at this address, or it is no longer published"},
		{http.StatusRequestEntityTooLarge, "too large: uploads are limited to " + config.HumanSize(cfg.MaxUpload)},
		{http.StatusBadGateway, "the service is temporarily unavailable, try again shortly"},
		{http.StatusGatewayTimeout, "the service took too long to answer, try again shortly"},
	} {
		t, err := p.sets["error"].Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.New("assets").Parse(`<style>{{.Style}}</style>` + "\n"); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		data := map[string]any{"Title": http.StatusText(page.status), "Message": page.msg, "Style": template.CSS(style)}
		if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
			return nil, fmt.Errorf("static error page %d: %w", page.status, err)
		}
		out = append(out, StaticPage{Status: page.status, Body: b.String(), CSP: csp})
	}
	return out, nil
}

// cssRules returns the top-level rules of css (at-rules and comments left
// out) that name one of selectors, one per line.
func cssRules(css string, selectors []string) string {
	var b strings.Builder
	depth, start := 0, 0
	for i := 0; i < len(css); i++ {
		switch {
		case strings.HasPrefix(css[i:], "/*"):
			end := strings.Index(css[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			if depth == 0 {
				start = i + 2 + end + 2
			}
			i += 2 + end + 1
		case css[i] == '{':
			depth++
		case css[i] == '}':
			depth--
			if depth == 0 {
				rule := strings.TrimSpace(css[start : i+1])
				head, _, _ := strings.Cut(rule, "{")
				if !strings.HasPrefix(head, "@") && slices.ContainsFunc(strings.Split(head, ","), func(s string) bool {
					return slices.Contains(selectors, strings.TrimSpace(s))
				}) {
					b.WriteString(rule)
					b.WriteByte('\n')
				}
				start = i + 1
			}
		}
	}
	return b.String()
}
