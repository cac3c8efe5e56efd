// Package session knows who is calling: user accounts and their passwords,
// browser sessions (scs in PostgreSQL), API tokens and login throttling.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/passwd"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// User is an account.
type User struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Role       acl.Role   `json:"role"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	// Epoch is copied into a session at login; a session whose copy differs
	// has been ended (password change, sign out everywhere).
	Epoch int `json:"-"`
}

const userColumns = `id, email, role, disabled_at, created_at, session_epoch`

func (u *User) fields() []any {
	return []any{&u.ID, &u.Email, &u.Role, &u.DisabledAt, &u.CreatedAt, &u.Epoch}
}

// Principal returns the acl principal for u.
func (u User) Principal() acl.Principal {
	return acl.Principal{UserID: u.ID, Email: u.Email, Role: u.Role}
}

// Users stores accounts.
type Users struct {
	pool   *pgxpool.Pool
	hub    *invalidate.Hub
	active *invalidate.Cache[string, User]   // by id
	tokens *invalidate.Cache[[32]byte, User] // by token hash
	hasher *passwd.Hasher
}

// WithHasher makes us hash and check passwords with h, and returns us.
func (us *Users) WithHasher(h *passwd.Hasher) *Users {
	us.hasher = h
	return us
}

// NewUsers returns a Users on pool, without caches.
func NewUsers(pool *pgxpool.Pool) *Users { return NewCachedUsers(pool, nil) }

// NewCachedUsers returns a Users whose lookups of active users and API tokens
// are cached, kept exact by hub. It hashes passwords one per CPU at a time;
// WithHasher shares another bound.
func NewCachedUsers(pool *pgxpool.Pool, hub *invalidate.Hub) *Users {
	return &Users{
		pool:   pool,
		hub:    hub,
		hasher: passwd.New(passwd.Params, runtime.NumCPU(), passwd.DefaultWait),
		active: invalidate.NewCache[string, User](hub, invalidate.Auth, "users", 100_000),
		tokens: invalidate.NewCache[[32]byte, User](hub, invalidate.Auth, "tokens", 100_000),
	}
}

// NormalizeEmail checks an address and returns its canonical (lower-case)
// form (acl.NormalizeEmail, which grants to users read with).
func NormalizeEmail(s string) (string, error) { return acl.NormalizeEmail(s) }

// Create adds a user. An empty password is refused; callers generate one.
func (us *Users) Create(ctx context.Context, email string, role acl.Role, password string) (User, error) {
	return us.create(ctx, acl.Principal{}, email, role, password)
}

// create is Create, made by actor, an admin still when it is written,
// unless actor is the zero Principal (the command line, the first admin).
func (us *Users) create(ctx context.Context, actor acl.Principal, email string, role acl.Role, password string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if _, err := acl.ParseRole(string(role)); err != nil {
		return User{}, err
	}
	if len(password) < MinPasswordLength {
		return User{}, fmt.Errorf("%w: password must have at least %d characters", errs.ErrInvalid, MinPasswordLength)
	}
	hash, err := us.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = pgx.BeginFunc(ctx, us.pool, func(tx pgx.Tx) error {
		if actor.Valid() {
			if _, err := acl.LockAdmins(ctx, tx, actor); err != nil {
				return err
			}
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO users (email, role, password_hash) VALUES ($1, $2, $3)
			RETURNING `+userColumns, email, role, hash).
			Scan(u.fields()...)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("%w: a user with email %s exists", errs.ErrConflict, email)
		}
		return err
	})
	if errors.Is(err, errs.ErrConflict) || errors.Is(err, errs.ErrForbidden) {
		return User{}, err
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// storable reports whether PostgreSQL can hold s as text: UTF-8 without a
// NUL. Text it can't is no one's email and no name, never a server error.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// ByEmail returns the user with email.
func (us *Users) ByEmail(ctx context.Context, email string) (User, error) {
	if !storable(email) {
		return User{}, fmt.Errorf("%w: no such user", errs.ErrNotFound)
	}
	return us.one(ctx, `WHERE email = $1`, strings.ToLower(strings.TrimSpace(email)))
}

// ByID returns the user with id.
func (us *Users) ByID(ctx context.Context, id string) (User, error) {
	if !acl.ValidID(id) {
		return User{}, fmt.Errorf("%w: no such user", errs.ErrNotFound)
	}
	return us.one(ctx, `WHERE id = $1`, id)
}

// Active returns the user with id unless the account is disabled.
func (us *Users) Active(ctx context.Context, id string) (User, error) {
	if !acl.ValidID(id) {
		return User{}, fmt.Errorf("%w: no such user", errs.ErrNotFound)
	}
	return us.active.Get(ctx, id, func(ctx context.Context) (User, error) {
		return us.one(ctx, `WHERE id = $1 AND disabled_at IS NULL`, id)
	})
}

func (us *Users) one(ctx context.Context, where string, arg any) (User, error) {
	var u User
	err := us.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users `+where, arg).Scan(u.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("%w: no such user", errs.ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// Count returns how many users exist.
func (us *Users) Count(ctx context.Context) (int, error) {
	var n int
	err := us.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// EnsureAdmin creates an admin with email when there is no user at all. When
// password is empty one is generated and returned; created says whether a
// user was made.
func (us *Users) EnsureAdmin(ctx context.Context, email, password string) (u User, generated string, created bool, err error) {
	n, err := us.Count(ctx)
	if err != nil || n > 0 {
		return User{}, "", false, err
	}
	if password == "" {
		password = GeneratePassword()
		generated = password
	}
	u, err = us.Create(ctx, email, acl.RoleAdmin, password)
	if errors.Is(err, errs.ErrConflict) { // another instance made it first
		return User{}, "", false, nil
	}
	return u, generated, err == nil, err
}

// GeneratePassword returns a random password of 20 URL-safe characters.
func GeneratePassword() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// dummyHash is compared against when the email is unknown, so that a login
// takes as long whether or not the account exists.
var dummyHash, _ = argon2id.CreateHash("mediagate-no-such-user", passwd.Params)

// CheckPassword returns the active user with email when password is right.
// An email PostgreSQL could not compare (NUL, bytes that are not UTF-8)
// belongs to no one, like any unknown one: a wrong login, not a 503.
func (us *Users) CheckPassword(ctx context.Context, email, password string) (User, error) {
	var u User
	var hash string
	err := pgx.ErrNoRows
	if storable(email) {
		err = us.pool.QueryRow(ctx, `
			SELECT `+userColumns+`, password_hash FROM users WHERE email = $1`,
			strings.ToLower(strings.TrimSpace(email))).
			Scan(append(u.fields(), &hash)...)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := us.hasher.Compare(ctx, password, dummyHash); err != nil {
			return User{}, err
		}
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("load user: %w", err)
	}
	ok, err := us.hasher.Compare(ctx, password, hash)
	if err != nil {
		return User{}, err
	}
	if !ok || u.DisabledAt != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// ErrBadCredentials is a failed login; it says nothing of which part was wrong.
var ErrBadCredentials = fmt.Errorf("%w: wrong email or password", errs.ErrUnauthenticated)
