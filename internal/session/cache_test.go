package session_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

// startHub runs an invalidation hub listening on the database at url until
// the test ends, and waits for it to be healthy.
func startHub(t *testing.T, url string) *invalidate.Hub {
	t.Helper()
	hub := invalidate.NewHub(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }) //nolint:errcheck
	}()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := hub.WaitHealthy(wctx); err != nil {
		t.Fatalf("hub not healthy: %v", err)
	}
	return hub
}

// silently runs sql with triggers off, so that no invalidation is sent.
func silently(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	err := pgx.BeginFunc(ctxT(t), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctxT(t), `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctxT(t), sql, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// eventually polls check until it returns "" or 5 seconds pass.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: still %s after 5s", what, msg)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCachedUsers checks that the user and token caches are used, and that
// every change reaches them: at once for this instance's own writes, by
// NOTIFY for everyone else's.
func TestCachedUsers(t *testing.T) {
	t.Parallel()
	pool, url := testdb.New(t)
	us := session.NewCachedUsers(pool, startHub(t, url))
	ctx := ctxT(t)
	alice := mustCreate(t, us, "alice@example.com", acl.RoleEditor, "password-alice")
	tok, err := us.CreateToken(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := us.ByToken(ctx, tok); err != nil || u.ID != alice.ID {
		t.Fatalf("ByToken: %+v, %v", u, err)
	}
	if u, err := us.Active(ctx, alice.ID); err != nil || u.ID != alice.ID {
		t.Fatalf("Active: %+v, %v", u, err)
	}

	// The caches are in use: an unannounced change is not seen...
	silently(t, pool, `UPDATE users SET disabled_at = now() WHERE id = $1`, alice.ID)
	if _, err := us.Active(ctx, alice.ID); err != nil {
		t.Fatalf("cached Active saw an unannounced change (%v): the cache is not in use", err)
	}
	if _, err := us.ByToken(ctx, tok); err != nil {
		t.Fatalf("cached ByToken saw an unannounced change (%v): the cache is not in use", err)
	}
	// ...while an uncached Users sees it.
	if _, err := session.NewUsers(pool).Active(ctx, alice.ID); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("uncached Active on a disabled user = %v, want ErrNotFound", err)
	}
	silently(t, pool, `UPDATE users SET disabled_at = NULL WHERE id = $1`, alice.ID)

	// Announced changes reach the caches.
	if _, err := pool.Exec(ctx, `UPDATE users SET disabled_at = now() WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Active after disabling", func() string {
		if _, err := us.Active(ctx, alice.ID); !isOnly(err, errs.ErrNotFound) {
			return "active"
		}
		return ""
	})
	eventually(t, "ByToken after disabling", func() string {
		if _, err := us.ByToken(ctx, tok); !isOnly(err, errs.ErrUnauthenticated) {
			return "valid"
		}
		return ""
	})
	if _, err := pool.Exec(ctx, `UPDATE users SET disabled_at = NULL WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ByToken after re-enabling", func() string {
		if _, err := us.ByToken(ctx, tok); err != nil {
			return err.Error()
		}
		return ""
	})
	if _, err := pool.Exec(ctx, `DELETE FROM api_tokens WHERE user_id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ByToken after deleting the token", func() string {
		if _, err := us.ByToken(ctx, tok); !isOnly(err, errs.ErrUnauthenticated) {
			return "valid"
		}
		return ""
	})
	// A role change reaches the cached principal.
	if _, err := pool.Exec(ctx, `UPDATE users SET role = 'viewer' WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Active after a role change", func() string {
		u, err := us.Active(ctx, alice.ID)
		if err != nil || u.Role != acl.RoleViewer {
			return "role " + string(u.Role)
		}
		return ""
	})
}

// TestCachedSessions runs the session checks that must hold with caches on:
// this instance's logout is at once, another instance's soon, and a
// disabled user is refused soon.
func TestCachedSessions(t *testing.T) {
	t.Parallel()
	pool, url := testdb.New(t)
	a := newHarnessOn(t, pool, url, testConfig(false), startHub(t, url))
	b := newHarnessOn(t, pool, url, testConfig(false), startHub(t, url)) // another instance
	alice := mustCreate(t, a.auth.Users, "alice@example.com", acl.RoleEditor, "password-alice")

	// This instance's logout.
	c := newClient(t)
	a.login(t, c, "alice@example.com", "password-alice", nil)
	tok := a.cookie(t, c)
	for range 2 { // warm the caches
		wantUser(t, "a /me", a.me(t, http.DefaultClient, cookieHeader(tok)), alice)
		res, _ := a.stream(t, http.DefaultClient, cookieHeader(tok))
		wantUser(t, "a /stream", res, alice)
	}
	a.do(t, c, http.MethodPost, "/logout", nil, nil)
	wantErr(t, "replayed on a after a's logout", a.me(t, http.DefaultClient, cookieHeader(tok)), "unauthenticated")
	res, _ := a.stream(t, http.DefaultClient, cookieHeader(tok))
	wantErr(t, "replayed on a /stream after a's logout", res, "unauthenticated")

	// Another instance's logout.
	c = newClient(t)
	a.login(t, c, "alice@example.com", "password-alice", nil)
	tok = a.cookie(t, c)
	for range 2 {
		res, _ := b.stream(t, http.DefaultClient, cookieHeader(tok))
		wantUser(t, "b /stream", res, alice)
	}
	a.do(t, c, http.MethodPost, "/logout", nil, nil)
	eventually(t, "b after a's logout", func() string {
		if res, _ := b.stream(t, http.DefaultClient, cookieHeader(tok)); res.Err != "unauthenticated" {
			return "identified: " + res.UserID
		}
		return ""
	})

	// A disabled user, on both instances, by cookie and by token.
	c = newClient(t)
	a.login(t, c, "alice@example.com", "password-alice", nil)
	tok = a.cookie(t, c)
	api, err := a.auth.Users.CreateToken(ctxT(t), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*harness{a, b} {
		wantUser(t, "before disabling", h.me(t, http.DefaultClient, cookieHeader(tok)), alice)
		wantUser(t, "bearer before disabling", h.me(t, http.DefaultClient, bearer(api)), alice)
	}
	disable(t, pool, alice.ID)
	for _, h := range []*harness{a, b} {
		for name, hdr := range map[string]http.Header{"cookie": cookieHeader(tok), "bearer": bearer(api)} {
			for _, path := range []string{"/me", "/stream", "/peek"} {
				eventually(t, name+" on "+path+" after disabling", func() string {
					if res, _ := h.do(t, http.DefaultClient, http.MethodGet, path, nil, hdr); res.Err != "unauthenticated" {
						return "identified: " + res.UserID + res.Err
					}
					return ""
				})
			}
		}
	}
}

// TestCachedOutage checks that a cache never answers for a database that is
// gone: once the listener is lost, every answer is ErrUnavailable.
func TestCachedOutage(t *testing.T) {
	t.Parallel()
	_, url := testdb.New(t)
	pool, err := db.Connect(ctxT(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	hub := startHub(t, url)
	h := newHarnessOn(t, pool, url, testConfig(false), hub)
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleEditor, "password-alice")
	api, err := h.auth.Users.CreateToken(ctxT(t), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	h.login(t, c, "alice@example.com", "password-alice", nil)
	for range 2 {
		wantUser(t, "bearer", h.me(t, http.DefaultClient, bearer(api)), alice)
		res, _ := h.stream(t, c, nil)
		wantUser(t, "cookie /stream", res, alice)
	}

	testdb.Drop(t, strings.TrimPrefix(mustParse(t, url).Path, "/"))
	deadline := time.Now().Add(10 * time.Second)
	for hub.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("the hub stayed healthy with its database dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantErr(t, "bearer on /me", h.me(t, http.DefaultClient, bearer(api)), "unavailable")
	res, _ := h.stream(t, http.DefaultClient, bearer(api))
	wantErr(t, "bearer on /stream", res, "unavailable")
	res, _ = h.stream(t, c, nil)
	wantErr(t, "cookie on /stream", res, "unavailable")
	res, resp := h.do(t, c, http.MethodGet, "/me", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || res.UserID != "" {
		t.Errorf("cookie on /me: %d %+v, want 503", resp.StatusCode, res)
	}
}

// TestSessionExpiry checks that a session ends when its idle timeout or its
// lifetime passes, with and without caches: the streaming path must not
// keep an expired session alive from a cached copy.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		idle, lifetime time.Duration
	}{
		{"idle timeout", time.Second, time.Hour},
		{"lifetime", time.Hour, time.Second},
	} {
		for _, cached := range []bool{false, true} {
			name := tc.name
			if cached {
				name += ", cached"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				pool, url := testdb.New(t)
				cfg := testConfig(false)
				cfg.SessionIdle, cfg.SessionLifetime = tc.idle, tc.lifetime
				var hub *invalidate.Hub
				if cached {
					hub = startHub(t, url)
				}
				h := newHarnessOn(t, pool, url, cfg, hub)
				alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleEditor, "password-alice")
				c := newClient(t)
				h.login(t, c, "alice@example.com", "password-alice", nil)
				tok := h.cookie(t, c)
				res, _ := h.stream(t, http.DefaultClient, cookieHeader(tok))
				wantUser(t, "/stream at once", res, alice)
				time.Sleep(1500 * time.Millisecond)
				res, _ = h.stream(t, http.DefaultClient, cookieHeader(tok))
				wantErr(t, "/stream after expiry", res, "unauthenticated")
				wantErr(t, "/me after expiry", h.me(t, http.DefaultClient, cookieHeader(tok)), "unauthenticated")
			})
		}
	}
}
