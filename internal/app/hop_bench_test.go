//go:build unix

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/audit"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

// BenchmarkAuthorizedHop is the app's side of the streaming path's common
// case, in process and without a network: a GET of a 1 KiB private item
// with an API token, a cached token and decision, answered with
// X-Accel-Redirect, through every middleware of Routes. "nginx" sends the
// X-Request-Id and X-Mediagate-Front nginx's config adds; "direct" sends
// neither (and gets every header, as Caddy would); "cookie" is
// "nginx" with a browser's session cookie instead of the token, as
// bench.BenchmarkSmedia1KB sends (a cached session and user). It reports what
// the middleware costs per request (allocs/op is exact; ns/op depends on
// the machine's load, cpu-ns/op less so).
func BenchmarkAuthorizedHop(b *testing.B) {
	pool, url := testdb.New(b)
	cfg := config.Default()
	cfg.DatabaseURL = url
	cfg.DataDir = b.TempDir()
	cfg.Accel = config.AccelNginx
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	disk, err := media.OpenDisk(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { disk.Close() })
	hub := invalidate.NewHub(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) })
	}()
	b.Cleanup(func() { cancel(); <-done })
	waitCtx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	if err := hub.WaitHealthy(waitCtx); err != nil {
		b.Fatal(err)
	}
	// Not run: entries fill the buffer, then are counted as dropped, which
	// costs the same as queueing them and keeps the database out of it.
	reads := audit.New(pool, log, audit.Options{})
	decide := acl.NewDecider(pool).Cached(hub)
	store := media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: cfg.MaxUpload}, decide, log)
	auth := session.NewAuth(pool, cfg, log, hub)
	b.Cleanup(auth.Close)
	a, err := New(cfg, pool, auth, decide, store, reads, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	h := a.Routes()

	u, err := auth.Users.Create(context.Background(), "bench@example.com", acl.RoleEditor, "password123")
	if err != nil {
		b.Fatal(err)
	}
	token, err := auth.Users.CreateToken(context.Background(), u.ID)
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewRequest(http.MethodPost, "/api/media?filename=one.bin", bytes.NewReader(bytes.Repeat([]byte("x"), 1024)))
	up.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, up)
	if rec.Code != http.StatusCreated {
		b.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var it itemJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &it); err != nil {
		b.Fatal(err)
	}

	login := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("email=bench%40example.com&password=password123"))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	login.Header.Set("Origin", "http://example.com")
	login.Header.Set("Sec-Fetch-Site", "same-origin")
	login.RemoteAddr = "127.0.0.1:40000"
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, login)
	var cookie string
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName {
			cookie = c.Name + "=" + c.Value
		}
	}
	if rec.Code != http.StatusSeeOther || cookie == "" {
		b.Fatalf("login: %d, cookie %q", rec.Code, cookie)
	}

	for _, c := range []struct {
		name, requestID, header, value string
	}{
		{"nginx", "0123456789abcdef0123456789abcdef", "Authorization", "Bearer " + token},
		{"direct", "", "Authorization", "Bearer " + token},
		{"cookie", "0123456789abcdef0123456789abcdef", "Cookie", cookie},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, config.PrivatePrefix+it.ID, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set(c.header, c.value)
			if c.requestID != "" { // what nginx's config sends
				req.Header.Set("X-Request-Id", c.requestID)
				req.Header.Set(config.FrontHeader, config.FrontNginx)
			}
			w := &discardWriter{h: http.Header{}}
			serve := func() {
				clear(w.h)
				w.status = 0
				if c.requestID == "" {
					req.Header.Del("X-Request-Id") // the app sets it when it makes one
				}
				h.ServeHTTP(w, req)
			}
			serve() // warms the token and decision caches
			if w.status != http.StatusOK || !strings.HasPrefix(w.h.Get("X-Accel-Redirect"), config.AccelPrefix) {
				b.Fatalf("GET: %d, X-Accel-Redirect %q", w.status, w.h.Get("X-Accel-Redirect"))
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime(b)
			for b.Loop() {
				serve()
			}
			// The process's CPU time is less at the mercy of other
			// processes than the wall clock is, on a shared machine.
			b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that keeps the status and headers and
// drops the body; its header map is reused.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
