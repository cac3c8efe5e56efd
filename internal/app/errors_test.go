package app

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/errs"
)

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want int
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
		{&idleError{idle: time.Minute, err: errors.New("i/o timeout")}, http.StatusRequestTimeout},
		{errors.New("something else"), http.StatusInternalServerError},
		// A write that met a database outage, unwrapped by its package.
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, http.StatusServiceUnavailable},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value"}, http.StatusInternalServerError},
	} {
		// Wrapped as domain packages wrap them.
		err := fmt.Errorf("doing it: %w", tt.err)
		if got := statusOf(err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", err, got, tt.want)
		}
	}
	if got, want := (&idleError{idle: 90 * time.Second}).Error(), "request timeout: no data received for 90s; the request was cancelled"; got != want {
		t.Errorf("idleError says %q, want %q", got, want)
	}
}
