package app

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/errs"
)

func (a *App) libraryPage(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	data, err := a.libraryData(r, p)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "library", data)
	return nil
}

func (a *App) mediaPage(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	it, err := a.media.Get(r.Context(), p, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	data, err := a.mediaData(r.Context(), p, it)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "media", data)
	return nil
}

func (a *App) uploadForm(w http.ResponseWriter, r *http.Request) error {
	it, err := a.upload(w, r)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/m/"+it.ID, http.StatusSeeOther)
	return nil
}

func (a *App) loginPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := caller(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	a.render(w, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
	return nil
}

func (a *App) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: malformed form", errs.ErrInvalid)
	}
	email, next := r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	_, err := a.auth.Login(r.Context(), email, r.PostForm.Get("password"), a.clientIP(r))
	status := statusOf(err)
	switch {
	case err == nil:
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	case errors.Is(err, errs.ErrUnauthenticated), errors.Is(err, errs.ErrThrottled), errors.Is(err, errs.ErrInvalid):
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "900")
		}
		msg := "Wrong email or password."
		if status != http.StatusUnauthorized {
			msg = err.Error()
		}
		a.render(w, status, "login", map[string]any{"Error": msg, "Email": email, "Next": next})
		return nil
	}
	return err
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.auth.Logout(r.Context()); err != nil {
		return fmt.Errorf("%w: %w", errs.ErrUnavailable, err)
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps post-login redirects on this site: next must be a path of
// ours as a browser will read it, or "/" is used instead. Browsers drop tabs
// and newlines from URLs and read a backslash as a slash, so "/\t/evil" and
// "/\\evil" both become "//evil", another origin: any control character,
// whitespace or backslash is refused, as are a leading "//", dot segments
// (which "/..//evil" resolves into "//evil") and anything that parses with
// a scheme, a host or user info.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	if strings.ContainsFunc(next, func(r rune) bool {
		return r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError ||
			unicode.Is(unicode.Cf, r) // format characters (zero-width, bidi) that browsers may drop too
	}) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "/"
		}
	}
	return next
}
