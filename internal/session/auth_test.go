package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

// result is what the test handlers answer: the principal, or the sentinel the
// error matched and its text.
type result struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	Err    string `json:"err"`
	Msg    string `json:"msg"`
}

var sentinelNames = []struct {
	err  error
	name string
}{
	// ErrUnavailable first: an outage must never read as anything else.
	{errs.ErrUnavailable, "unavailable"},
	{errs.ErrThrottled, "throttled"},
	{errs.ErrInvalid, "invalid"},
	{errs.ErrUnauthenticated, "unauthenticated"},
	{errs.ErrForbidden, "forbidden"},
	{errs.ErrNotFound, "notfound"},
	{errs.ErrConflict, "conflict"},
}

func kind(err error) string {
	if err == nil {
		return ""
	}
	for _, s := range sentinelNames {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "other"
}

func writeResult(w http.ResponseWriter, p acl.Principal, err error) {
	res := result{UserID: p.UserID, Email: p.Email, Role: string(p.Role), Err: kind(err)}
	if err != nil {
		res.Msg = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res) //nolint:errcheck
}

// harness is an Auth behind a small HTTP server:
//
//	/visit  puts a value in the session (a pre-login session)
//	/login  POST email, password; client from X-Client or the remote address
//	/logout POST
//	/me     Caller, through Sessions.LoadAndSave and Identify
//	/stream Caller, through IdentifyReadOnly
//	/peek   Caller, through Peek
type harness struct {
	pool *pgxpool.Pool
	url  string // the test database's URL
	auth *session.Auth
	srv  *httptest.Server
}

func testConfig(secure bool) config.Config {
	cfg := config.Default()
	cfg.CookieSecure = secure
	return cfg
}

// newHarness returns a harness without caches, on a database of its own.
func newHarness(t *testing.T, cfg config.Config) *harness {
	t.Helper()
	pool, url := testdb.New(t)
	return newHarnessOn(t, pool, url, cfg, nil)
}

// newHarnessOn returns a harness on pool, caching through hub when not nil.
func newHarnessOn(t *testing.T, pool *pgxpool.Pool, dbURL string, cfg config.Config, hub *invalidate.Hub) *harness {
	t.Helper()
	auth := session.NewAuth(pool, cfg, slog.New(slog.DiscardHandler), hub)
	t.Cleanup(auth.Close)
	h := &harness{pool: pool, url: dbURL, auth: auth}
	identified := func(f http.HandlerFunc) http.Handler {
		return auth.Sessions.LoadAndSave(auth.Identify(f))
	}
	me := func(w http.ResponseWriter, r *http.Request) {
		p, err := session.Caller(r.Context())
		writeResult(w, p, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /visit", identified(func(w http.ResponseWriter, r *http.Request) {
		auth.Sessions.Put(r.Context(), "visited", true)
		w.Write([]byte("ok")) //nolint:errcheck
	}))
	mux.Handle("POST /login", identified(func(w http.ResponseWriter, r *http.Request) {
		client := r.Header.Get("X-Client")
		if client == "" {
			client, _, _ = net.SplitHostPort(r.RemoteAddr)
		}
		u, err := auth.Login(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"), client)
		writeResult(w, u.Principal(), err)
	}))
	mux.Handle("POST /logout", identified(func(w http.ResponseWriter, r *http.Request) {
		writeResult(w, acl.Principal{}, auth.Logout(r.Context()))
	}))
	mux.Handle("GET /me", identified(me))
	mux.Handle("GET /stream", auth.IdentifyReadOnly(http.HandlerFunc(me)))
	mux.Handle("GET /peek", auth.Peek(http.HandlerFunc(me)))
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// do sends a request and decodes the handler's result. A response that is
// not the handler's (such as the session manager's 503) has Err "http <code>".
func (h *harness) do(t *testing.T, c *http.Client, method, path string, form url.Values, hdr http.Header) (result, *http.Response) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, h.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var res result
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		res.Err = "http " + resp.Status
		return res, resp
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatalf("%s %s: decode: %v", method, path, err)
	}
	// A handler must never see a principal and an error together.
	if res.Err != "" && res.UserID != "" {
		t.Errorf("%s %s: principal %s returned alongside error %s", method, path, res.UserID, res.Msg)
	}
	return res, resp
}

