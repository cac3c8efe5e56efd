package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/header"
)

// pageCSP is the Content-Security-Policy of every answer but media: our own
// scripts, styles, media and frames only (the PDF preview), and nothing
// inline, since neither 'unsafe-inline' nor a nonce is allowed. Pages add
// the hash of their one inline script, the import map (assets.CSP).
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; frame-src 'self'; font-src 'self'; manifest-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// baseHeaders sets the headers every response carries, in one go:
//   - nosniff and Referrer-Policy everywhere; the page CSP and
//     X-Frame-Options on all but media, which set their own, stricter CSP;
//   - on every answer that may depend on who is calling (all but the static
//     assets, the health checks and published files, which are the same for
//     everyone), Vary naming the cookie and Authorization, and no-store
//     unless the answer sets a Cache-Control of its own (media set a private
//     one), so that no shared cache keeps or mixes callers' answers.
func baseHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, p := w.Header(), r.URL.Path
		caller := !strings.HasPrefix(p, "/static/") && !strings.HasPrefix(p, config.PublicPrefix) && p != "/healthz" && p != "/readyz"
		switch media := isMedia(p); {
		case media && caller:
			header.Set(h, "X-Content-Type-Options", "nosniff", "Referrer-Policy", "same-origin",
				"Vary", config.CallerVary, "Cache-Control", "no-store")
		case media:
			header.Set(h, "X-Content-Type-Options", "nosniff", "Referrer-Policy", "same-origin")
		case caller:
			header.Set(h, "X-Content-Type-Options", "nosniff", "Referrer-Policy", "same-origin",
				"Content-Security-Policy", pageCSP, "X-Frame-Options", "DENY",
				"Vary", config.CallerVary, "Cache-Control", "no-store")
		default:
			header.Set(h, "X-Content-Type-Options", "nosniff", "Referrer-Policy", "same-origin",
				"Content-Security-Policy", pageCSP, "X-Frame-Options", "DENY")
		}
		next.ServeHTTP(w, r)
	})
}

// isMedia reports whether path is under one of the media prefixes.
func isMedia(path string) bool {
	return strings.HasPrefix(path, config.PrivatePrefix) || strings.HasPrefix(path, config.PublicPrefix)
}

// logRequests logs each request with its status and duration, and counts
// it in the metrics under the route it matched.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		took := time.Since(start)
		a.metrics.Request(chi.RouteContext(r.Context()).RoutePattern(), r.Method, ww.Status(), took)
		// Media reads are many (a player sends a Range request per seek) and
		// the read audit keeps them; log them only at debug level unless they
		// failed on our side.
		level := slog.LevelInfo
		if isMedia(r.URL.Path) && ww.Status() < 500 {
			level = slog.LevelDebug
		}
		if !a.log.Enabled(r.Context(), level) {
			return
		}
		a.log.Log(r.Context(), level, "request", "method", r.Method, "path", logPath(r.URL.Path), "status", ww.Status(),
			"bytes", ww.BytesWritten(), "dur", took.Round(time.Microsecond),
			"accel", ww.Header().Get("X-Accel-Redirect") != "")
	})
}

// recoverPanics turns a panic into a 500 and a log line.
func (a *App) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.fail(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBodyIdle ends a request whose body stops arriving. The server has no
// read timeout (uploads take as long as they take), so each read of a body
// may wait cfg.BodyIdleTimeout for data instead: the connection's read
// deadline is pushed forward before every read. A read that waited that long
// fails with errs.ErrTimeout, and so does every later one, so the handler
// drops what it began, and its error, whatever it is, is answered as that
// timeout: 408 (fail asks stalled). The deadline then stays in the past:
// net/http's own read of the rest of the body after the handler fails at
// once, and the connection is closed after the answer. A body the handler
// left unread (a refusal) gets the same time for that read, never forever.
// tusd reads PATCH bodies with the same timeout (see tus.go).
func (a *App) limitBodyIdle(next http.Handler) http.Handler {
	idle := a.cfg.BodyIdleTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
		r = r.WithContext(context.WithValue(r.Context(), idleBodyKey{}, b))
		r.Body = b
		next.ServeHTTP(w, r)
		if !b.ended {
			b.rc.SetReadDeadline(time.Now().Add(idle))
		}
	})
}

type idleBodyKey struct{}

// stalled returns the timeout the body of ctx's request ended with, if it
// did.
func stalled(ctx context.Context) error {
	if b, ok := ctx.Value(idleBodyKey{}).(*idleBody); ok && b.err != nil {
		return b.err
	}
	return nil
}

// idleBody is a request body each of whose reads waits at most idle for data.
type idleBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	idle  time.Duration
	err   error // the timeout, once it happened
	ended bool  // a read returned an error, io.EOF included
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	deadline := time.Now().Add(b.idle)
	b.rc.SetReadDeadline(deadline) // a writer without deadlines (none of ours) just waits
	n, err := b.ReadCloser.Read(p)
	if err == nil {
		return n, nil
	}
	b.ended = true
	switch {
	// Only this deadline: tusd moves it to now to interrupt a PATCH, which is
	// not a stalled client.
	case errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(deadline):
		b.err = &idleError{idle: b.idle, err: err}
		return n, b.err
	case errors.Is(err, io.EOF):
		// The body is all here. net/http now reads the connection in the
		// background (to notice a client that leaves), and a deadline there
		// would cancel the request's context while the handler works on.
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// idleError is a body read that waited the idle timeout for nothing: to the
// client errs.ErrTimeout in words; underneath, the read's own error
// (os.ErrDeadlineExceeded), which tusd looks for.
type idleError struct {
	idle time.Duration
	err  error
}

func (e *idleError) Error() string {
	secs := strconv.FormatFloat(e.idle.Seconds(), 'f', -1, 64)
	return fmt.Sprintf("%v: no data received for %ss; the request was cancelled", errs.ErrTimeout, secs)
}

func (e *idleError) Unwrap() []error { return []error{errs.ErrTimeout, e.err} }
