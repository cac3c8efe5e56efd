package app

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{errs.ErrInvalid, http.StatusBadRequest, "invalid"},
		{errs.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
		{errs.ErrForbidden, http.StatusForbidden, "forbidden"},
		{errs.ErrNotFound, http.StatusNotFound, "not_found"},
		{errNoEndpoint, http.StatusNotFound, "no_endpoint"},
		{errs.ErrMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
		{errs.ErrTimeout, http.StatusRequestTimeout, "timeout"},
		{errs.ErrConflict, http.StatusConflict, "conflict"},
		{errs.ErrGone, http.StatusGone, "gone"},
		{errs.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
		{errs.ErrThrottled, http.StatusTooManyRequests, "throttled"},
		{errs.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
		{errs.ErrInsufficientStorage, http.StatusInsufficientStorage, "insufficient_storage"},
		{&idleError{idle: time.Minute, err: errors.New("i/o timeout")}, http.StatusRequestTimeout, "timeout"},
		{errors.New("something else"), http.StatusInternalServerError, "internal"},
		// A write that met a database outage, unwrapped by its package.
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, http.StatusServiceUnavailable, "unavailable"},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value"}, http.StatusInternalServerError, "internal"},
	} {
		// Wrapped as domain packages wrap them.
		err := fmt.Errorf("doing it: %w", tt.err)
		if status, code := classify(err); status != tt.status || code != tt.code {
			t.Errorf("classify(%v) = %d, %q, want %d, %q", err, status, code, tt.status, tt.code)
		}
	}
	if got, want := (&idleError{idle: 90 * time.Second}).Error(), "request timeout: no data received for 90s; the request was cancelled"; got != want {
		t.Errorf("idleError says %q, want %q", got, want)
	}
}

// TestAPIErrorCodes asks for what is not there and reads the codes, which
// tell a missing endpoint from a missing item.
func TestAPIErrorCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	for _, tt := range []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"GET", "/api/nope", token, http.StatusNotFound, "no_endpoint"},
		{"GET", "/api/uploads/x/nope", token, http.StatusNotFound, "no_endpoint"},
		{"PATCH", "/api/media", token, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"GET", "/api/media/8e314ae8-80bc-4d0b-a9d2-1c325dd023dd", token, http.StatusNotFound, "not_found"},
		{"GET", "/api/me", "", http.StatusUnauthorized, "unauthenticated"},
		{"GET", "/api/media?limit=0", token, http.StatusBadRequest, "invalid"},
	} {
		resp := h.do(tt.method, tt.path, tt.token, nil)
		e := decode[errorJSON](t, resp)
		if resp.StatusCode != tt.status || e.Code != tt.code || e.Error == "" {
			t.Errorf("%s %s: %d %+v, want %d with code %q and a sentence", tt.method, tt.path, resp.StatusCode, e, tt.status, tt.code)
		}
	}
}