func (h *harness) login(t *testing.T, c *http.Client, email, password string, hdr http.Header) (result, *http.Response) {
	t.Helper()
	return h.do(t, c, http.MethodPost, "/login", url.Values{"email": {email}, "password": {password}}, hdr)
}

func (h *harness) me(t *testing.T, c *http.Client, hdr http.Header) result {
	t.Helper()
	res, _ := h.do(t, c, http.MethodGet, "/me", nil, hdr)
	return res
}

// stream asks /stream and /peek, which must agree, and returns /stream's
// answer.
func (h *harness) stream(t *testing.T, c *http.Client, hdr http.Header) (result, *http.Response) {
	t.Helper()
	peeked, _ := h.do(t, c, http.MethodGet, "/peek", nil, hdr)
	res, resp := h.do(t, c, http.MethodGet, "/stream", nil, hdr)
	if peeked != res {
		t.Errorf("/peek = %+v, /stream = %+v: Peek and IdentifyReadOnly disagree", peeked, res)
	}
	return res, resp
}

// cookie returns the session cookie's value in c's jar.
func (h *harness) cookie(t *testing.T, c *http.Client) string {
	t.Helper()
	u, _ := url.Parse(h.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == session.CookieName {
			return ck.Value
		}
	}
	return ""
}

func (h *harness) sessionExists(t *testing.T, token string) bool {
	t.Helper()
	var ok bool
	if err := h.pool.QueryRow(ctxT(t), `SELECT EXISTS (SELECT 1 FROM sessions WHERE token = $1)`, token).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func (h *harness) expiry(t *testing.T, token string) time.Time {
	t.Helper()
	var e time.Time
	if err := h.pool.QueryRow(ctxT(t), `SELECT expiry FROM sessions WHERE token = $1`, token).Scan(&e); err != nil {
		t.Fatalf("session row for %q: %v", token, err)
	}
	return e
}

func (h *harness) countSessions(t *testing.T) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(ctxT(t), `SELECT count(*) FROM sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sessionSetCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == session.CookieName {
			return c
		}
	}
	return nil
}

func cookieHeader(token string) http.Header {
	return http.Header{"Cookie": {session.CookieName + "=" + token}}
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func wantUser(t *testing.T, where string, res result, u session.User) {
	t.Helper()
	if res.Err != "" || res.UserID != u.ID || res.Email != u.Email || res.Role != string(u.Role) {
		t.Errorf("%s: got %+v, want user %s", where, res, u.Email)
	}
}

func wantErr(t *testing.T, where string, res result, kind string) {
	t.Helper()
	if res.Err != kind || res.UserID != "" {
		t.Errorf("%s: got %+v, want error %q and no principal", where, res, kind)
	}
}

func TestLoginAndLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	const pw = "password-alice"
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleEditor, pw)
	c := newClient(t)

	// Anonymous at first, on both paths.
	wantErr(t, "anonymous /me", h.me(t, c, nil), "unauthenticated")
	res, _ := h.stream(t, c, nil)
	wantErr(t, "anonymous /stream", res, "unauthenticated")
	if h.cookie(t, c) != "" {
		t.Error("an anonymous request that stored nothing got a session cookie")
	}

	// A pre-login session.
	h.do(t, c, http.MethodGet, "/visit", nil, nil)
	pre := h.cookie(t, c)
	if pre == "" || !h.sessionExists(t, pre) {
		t.Fatalf("no pre-login session (cookie %q)", pre)
	}
	wantErr(t, "visited /me", h.me(t, c, nil), "unauthenticated")

	res, resp := h.login(t, c, " Alice@Example.com ", pw, nil)
	wantUser(t, "login", res, alice)
	post := h.cookie(t, c)
	if post == "" || post == pre {
		t.Errorf("login did not renew the session token (before %q, after %q)", pre, post)
	}
	if h.sessionExists(t, pre) {
		t.Error("the pre-login session row survived the login")
	}
	if !h.sessionExists(t, post) {
		t.Error("no session row for the new token")
	}
	sc := sessionSetCookie(resp)
	if sc == nil {
		t.Fatal("login response has no Set-Cookie for the session")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure || sc.Path != "/" || sc.Value != post {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Lax, not Secure, Path=/", sc)
	}

	wantUser(t, "/me after login", h.me(t, c, nil), alice)
	res, _ = h.stream(t, c, nil)
	wantUser(t, "/stream after login", res, alice)
	// The old token identifies no one, even replayed by hand.
	wantErr(t, "pre-login token replayed", h.me(t, http.DefaultClient, cookieHeader(pre)), "unauthenticated")

	// Logout.
	res, resp = h.do(t, c, http.MethodPost, "/logout", nil, nil)
	if res.Err != "" {
		t.Fatalf("logout: %+v", res)
	}
	if sc := sessionSetCookie(resp); sc == nil || sc.Value == post {
		t.Errorf("logout did not send a new session cookie: %+v", sc)
	}
	if h.sessionExists(t, post) {
		t.Error("the logged-in session row survived the logout")
	}
	wantErr(t, "/me after logout", h.me(t, c, nil), "unauthenticated")
	res, _ = h.stream(t, c, nil)
	wantErr(t, "/stream after logout", res, "unauthenticated")
	for _, path := range []string{"/me", "/stream", "/peek"} {
		res, _ := h.do(t, http.DefaultClient, http.MethodGet, path, nil, cookieHeader(post))
		wantErr(t, "logged-out token replayed on "+path, res, "unauthenticated")
	}
}

func TestLoginIgnoresPlantedToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleViewer, "password-alice")
	const planted = "attacker-chosen-session-token-0123456789"
	res, resp := h.login(t, http.DefaultClient, "alice@example.com", "password-alice", cookieHeader(planted))
	wantUser(t, "login", res, alice)
	sc := sessionSetCookie(resp)
	if sc == nil || sc.Value == planted || sc.Value == "" {
		t.Fatalf("login kept the planted token: %+v", sc)
	}
	if h.sessionExists(t, planted) {
		t.Error("a session row exists for the planted token")
	}
	wantErr(t, "planted token", h.me(t, http.DefaultClient, cookieHeader(planted)), "unauthenticated")
	wantUser(t, "issued token", h.me(t, http.DefaultClient, cookieHeader(sc.Value)), alice)
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "insecure", true: "secure"}[secure], func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, testConfig(secure))
			mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleViewer, "password-alice")
			res, resp := h.login(t, http.DefaultClient, "alice@example.com", "password-alice", nil)
			if res.Err != "" {
				t.Fatalf("login: %+v", res)
			}
			sc := sessionSetCookie(resp)
			if sc == nil {
				t.Fatal("no session cookie")
			}
			if sc.Secure != secure {
				t.Errorf("Secure = %v with CookieSecure %v", sc.Secure, secure)
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
				t.Errorf("cookie = %+v; want HttpOnly, SameSite=Lax, Path=/", sc)
			}
			// The cookie never outlives the idle timeout.
			if idle := int(testConfig(secure).SessionIdle.Seconds()); sc.MaxAge <= 0 || sc.MaxAge > idle+1 {
				t.Errorf("cookie Max-Age %d, want in (0, %d]", sc.MaxAge, idle+1)
			}
		})
	}
}

func TestLoginInvalid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleViewer, "password-alice")
	for _, tc := range []struct{ email, password string }{{"", "password-alice"}, {"alice@example.com", ""}, {"  ", "x"}} {
		res, resp := h.login(t, http.DefaultClient, tc.email, tc.password, nil)
		wantErr(t, "login "+tc.email+"/"+tc.password, res, "invalid")
		if sessionSetCookie(resp) != nil {
			t.Errorf("failed login set a session cookie")
		}
	}
	var n int
	if err := h.pool.QueryRow(ctxT(t), `SELECT count(*) FROM login_failures`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d failures recorded for malformed logins (%v), want 0", n, err)
	}
}

func TestLoginFailuresAreThrottled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	const pw = "password-alice"
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleViewer, pw)
	bob := mustCreate(t, h.auth.Users, "bob@example.com", acl.RoleViewer, "password-bob")
	accountFailures := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(ctxT(t), `SELECT count(*) FROM login_failures WHERE key = 'account:alice@example.com'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A success forgets earlier failures.
	h.login(t, http.DefaultClient, "alice@example.com", "wrong-1", nil)
	h.login(t, http.DefaultClient, "ALICE@example.com", "wrong-2", nil)
	if n := accountFailures(); n != 2 {
		t.Fatalf("%d failures after two wrong passwords, want 2", n)
	}
	res, _ := h.login(t, http.DefaultClient, "alice@example.com", pw, nil)
	wantUser(t, "right password", res, alice)
	if n := accountFailures(); n != 0 {
		t.Errorf("%d failures after a success, want 0", n)
	}

	limit := h.auth.Throttle.PerAccount
	for i := range limit {
		res, resp := h.login(t, http.DefaultClient, " Alice@Example.com", "wrong-password", nil)
		wantErr(t, "wrong password", res, "unauthenticated")
		if sessionSetCookie(resp) != nil {
			t.Error("a failed login set a session cookie")
		}
		if n := accountFailures(); n != i+1 {
			t.Errorf("after %d wrong passwords %d failures are recorded", i+1, n)
		}
	}
	res, resp := h.login(t, http.DefaultClient, "alice@example.com", pw, nil)
	wantErr(t, "right password after the limit", res, "throttled")
	if sessionSetCookie(resp) != nil {
		t.Error("a throttled login set a session cookie")
	}
	if n := accountFailures(); n != limit {
		t.Errorf("a throttled attempt changed the failure count to %d", n)
	}
	// Another account from the same client still gets in.
	res, _ = h.login(t, http.DefaultClient, "bob@example.com", "password-bob", nil)
	wantUser(t, "other account", res, bob)
	// Unknown accounts are throttled the same way.
	for range limit {
		h.login(t, http.DefaultClient, "ghost@example.com", "whatever", http.Header{"X-Client": {"10.9.9.9"}})
	}
	res, _ = h.login(t, http.DefaultClient, "ghost@example.com", "whatever", http.Header{"X-Client": {"10.9.9.8"}})
	wantErr(t, "unknown account after the limit", res, "throttled")
}

func TestLoginDisabledUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleAdmin, "password-alice")
	disable(t, h.pool, alice.ID)
	res, resp := h.login(t, http.DefaultClient, "alice@example.com", "password-alice", nil)
	wantErr(t, "disabled login", res, "unauthenticated")
	if res.Msg != session.ErrBadCredentials.Error() {
		t.Errorf("disabled login says %q, want the generic %q", res.Msg, session.ErrBadCredentials)
	}
	if sessionSetCookie(resp) != nil {
		t.Error("a disabled user's login set a session cookie")
	}
}

func TestDisabledUserSessionEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleAdmin, "password-alice")
	c := newClient(t)
	h.login(t, c, "alice@example.com", "password-alice", nil)
	tok, err := h.auth.Users.CreateToken(ctxT(t), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantUser(t, "before", h.me(t, c, nil), alice)
	wantUser(t, "bearer before", h.me(t, http.DefaultClient, bearer(tok)), alice)

	disable(t, h.pool, alice.ID)
	wantErr(t, "/me after disabling", h.me(t, c, nil), "unauthenticated")
	res, _ := h.stream(t, c, nil)
	wantErr(t, "/stream after disabling", res, "unauthenticated")
	wantErr(t, "bearer after disabling", h.me(t, http.DefaultClient, bearer(tok)), "unauthenticated")
	res, _ = h.stream(t, http.DefaultClient, bearer(tok))
	wantErr(t, "bearer /stream after disabling", res, "unauthenticated")
}

func TestRoleChangeTakesEffect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleAdmin, "password-alice")
	c := newClient(t)
	h.login(t, c, "alice@example.com", "password-alice", nil)
	if _, err := h.pool.Exec(ctxT(t), `UPDATE users SET role = 'viewer' WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if res := h.me(t, c, nil); res.Role != "viewer" {
		t.Errorf("role after demotion = %q, want viewer (the principal must come from the database)", res.Role)
	}
	if _, err := h.pool.Exec(ctxT(t), `DELETE FROM users WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "deleted user", h.me(t, c, nil), "unauthenticated")
}

