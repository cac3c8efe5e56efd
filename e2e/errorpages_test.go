package e2e

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mediagate/mediagate/internal/testenv"
)

// TestNginxErrorPagesLookLikeTheApp has chromium, through nginx, meet the
// pages nginx answers by itself: 404 for a /media/ name that is not
// published, 413 for a form upload over the limit, 504 when the app does not
// answer and 502 when it is gone. Each is the app's error page, styled (its
// inline style passed its CSP: the page's background and header are the
// app's), with the limit in words, and no path of the server in it.
func TestNginxErrorPagesLookLikeTheApp(t *testing.T) {
	testenv.LookPath(t, "chromium")
	s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: "1MiB", serveArgs: []string{"serve"},
		// A silent app is a 504 in 2 s instead of an hour.
		nginxEdit: func(conf string) string {
			return strings.Replace(conf, "proxy_read_timeout 1h;", "proxy_read_timeout 2s;", 1)
		}})
	shots := 0
	c := s.newChrome(t, "visitor", &shots)

	styled := func(t *testing.T, what, title, message string) {
		t.Helper()
		type look struct {
			Title      string `json:"title"`
			Message    string `json:"message"`
			Background string `json:"background"`
			Header     string `json:"header"`
			Card       string `json:"card"`
			Text       string `json:"text"`
		}
		got := pollJS(t, c, what+" to show the styled page", 0, `(() => {
			const h = document.querySelector("h1"), top = document.querySelector(".top"), card = document.querySelector(".card");
			return {title: h ? h.textContent : "", message: card ? card.querySelector("p").textContent : "",
				background: getComputedStyle(document.body).backgroundColor,
				header: top ? getComputedStyle(top).display + " " + getComputedStyle(top).backgroundColor : "",
				card: card ? getComputedStyle(card).borderRadius : "", text: document.documentElement.outerHTML};
		})()`, func(v look) bool { return v.Title != "" })
		c.screenshot(t, what)
		// The app's palette (app.css: --bg, --card, --radius).
		if got.Title != title || got.Message != message || got.Background != "rgb(244, 245, 247)" ||
			got.Header != "flex rgb(255, 255, 255)" || got.Card != "10px" {
			t.Errorf("%s: %+v, want the app's error page %q / %q, styled", what, got, title, message)
		}
		for _, leak := range []string{s.root, "nginx/1.", "/pmedia/", "<script"} {
			if strings.Contains(got.Text, leak) {
				t.Errorf("%s: the page holds %q", what, leak)
			}
		}
	}

	t.Run("404", func(t *testing.T) {
		if st := c.navigate(t, "/media/0123456789abcdef0123456789abcdef.mp4"); st != http.StatusNotFound {
			c.fail(t, "status %d, want 404", st)
		}
		styled(t, "404", "Not Found", "There is no file at this address, or it is no longer published")
	})

	t.Run("413", func(t *testing.T) {
		if st := c.navigate(t, "/login"); st != http.StatusOK {
			c.fail(t, "GET /login: %d", st)
		}
		// A form upload of 2 MiB, more than the 1 MiB limit and its slack:
		// nginx refuses it before the app sees a byte.
		mark := c.net.mark()
		evalJS[bool](t, c, `(() => {
			const f = document.createElement("form");
			f.method = "post"; f.action = "/upload"; f.enctype = "multipart/form-data";
			const a = document.createElement("textarea");
			a.name = "file"; a.value = "x".repeat(2 << 20);
			f.append(a); document.body.append(f); f.submit();
			return true;
		})()`)
		var doc []netEvent
		eventually(chromeStepTimeout, func() bool {
			doc = c.net.since(mark, func(e netEvent) bool { return strings.HasSuffix(e.URL, "/upload") && e.Status != 0 })
			return len(doc) > 0
		})
		if len(doc) == 0 || doc[0].Status != http.StatusRequestEntityTooLarge {
			c.fail(t, "the form upload's answer:%s", describe(doc))
		}
		styled(t, "413", "Request Entity Too Large", "Uploads are limited to 1 MiB")
	})

	t.Run("504", func(t *testing.T) {
		pid := s.server.pid()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer syscall.Kill(pid, syscall.SIGCONT)
		if st := c.navigate(t, "/"); st != http.StatusGatewayTimeout {
			c.fail(t, "status %d, want 504", st)
		}
		styled(t, "504", "Gateway Timeout", "The service took too long to answer, try again shortly")
	})

	t.Run("502", func(t *testing.T) {
		s.server.shutdown(t, true)
		// nginx marks an upstream that failed as down for a while, and
		// answers 502 at once; either way the app is not there.
		ctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
		defer cancel()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.url("/account")))
		if err != nil || resp.Status != http.StatusBadGateway {
			c.fail(t, "GET /account with the app gone: %v %v, want 502", resp, err)
		}
		styled(t, "502", "Bad Gateway", "The service is temporarily unavailable, try again shortly")
	})
}
