package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mediagate/mediagate/internal/errs"
)

// handlerFunc is a handler that reports failure by returning an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h: its error becomes a response in fail.
func (a *App) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	}
}

// statusOf maps an error to its status code. It is the only such mapping.
func statusOf(err error) int {
	for _, m := range []struct {
		err    error
		status int
	}{
		{errs.ErrInvalid, http.StatusBadRequest},
		{errs.ErrUnauthenticated, http.StatusUnauthorized},
		{errs.ErrForbidden, http.StatusForbidden},
		{errs.ErrNotFound, http.StatusNotFound},
		{errs.ErrMethod, http.StatusMethodNotAllowed},
		{errs.ErrTimeout, http.StatusRequestTimeout},
		{errs.ErrConflict, http.StatusConflict},
		{errs.ErrGone, http.StatusGone},
		{errs.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{errs.ErrThrottled, http.StatusTooManyRequests},
		{errs.ErrUnavailable, http.StatusServiceUnavailable},
		{errs.ErrInsufficientStorage, http.StatusInsufficientStorage},
	} {
		if errors.Is(err, m.err) {
			return m.status
		}
	}
	return http.StatusInternalServerError
}

// fail writes err as JSON under /api/ and as a page elsewhere. Server-side
// errors are logged and their details kept from the client.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	// A body that stalled is a timeout, whatever the reader that saw it made
	// of it (mime/multipart, for one, calls a cut header line malformed).
	if stall := stalled(r.Context()); stall != nil {
		err = stall
	}
	status := statusOf(err)
	msg := err.Error()
	switch {
	case status == http.StatusServiceUnavailable:
		a.log.Error("unavailable", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		msg = "the service is temporarily unavailable, try again shortly"
		w.Header().Set("Retry-After", "5")
	case status == http.StatusInsufficientStorage:
		a.log.Error("out of storage", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		msg = outOfStorage
	case status >= 500:
		a.log.Error("internal error", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		msg = "internal error"
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "900")
	}
	// A failed response must never be mistaken for a file: drop anything a
	// handler set on the way.
	for _, h := range []string{"X-Accel-Redirect", "Content-Disposition", "ETag", "Last-Modified"} {
		w.Header().Del(h)
	}
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mediagate"`)
		}
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	if status == http.StatusUnauthorized && isPage(r) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	a.renderError(w, r, status, msg)
}

// outOfStorage is what a client is told when a disk is full; the log has
// which file and why.
const outOfStorage = "the server is out of storage space; try again later or contact an administrator"

// isPage reports whether r asked for a page a person reads, as opposed to
// bytes for a player, which should see a plain 401.
func isPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/smedia/")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decodeJSON reads a small JSON body into v.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the body must be a JSON object: %w", errs.ErrInvalid, err)
	}
	return nil
}