func TestBearer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleEditor, "password-alice")
	bob := mustCreate(t, h.auth.Users, "bob@example.com", acl.RoleViewer, "password-bob")
	tok, err := h.auth.Users.CreateToken(ctxT(t), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	bobClient := newClient(t)
	h.login(t, bobClient, "bob@example.com", "password-bob", nil)
	wantUser(t, "bob's session", h.me(t, bobClient, nil), bob)

	sessionsBefore := h.countSessions(t)
	for _, path := range []string{"/me", "/stream", "/peek"} {
		res, resp := h.do(t, http.DefaultClient, http.MethodGet, path, nil, bearer(tok))
		wantUser(t, "bearer on "+path, res, alice)
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("bearer request on %s got Set-Cookie %q", path, resp.Header.Get("Set-Cookie"))
		}
		res, _ = h.do(t, http.DefaultClient, http.MethodGet, path, nil, http.Header{"Authorization": {"Bearer   " + tok + "  "}})
		wantUser(t, "bearer with spaces on "+path, res, alice)
		// A bearer token wins over the session cookie sent with it.
		res, _ = h.do(t, bobClient, http.MethodGet, path, nil, bearer(tok))
		wantUser(t, "bearer beside bob's cookie on "+path, res, alice)
	}
	if n := h.countSessions(t); n != sessionsBefore {
		t.Errorf("bearer requests changed the number of sessions from %d to %d", sessionsBefore, n)
	}

	bad := map[string]http.Header{
		"basic":           {"Authorization": {"Basic x"}},
		"basic with user": {"Authorization": {"Basic YWxpY2U6cGFzc3dvcmQtYWxpY2U="}},
		"no scheme":       {"Authorization": {tok}},
		"empty bearer":    {"Authorization": {"Bearer "}},
		"bare bearer":     {"Authorization": {"Bearer"}},
		"garbage":         bearer("garbage"),
		"unknown token":   bearer("mg_" + strings.Repeat("A", 43)),
		"truncated":       bearer(tok[:len(tok)-1]),
		"token scheme":    {"Authorization": {"Token " + tok}},
	}
	for name, hdr := range bad {
		for _, path := range []string{"/me", "/stream", "/peek"} {
			res, _ := h.do(t, http.DefaultClient, http.MethodGet, path, nil, hdr)
			wantErr(t, name+" on "+path, res, "unauthenticated")
			// A bad Authorization header is not ignored in favour of a
			// valid session cookie: it fails.
			res, _ = h.do(t, bobClient, http.MethodGet, path, nil, hdr)
			wantErr(t, name+" beside bob's cookie on "+path, res, "unauthenticated")
		}
	}
}

func TestIdentifyReadOnlyWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleViewer, "password-alice")
	c := newClient(t)
	h.login(t, c, "alice@example.com", "password-alice", nil)
	tok := h.cookie(t, c)
	before := h.expiry(t, tok)
	sessions := h.countSessions(t)

	for range 3 {
		time.Sleep(5 * time.Millisecond)
		res, resp := h.stream(t, c, nil)
		wantUser(t, "/stream", res, alice)
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("/stream wrote Set-Cookie %q", sc)
		}
	}
	if after := h.expiry(t, tok); !after.Equal(before) {
		t.Errorf("/stream moved the session's expiry from %v to %v", before, after)
	}
	if h.cookie(t, c) != tok {
		t.Error("/stream changed the session cookie")
	}

	// Unknown or absent cookies create nothing either.
	for _, hdr := range []http.Header{nil, cookieHeader("no-such-session"), cookieHeader("")} {
		res, resp := h.stream(t, http.DefaultClient, hdr)
		wantErr(t, "/stream without a session", res, "unauthenticated")
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("/stream wrote Set-Cookie %q", sc)
		}
	}
	if n := h.countSessions(t); n != sessions {
		t.Errorf("/stream changed the number of sessions from %d to %d", sessions, n)
	}

	// Control: the read-write path does move the expiry (idle timeout), so
	// the check above can fail.
	time.Sleep(5 * time.Millisecond)
	wantUser(t, "/me", h.me(t, c, nil), alice)
	if after := h.expiry(t, tok); !after.After(before) {
		t.Errorf("/me did not move the expiry (%v -> %v); the read-only check proves nothing", before, after)
	}
}

func TestCallerWithoutIdentify(t *testing.T) {
	t.Parallel()
	p, err := session.Caller(context.Background())
	if !isOnly(err, errs.ErrUnauthenticated) || p.Valid() {
		t.Errorf("Caller on a bare context = %+v, %v; want ErrUnauthenticated", p, err)
	}
}

