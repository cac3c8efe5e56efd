package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/mediagate/mediagate/internal/config"
)

// pageCSP is the Content-Security-Policy of every page: our own scripts,
// styles, media and frames only (the PDF preview), and nothing inline, since
// neither 'unsafe-inline' nor a nonce is allowed.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; frame-src 'self'; font-src 'self'; manifest-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries. Media responses
// set their own, stricter CSP.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if !isMedia(r.URL.Path) {
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("X-Frame-Options", "DENY")
		}
		next.ServeHTTP(w, r)
	})
}

// isMedia reports whether path is under one of the media prefixes.
func isMedia(path string) bool {
	return strings.HasPrefix(path, config.PrivatePrefix) || strings.HasPrefix(path, config.PublicPrefix)
}

// logRequests logs each request with its status and duration.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
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
			"bytes", ww.BytesWritten(), "dur", time.Since(start).Round(time.Microsecond),
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
