package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/passwd"
)

// CookieName is the session cookie's name.
const CookieName = "mediagate_session"

const (
	userIDKey = "user_id"
	epochKey  = "epoch" // the user's session_epoch at login
)

// Auth signs users in and out and tells who is calling.
type Auth struct {
	Users    *Users
	Sessions *scs.SessionManager
	Throttle *Throttle
	// Hasher bounds every password hash and check of the process: sign-ins,
	// password changes and share links' passwords.
	Hasher *passwd.Hasher
	log    *slog.Logger
	stop   chan struct{}
	done   chan struct{}
	// store and codec are Sessions', read directly by Peek.
	store *cachedStore
	codec *memoCodec
}

// NewAuth returns an Auth whose sessions live in PostgreSQL.
// Sessions, users and tokens are cached in process when hub is not nil.
func NewAuth(pool *pgxpool.Pool, cfg config.Config, log *slog.Logger, hub *invalidate.Hub) *Auth {
	sm := scs.New()
	store, codec := newCachedStore(pool, hub), newMemoCodec()
	sm.Store, sm.Codec = store, codec
	sm.Lifetime = cfg.SessionLifetime
	sm.IdleTimeout = cfg.SessionIdle
	sm.Cookie.Name = CookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.CookieSecure
	sm.Cookie.Path = "/"
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		log.Error("session store", "err", err)
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
	}
	hasher := passwd.New(passwd.Params, cfg.PasswordHashes, passwd.DefaultWait)
	a := &Auth{Users: NewCachedUsers(pool, hub).WithHasher(hasher), Sessions: sm, Throttle: NewThrottle(pool),
		Hasher: hasher, log: log, stop: make(chan struct{}), done: make(chan struct{}), store: store, codec: codec}
	go a.cleanExpired(pool, 5*time.Minute)
	return a
}

// cleanExpired deletes expired sessions every interval until Close.
func (a *Auth) cleanExpired(pool *pgxpool.Pool, interval time.Duration) {
	defer close(a.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			if _, err := pool.Exec(context.Background(), `DELETE FROM sessions WHERE expiry < now()`); err != nil {
				a.log.Warn("delete expired sessions", "err", err)
			}
		}
	}
}

// Close stops the expired-session cleaner.
func (a *Auth) Close() {
	close(a.stop)
	<-a.done
}

// Login checks the credentials under the throttle and, when right, binds the
// user to a new session token. ctx must carry a loaded session.
func (a *Auth) Login(ctx context.Context, email, password, client string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || password == "" {
		return User{}, fmt.Errorf("%w: email and password are required", errs.ErrInvalid)
	}
	if !storable(email) { // no one's: nothing to count it against
		a.log.InfoContext(ctx, "login failed", "email", email, "client", client)
		return User{}, ErrBadCredentials
	}
	// Counted before the comparison, so that concurrent attempts cannot
	// all pass a check made before any of them failed.
	attempt, err := a.Throttle.Begin(ctx, AccountKey(email), client)
	if err != nil {
		return User{}, unavailable(err)
	}
	u, err := a.Users.CheckPassword(ctx, email, password)
	if errors.Is(err, ErrBadCredentials) {
		a.log.InfoContext(ctx, "login failed", "email", email, "client", client)
		return User{}, err // the attempt stays counted
	}
	if err != nil {
		attempt.Abort()
		return User{}, unavailable(err)
	}
	if err := attempt.Succeed(ctx); err != nil {
		return User{}, unavailable(err)
	}
	// A new token on every privilege change defeats session fixation.
	if err := a.Sessions.RenewToken(ctx); err != nil {
		return User{}, fmt.Errorf("renew session: %w", err)
	}
	a.Sessions.Put(ctx, userIDKey, u.ID)
	a.Sessions.Put(ctx, epochKey, u.Epoch)
	return u, nil
}

