// Package errs holds the sentinel errors that the HTTP layer maps to status
// codes in one place. Domain packages wrap them with %w and a reason.
package errs

import "errors"

// The sentinels, each with the status it becomes.
var (
	ErrInvalid             = errors.New("invalid request")         // 400
	ErrUnauthenticated     = errors.New("authentication required") // 401
	ErrForbidden           = errors.New("forbidden")               // 403
	ErrNotFound            = errors.New("not found")               // 404
	ErrMethod              = errors.New("method not allowed")      // 405
	ErrTimeout             = errors.New("request timeout")         // 408
	ErrConflict            = errors.New("conflict")                // 409
	ErrGone                = errors.New("gone")                    // 410
	ErrTooLarge            = errors.New("too large")               // 413
	ErrThrottled           = errors.New("too many attempts")       // 429
	ErrUnavailable         = errors.New("temporarily unavailable") // 503
	ErrInsufficientStorage = errors.New("insufficient storage")    // 507: a disk or quota too full to write
)