// TestDatabaseGone checks that an outage is never an identity and never a
// silent anonymous: Caller answers ErrUnavailable.
func TestDatabaseGone(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"closed pool", "dropped database"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			live, dbURL := testdb.New(t)
			// The Auth under test has a pool of its own, so that it can be
			// taken away while the test still reads the database.
			pool, err := db.Connect(ctxT(t), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			h := newHarnessOn(t, pool, dbURL, testConfig(false), nil)
			alice := mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleAdmin, "password-alice")
			tok, err := h.auth.Users.CreateToken(ctxT(t), alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t)
			h.login(t, c, "alice@example.com", "password-alice", nil)
			wantUser(t, "before", h.me(t, c, nil), alice)
			cookie := h.cookie(t, c)

			// An Auth whose sessions still load but whose user lookups fail.
			dead, err := db.Connect(ctxT(t), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			dead.Close()
			half := newHarnessOn(t, live, dbURL, testConfig(false), nil)
			half.auth.Users = session.NewUsers(dead)
			res, _ := half.do(t, http.DefaultClient, http.MethodGet, "/me", nil, cookieHeader(cookie))
			wantErr(t, "session loads, user lookup fails, /me", res, "unavailable")
			res, _ = half.stream(t, http.DefaultClient, cookieHeader(cookie))
			wantErr(t, "session loads, user lookup fails, /stream", res, "unavailable")

			switch mode {
			case "closed pool":
				pool.Close()
			case "dropped database":
				testdb.Drop(t, strings.TrimPrefix(mustParse(t, dbURL).Path, "/"))
			}

			res, _ = h.do(t, http.DefaultClient, http.MethodGet, "/me", nil, bearer(tok))
			wantErr(t, "bearer on /me", res, "unavailable")
			res, _ = h.stream(t, http.DefaultClient, bearer(tok))
			wantErr(t, "bearer on /stream", res, "unavailable")
			res, _ = h.stream(t, c, nil)
			wantErr(t, "cookie on /stream", res, "unavailable")
			// Through LoadAndSave the session cannot even be loaded: the
			// session manager answers 503 before any handler runs.
			res, resp := h.do(t, c, http.MethodGet, "/me", nil, nil)
			if resp.StatusCode != http.StatusServiceUnavailable || res.UserID != "" {
				t.Errorf("cookie on /me: %d %+v, want 503", resp.StatusCode, res)
			}
			// Logging in fails too, and does not claim bad credentials.
			res, _ = h.login(t, http.DefaultClient, "alice@example.com", "password-alice", nil)
			if res.Err == "" || res.Err == "unauthenticated" || res.UserID != "" {
				t.Errorf("login with the database gone: %+v", res)
			}
		})
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConcurrentLoginFailuresAreThrottled sends 40 wrong passwords for one
// account at once, each from its own address: only the account's limit of
// them may be checked, the rest are throttled, however they interleave.
func TestConcurrentLoginFailuresAreThrottled(t *testing.T) {
	t.Parallel()
	cfg := testConfig(false)
	// A slot for each check the throttle lets through, so that a loaded
	// machine (the race detector, parallel tests) makes none wait past
	// passwd.DefaultWait into a 503: the bound is passwd's to test.
	cfg.PasswordHashes = 10
	h := newHarness(t, cfg)
	if h.auth.Throttle.PerAccount != cfg.PasswordHashes {
		t.Fatalf("the throttle lets %d checks through, the test gives %d slots", h.auth.Throttle.PerAccount, cfg.PasswordHashes)
	}
	mustCreate(t, h.auth.Users, "alice@example.com", acl.RoleViewer, "password-alice")
	const n = 40
	results := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, _ := h.do(t, http.DefaultClient, http.MethodPost, "/login",
				url.Values{"email": {"alice@example.com"}, "password": {"wrong-password"}},
				http.Header{"X-Client": {fmt.Sprintf("10.7.0.%d", i)}})
			results <- res.Err
		})
	}
	wg.Wait()
	close(results)
	got := map[string]int{}
	for e := range results {
		got[e]++
	}
	limit := h.auth.Throttle.PerAccount
	if got["unauthenticated"] != limit || got["throttled"] != n-limit {
		t.Errorf("%d concurrent wrong passwords: %v; want %d unauthenticated and %d throttled", n, got, limit, n-limit)
	}
}