// ChangePassword changes the caller's password, which ends all their other
// sessions; the one in ctx (if any) stays signed in.
// Wrong current passwords count as failed logins of the account and client.
func (a *Auth) ChangePassword(ctx context.Context, p acl.Principal, current, next, client string) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	if len(next) < MinPasswordLength {
		return fmt.Errorf("%w: password must have at least %d characters", errs.ErrInvalid, MinPasswordLength)
	}
	attempt, err := a.Throttle.Begin(ctx, AccountKey(p.Email), client)
	if err != nil {
		return unavailable(err)
	}
	if err := a.Users.ChangePassword(ctx, p, current, next); err != nil {
		if !errors.Is(err, errs.ErrForbidden) { // a wrong current password stays counted
			attempt.Abort()
		}
		return err
	}
	if err := attempt.Succeed(ctx); err != nil {
		return unavailable(err)
	}
	if a.Sessions.GetString(ctx, userIDKey) == p.UserID {
		u, err := a.Users.ByID(ctx, p.UserID)
		if err != nil {
			return err
		}
		if err := a.Sessions.RenewToken(ctx); err != nil {
			return err
		}
		a.Sessions.Put(ctx, epochKey, u.Epoch)
	}
	return nil
}

// Logout ends the session in ctx.
func (a *Auth) Logout(ctx context.Context) error {
	if err := a.Sessions.Clear(ctx); err != nil {
		return err
	}
	return a.Sessions.RenewToken(ctx)
}

type identityKey struct{}

type identity struct {
	p   acl.Principal
	err error
}

// identityCtx is a context that carries the caller's identity: one
// allocation for both, on a path that counts them.
type identityCtx struct {
	context.Context
	id identity
}

func (c *identityCtx) Value(k any) any {
	if k == (identityKey{}) {
		return &c.id
	}
	return c.Context.Value(k)
}

func withIdentity(ctx context.Context, id identity) context.Context {
	return &identityCtx{Context: ctx, id: id}
}

// Caller returns the principal the request was identified as. Without
// credentials it is ErrUnauthenticated; when identification failed (a bad
// token, the database down) it is that error, so callers fail closed.
func Caller(ctx context.Context) (acl.Principal, error) {
	id, ok := ctx.Value(identityKey{}).(*identity)
	if !ok {
		return acl.Principal{}, errs.ErrUnauthenticated
	}
	if id.err != nil {
		return acl.Principal{}, id.err
	}
	if !id.p.Valid() {
		return acl.Principal{}, errs.ErrUnauthenticated
	}
	return id.p, nil
}

// Identify is middleware that works out the caller, from a bearer token or the
// session loaded by Sessions.LoadAndSave, and stores it for Caller.
func (a *Auth) Identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(a.identify(r.Context(), r)))
	})
}

// IdentifyReadOnly is Identify for routes that must not write the session
// (share links' downloads, uploads): it loads the session itself and never
// saves it, so a player's many Range requests cost no session writes and no
// buffering.
func (a *Auth) IdentifyReadOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string // an empty token loads an empty session without a query
		if c, err := r.Cookie(CookieName); err == nil && r.Header.Get("Authorization") == "" {
			token = c.Value
		}
		ctx, err := a.Sessions.Load(r.Context(), token)
		if err != nil {
			a.log.ErrorContext(r.Context(), "load session", "err", err)
			next.ServeHTTP(w, r.WithContext(withIdentity(r.Context(), storeFailed(err))))
			return
		}
		next.ServeHTTP(w, r.WithContext(a.identify(ctx, r)))
	})
}

