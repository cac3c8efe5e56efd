package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
}

// NewAuth returns an Auth whose sessions live in PostgreSQL.
// Sessions, users and tokens are cached in process when hub is not nil.
func NewAuth(pool *pgxpool.Pool, cfg config.Config, log *slog.Logger, hub *invalidate.Hub) *Auth {
	sm := scs.New()
	sm.Store = newCachedStore(pool, hub)
	sm.Codec = newMemoCodec()
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
		Hasher: hasher, log: log, stop: make(chan struct{}), done: make(chan struct{})}
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

// Caller returns the principal the request was identified as. Without
// credentials it is ErrUnauthenticated; when identification failed (a bad
// token, the database down) it is that error, so callers fail closed.
func Caller(ctx context.Context) (acl.Principal, error) {
	id, ok := ctx.Value(identityKey{}).(identity)
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
// (the streaming path): it loads the session itself and never saves it, so a
// player's many Range requests cost no session writes and no buffering.
func (a *Auth) IdentifyReadOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string // an empty token loads an empty session without a query
		if c, err := r.Cookie(CookieName); err == nil && r.Header.Get("Authorization") == "" {
			token = c.Value
		}
		ctx, err := a.Sessions.Load(r.Context(), token)
		if err != nil {
			a.log.ErrorContext(r.Context(), "load session", "err", err)
			ctx = context.WithValue(r.Context(), identityKey{},
				identity{err: fmt.Errorf("%w: session store: %w", errs.ErrUnavailable, err)})
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		next.ServeHTTP(w, r.WithContext(a.identify(ctx, r)))
	})
}

func (a *Auth) identify(ctx context.Context, r *http.Request) context.Context {
	var id identity
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			id.err = fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", errs.ErrUnauthenticated)
		} else {
			u, err := a.Users.ByToken(ctx, strings.TrimSpace(token))
			id = identity{p: u.Principal(), err: unavailable(err)}
		}
	} else if uid := a.Sessions.GetString(ctx, userIDKey); uid != "" {
		u, err := a.Users.Active(ctx, uid)
		if errors.Is(err, errs.ErrNotFound) {
			err = nil // deleted or disabled since: signed out
		}
		if err == nil && u.Epoch != a.Sessions.GetInt(ctx, epochKey) {
			u = User{} // password changed or signed out everywhere since
		}
		id = identity{p: u.Principal(), err: unavailable(err)}
	}
	return context.WithValue(ctx, identityKey{}, id)
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
