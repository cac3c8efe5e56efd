package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mediagate/mediagate/internal/db"
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

// kinds are the kinds of error a response can report: each sentinel's
// status and the stable code that names it in the API's JSON errors
// ({"error": "...", "code": "not_found"}). It is the only such mapping; the
// first that matches wins, and an error of no kind is a 500, "internal".
// The API document (internal/apidoc) lists the codes; a test keeps the two
// in step.
var kinds = []struct {
	err    error
	status int
	code   string
}{
	{errNoEndpoint, http.StatusNotFound, "no_endpoint"},
	{errs.ErrInvalid, http.StatusBadRequest, "invalid"},
	{errs.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{errs.ErrForbidden, http.StatusForbidden, "forbidden"},
	{errs.ErrNotFound, http.StatusNotFound, "not_found"},
	{errs.ErrMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{errs.ErrTimeout, http.StatusRequestTimeout, "timeout"},
	{errs.ErrConflict, http.StatusConflict, "conflict"},
	{errs.ErrGone, http.StatusGone, "gone"},
	{errs.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{errs.ErrThrottled, http.StatusTooManyRequests, "throttled"},
	{errs.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{errs.ErrInsufficientStorage, http.StatusInsufficientStorage, "insufficient_storage"},
}

// codeInternal is the code of an error of no kind.
const codeInternal = "internal"

// errNoEndpoint is a request under /api/ that no route takes: a 404 that a
// client can tell from a missing item (an older server, a typo).
var errNoEndpoint = fmt.Errorf("%w: no API endpoint", errs.ErrNotFound)

// classify maps an error to its status and code.
func classify(err error) (status int, code string) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.status, k.code
		}
	}
	// A write that met a database outage, wherever it was: it passes.
	if db.Unavailable(err) {
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, codeInternal
}

// statusOf is the status of err.
func statusOf(err error) int {
	status, _ := classify(err)
	return status
}

// fail writes err as JSON under /api/ and as a page elsewhere. Server-side
// errors are logged and their details kept from the client.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	// A body that stalled is a timeout, whatever the reader that saw it made
	// of it (mime/multipart, for one, calls a cut header line malformed).
	if stall := stalled(r.Context()); stall != nil {
		err = stall
	}
	status, body := a.describe(r, err)
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "900")
	}
	// A failed response must never be mistaken for a file: drop anything a
	// handler set on the way.
	for _, h := range []string{"X-Accel-Redirect", "X-Sendfile", "Content-Disposition", "ETag", "Last-Modified"} {
		w.Header().Del(h)
	}
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mediagate"`)
		}
		writeJSON(w, status, body)
		return
	}
	if status == http.StatusUnauthorized && isPage(r) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	a.renderError(w, r, status, body.Error)
}

// describe is what a client is told of err, made in r: its status, and its
// sentence and code. Server-side errors are logged here, and their details
// kept from the client.
func (a *App) describe(r *http.Request, err error) (int, errorJSON) {
	status, code := classify(err)
	msg := err.Error()
	switch {
	case status == http.StatusServiceUnavailable:
		a.log.ErrorContext(r.Context(), "unavailable", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		msg = "the service is temporarily unavailable, try again shortly"
	case status == http.StatusInsufficientStorage:
		a.log.ErrorContext(r.Context(), "out of storage", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		msg = outOfStorage
	case status >= 500:
		a.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		msg = "internal error"
	}
	return status, errorJSON{Error: msg, Code: code}
}

// errorJSON is an error as the API answers it: the sentence for people, the
// code for programs.
type errorJSON struct {
	Error string `json:"error"`
	Code  string `json:"code"`
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
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decodeOptionalJSON is decodeJSON for a body that may be left out: an
// empty one leaves v as it is.
func decodeOptionalJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("%w: the body must be a JSON object: %w", errs.ErrInvalid, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decodeJSON(r, v)
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