// Peek is IdentifyReadOnly for routes that need nothing of the session but
// whose it is (the private streaming path): it reads the cookie and the
// session's cached record itself instead of loading the session into the
// context, so Sessions' Get and Put can't be used after it. A player's
// Range requests cost neither a session query nor a copy of its values.
// It reads the store by the token itself, as scs does with HashTokenInStore
// off (NewAuth's setting; the session tests hold Peek to IdentifyReadOnly).
// Two differences, both closed: a cookie that cannot be a token is no
// session without asking the store (IdentifyReadOnly asks, and answers 503
// when the store is down), and past net/http's default limit of cookies
// (which GODEBUG=httpcookiemaxnum can raise for r.Cookie) none is read.
func (a *Auth) Peek(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := a.who(ctx, r, func() (string, int, error) {
			token := sessionToken(r)
			if token == "" {
				return "", 0, nil
			}
			b, found, err := a.store.Find(token)
			if err != nil || !found {
				return "", 0, err
			}
			values, err := a.codec.peek(b)
			if err != nil {
				return "", 0, err
			}
			uid, _ := values[userIDKey].(string)
			epoch, _ := values[epochKey].(int) // as Sessions.GetInt reads it
			return uid, epoch, nil
		})
		next.ServeHTTP(w, r.WithContext(withIdentity(ctx, id)))
	})
}

func (a *Auth) identify(ctx context.Context, r *http.Request) context.Context {
	return withIdentity(ctx, a.who(ctx, r, func() (string, int, error) {
		return a.Sessions.GetString(ctx, userIDKey), a.Sessions.GetInt(ctx, epochKey), nil
	}))
}

// who works out the caller of r: the user of its bearer token, else the
// user its session names, read by session (the user's id and the epoch
// the session was made in; "" for none) only when there is no token.
func (a *Auth) who(ctx context.Context, r *http.Request, session func() (uid string, epoch int, err error)) identity {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return identity{err: fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", errs.ErrUnauthenticated)}
		}
		u, err := a.Users.ByToken(ctx, strings.TrimSpace(token))
		return identity{p: u.Principal(), err: unavailable(err)}
	}
	uid, epoch, err := session()
	if err != nil {
		a.log.ErrorContext(ctx, "load session", "err", err)
		return storeFailed(err)
	}
	if uid == "" {
		return identity{}
	}
	u, err := a.Users.Active(ctx, uid)
	if errors.Is(err, errs.ErrNotFound) {
		err = nil // deleted or disabled since: signed out
	}
	if err == nil && u.Epoch != epoch {
		u = User{} // password changed or signed out everywhere since
	}
	return identity{p: u.Principal(), err: unavailable(err)}
}

// storeFailed is the identity of a request whose session could not be
// read: unavailable, never anonymous.
func storeFailed(err error) identity {
	return identity{err: fmt.Errorf("%w: session store: %w", errs.ErrUnavailable, err)}
}

// sessionToken returns the value of r's session cookie as r.Cookie finds
// it (the first cookie of that name with a valid value), or "" when there
// is none or it is not shaped like a token scs makes. It reads the header
// in place, where r.Cookie parses every cookie into a new slice.
func sessionToken(r *http.Request) string {
	lines := r.Header["Cookie"]
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxCookies {
		return "" // net/http reads none
	}
	for _, line := range lines {
		for line = textproto.TrimString(line); line != ""; {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, val, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(name) != CookieName {
				continue
			}
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if !validCookieValue(val) {
				continue
			}
			if !tokenShaped(val) {
				return ""
			}
			return val
		}
	}
	return ""
}

// maxCookies is the most cookies net/http reads of a request (its default
// limit, GODEBUG httpcookiemaxnum).
const maxCookies = 3000

// validCookieValue reports whether net/http takes v as a cookie's value.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// tokenShaped reports whether v could be a session token: scs makes them
// of 32 random bytes in unpadded base64url (43 characters).
func tokenShaped(v string) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// unavailable marks errors that are not about the credentials themselves as
// ErrUnavailable, so a database outage is a 503, never an anonymous or
// authorized answer.
func unavailable(err error) error {
	for _, known := range []error{errs.ErrUnauthenticated, errs.ErrNotFound, errs.ErrThrottled, errs.ErrInvalid, errs.ErrUnavailable} {
		if err == nil || errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", errs.ErrUnavailable, err)
}
