package app

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/config"
)

// TestStaticErrorPages checks the pages nginx serves by itself: the app's
// error page, self-contained (no script, no link to the app), its inline
// style allowed by hash, the upload limit in words.
func TestStaticErrorPages(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.MaxUpload = 5 << 20
	pages, err := StaticErrorPages(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{404: "Not Found", 413: "Request Entity Too Large", 502: "Bad Gateway", 504: "Gateway Timeout"}
	if len(pages) != len(want) {
		t.Fatalf("%d pages, want %d", len(pages), len(want))
	}
	for _, p := range pages {
		title, ok := want[p.Status]
		if !ok {
			t.Errorf("a page for %d", p.Status)
			continue
		}
		for _, s := range []string{"<title>" + title + " · Mediagate</title>", "<h1>" + title + "</h1>", `class="top"`, `class="brand"`, `<section class="card narrow">`, `href="/"`} {
			if !strings.Contains(p.Body, s) {
				t.Errorf("%d: the page lacks %q:\n%s", p.Status, s, p.Body)
			}
		}
		for _, s := range []string{"<script", "/static/", "<link", " style="} {
			if strings.Contains(p.Body, s) {
				t.Errorf("%d: the page holds %q", p.Status, s)
			}
		}
		_, rest, _ := strings.Cut(p.Body, "<style>")
		style, _, ok := strings.Cut(rest, "</style>")
		if !ok || !strings.Contains(style, ".top {") || !strings.Contains(style, "--accent:") || strings.Contains(style, ".library") {
			t.Errorf("%d: the inline style is not app.css's rules for the page:\n%s", p.Status, style)
		}
		sum := sha256.Sum256([]byte(style))
		if h := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(p.CSP, h) || !strings.HasPrefix(p.CSP, "default-src 'none';") {
			t.Errorf("%d: CSP %q does not allow exactly the inline style (%s)", p.Status, p.CSP, h)
		}
	}
	if !strings.Contains(pages[1].Body, "<p>Uploads are limited to 5 MiB</p>") {
		t.Errorf("the 413 page does not give the limit in words:\n%s", pages[1].Body)
	}
	if pages[0].Status != http.StatusNotFound {
		t.Errorf("first page %d", pages[0].Status)
	}
}
