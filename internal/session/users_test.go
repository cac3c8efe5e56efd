package session_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

var allSentinels = []error{
	errs.ErrInvalid, errs.ErrUnauthenticated, errs.ErrForbidden, errs.ErrNotFound,
	errs.ErrConflict, errs.ErrTooLarge, errs.ErrThrottled, errs.ErrUnavailable,
	errs.ErrMethod, errs.ErrGone, errs.ErrTimeout, errs.ErrInsufficientStorage,
}

// isOnly reports whether err is want and none of the other sentinels.
func isOnly(err, want error) bool {
	if !errors.Is(err, want) {
		return false
	}
	for _, s := range allSentinels {
		if s != want && errors.Is(err, s) {
			return false
		}
	}
	return true
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newUsers(t *testing.T) (*pgxpool.Pool, *session.Users) {
	t.Helper()
	pool, _ := testdb.New(t)
	return pool, session.NewUsers(pool)
}

func mustCreate(t *testing.T, us *session.Users, email string, role acl.Role, password string) session.User {
	t.Helper()
	u, err := us.Create(ctxT(t), email, role, password)
	if err != nil {
		t.Fatalf("Create(%s): %v", email, err)
	}
	return u
}

func disable(t *testing.T, pool *pgxpool.Pool, id string) {
	t.Helper()
	if _, err := pool.Exec(ctxT(t), `UPDATE users SET disabled_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

func countUsers(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"alice@example.com":         "alice@example.com",
		"Alice@Example.COM":         "alice@example.com",
		"  bob@example.org\t":       "bob@example.org",
		"first.last+tag@sub.ex.io":  "first.last+tag@sub.ex.io",
		"admin@localhost":           "admin@localhost",
		"o'brien@example.com":       "o'brien@example.com",
		"ÄNNE@EXAMPLE.COM":          "änne@example.com",
		"x_y-z@example-domain.test": "x_y-z@example-domain.test",
	}
	for in, want := range good {
		got, err := session.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "   ", "alice", "alice@", "@example.com", "a@b@c.com", "alice example@x.com",
		"Alice <alice@example.com>", "<alice@example.com>", "alice@example.com, bob@example.com",
		"alice@example.com (comment)", "alice@exa mple.com", "alice..x@example.com", ".alice@example.com",
		"a\xff@example.com", "a\x00@example.com", "a@exa\nmple.com",
	}
	for _, in := range bad {
		got, err := session.NormalizeEmail(in)
		if !isOnly(err, errs.ErrInvalid) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
		if got != "" {
			t.Errorf("NormalizeEmail(%q) returned %q alongside its error", in, got)
		}
	}
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestCreate(t *testing.T) {
	t.Parallel()
	pool, us := newUsers(t)
	ctx := ctxT(t)
	const pw = "correct horse"
	before := time.Now()
	u, err := us.Create(ctx, "  Alice@Example.com ", acl.RoleEditor, pw)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !acl.ValidID(u.ID) || u.Email != "alice@example.com" || u.Role != acl.RoleEditor || u.DisabledAt != nil {
		t.Errorf("Create returned %+v", u)
	}
	if u.CreatedAt.Before(before.Add(-time.Minute)) || u.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("CreatedAt = %v, not around now", u.CreatedAt)
	}
	// Round trips.
	for name, get := range map[string]func() (session.User, error){
		"ByID":    func() (session.User, error) { return us.ByID(ctx, u.ID) },
		"ByEmail": func() (session.User, error) { return us.ByEmail(ctx, " ALICE@example.COM") },
		"Active":  func() (session.User, error) { return us.Active(ctx, u.ID) },
	} {
		got, err := get()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.ID != u.ID || got.Email != u.Email || got.Role != u.Role || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("%s = %+v, want %+v", name, got, u)
		}
	}
	p := u.Principal()
	if p != (acl.Principal{UserID: u.ID, Email: u.Email, Role: u.Role}) || !p.Valid() {
		t.Errorf("Principal() = %+v", p)
	}

	// The stored hash is an argon2id PHC string with OWASP's parameters, and
	// salted: the same password hashes differently for another user.
	u2 := mustCreate(t, us, "bob@example.com", acl.RoleViewer, pw)
	hashes := map[string]string{}
	for _, id := range []string{u.ID, u2.ID} {
		var h string
		if err := pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&h); err != nil {
			t.Fatal(err)
		}
		if !phcRE.MatchString(h) {
			t.Errorf("password_hash %q is not argon2id with m=19456,t=2,p=1", h)
		}
		if strings.Contains(h, pw) {
			t.Errorf("password_hash contains the password")
		}
		hashes[id] = h
	}
	if hashes[u.ID] == hashes[u2.ID] {
		t.Error("two users with the same password have the same hash (no salt)")
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	pool, us := newUsers(t)
	mustCreate(t, us, "taken@example.com", acl.RoleViewer, "password1")
	tests := []struct {
		name     string
		email    string
		role     acl.Role
		password string
		want     error
	}{
		{"short password", "a@example.com", acl.RoleViewer, "1234567", errs.ErrInvalid},
		{"empty password", "a@example.com", acl.RoleViewer, "", errs.ErrInvalid},
		{"bad role", "a@example.com", "root", "password1", errs.ErrInvalid},
		{"empty role", "a@example.com", "", "password1", errs.ErrInvalid},
		{"upper-case role", "a@example.com", "Admin", "password1", errs.ErrInvalid},
		{"bad email", "not-an-email", acl.RoleViewer, "password1", errs.ErrInvalid},
		{"empty email", "", acl.RoleViewer, "password1", errs.ErrInvalid},
		{"duplicate", "taken@example.com", acl.RoleAdmin, "password2", errs.ErrConflict},
		{"duplicate, other case", "Taken@EXAMPLE.com", acl.RoleViewer, "password1", errs.ErrConflict},
		{"duplicate, spaces", " taken@example.com ", acl.RoleEditor, "password1", errs.ErrConflict},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				u, err := us.Create(ctxT(t), tc.email, tc.role, tc.password)
				if !isOnly(err, tc.want) {
					t.Errorf("Create = %v, want %v", err, tc.want)
				}
				if u != (session.User{}) {
					t.Errorf("Create returned %+v alongside its error", u)
				}
			})
		}
	})
	if n := countUsers(t, pool); n != 1 {
		t.Errorf("%d users after failed creates, want 1", n)
	}
	// The shortest allowed password is accepted.
	if _, err := us.Create(ctxT(t), "eight@example.com", acl.RoleViewer, "12345678"); err != nil {
		t.Errorf("8-character password refused: %v", err)
	}
}

func TestLookupsNotFound(t *testing.T) {
	t.Parallel()
	pool, us := newUsers(t)
	ctx := ctxT(t)
	u := mustCreate(t, us, "u@example.com", acl.RoleViewer, "password1")
	for name, err := range map[string]error{
		"ByEmail unknown":   second(us.ByEmail(ctx, "nobody@example.com")),
		"ByID unknown":      second(us.ByID(ctx, "7d4c9a10-5e6f-4a3b-8c2d-1e0f9a8b7c6d")),
		"ByID malformed":    second(us.ByID(ctx, "nope")),
		"ByID upper-case":   second(us.ByID(ctx, strings.ToUpper(u.ID))),
		"Active malformed":  second(us.Active(ctx, "' OR 1=1 --")),
		"Active unknown":    second(us.Active(ctx, "7d4c9a10-5e6f-4a3b-8c2d-1e0f9a8b7c6d")),
		"ByEmail malformed": second(us.ByEmail(ctx, "")),
	} {
		if !isOnly(err, errs.ErrNotFound) {
			t.Errorf("%s = %v, want ErrNotFound", name, err)
		}
	}
	disable(t, pool, u.ID)
	if _, err := us.Active(ctx, u.ID); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("Active on a disabled user = %v, want ErrNotFound", err)
	}
	got, err := us.ByID(ctx, u.ID)
	if err != nil || got.DisabledAt == nil {
		t.Errorf("ByID on a disabled user = %+v, %v; want the user with DisabledAt set", got, err)
	}
	if n, err := us.Count(ctx); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	pool, us := newUsers(t)
	const pw = "s3cret-password"
	alice := mustCreate(t, us, "alice@example.com", acl.RoleEditor, pw)
	dis := mustCreate(t, us, "disabled@example.com", acl.RoleAdmin, pw)
	disable(t, pool, dis.ID)

	u, err := us.CheckPassword(ctxT(t), "alice@example.com", pw)
	if err != nil || u.ID != alice.ID || u.Role != acl.RoleEditor || u.Email != alice.Email {
		t.Errorf("right password: %+v, %v", u, err)
	}
	u, err = us.CheckPassword(ctxT(t), "  ALICE@Example.com ", pw)
	if err != nil || u.ID != alice.ID {
		t.Errorf("right password, mixed-case email: %+v, %v", u, err)
	}

	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", "alice@example.com", pw + "x"},
		{"password case", "alice@example.com", strings.ToUpper(pw)},
		{"prefix", "alice@example.com", pw[:len(pw)-1]},
		{"empty password", "alice@example.com", ""},
		{"unknown user", "nobody@example.com", pw},
		{"empty email", "", pw},
		{"NUL in the email", "alice@example.com\x00", pw}, // PostgreSQL refuses to compare it: was a 503
		{"email not UTF-8", "alice\xff@example.com", pw},
		{"disabled", "disabled@example.com", pw},
		{"disabled, wrong password", "disabled@example.com", "nope-nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := us.CheckPassword(ctxT(t), tc.email, tc.password)
			if !errors.Is(err, session.ErrBadCredentials) || !isOnly(err, errs.ErrUnauthenticated) {
				t.Errorf("CheckPassword = %v, want ErrBadCredentials", err)
			}
			// The same message whatever was wrong.
			if err != nil && err.Error() != session.ErrBadCredentials.Error() {
				t.Errorf("error %q differs from ErrBadCredentials", err)
			}
			if u != (session.User{}) {
				t.Errorf("CheckPassword returned %+v alongside its error", u)
			}
		})
	}
}

func TestCheckPasswordCorruptHash(t *testing.T) {
	t.Parallel()
	pool, us := newUsers(t)
	u := mustCreate(t, us, "u@example.com", acl.RoleViewer, "password1")
	if _, err := pool.Exec(ctxT(t), `UPDATE users SET password_hash = 'x' WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	got, err := us.CheckPassword(ctxT(t), "u@example.com", "password1")
	if err == nil || got != (session.User{}) {
		t.Errorf("CheckPassword with a corrupt hash = %+v, %v; want an error", got, err)
	}
}

func TestEnsureAdmin(t *testing.T) {
	t.Parallel()
	t.Run("generated password", func(t *testing.T) {
		t.Parallel()
		pool, us := newUsers(t)
		ctx := ctxT(t)
		u, generated, created, err := us.EnsureAdmin(ctx, " Root@Example.com", "")
		if err != nil || !created {
			t.Fatalf("EnsureAdmin = %+v, %q, %v, %v", u, generated, created, err)
		}
		if u.Role != acl.RoleAdmin || u.Email != "root@example.com" || !acl.ValidID(u.ID) {
			t.Errorf("EnsureAdmin made %+v", u)
		}
		if len(generated) != 20 || len(generated) < session.MinPasswordLength {
			t.Errorf("generated password %q has %d characters, want 20", generated, len(generated))
		}
		got, err := us.CheckPassword(ctx, "root@example.com", generated)
		if err != nil || got.ID != u.ID {
			t.Errorf("the generated password does not work: %+v, %v", got, err)
		}

		// The second time nothing happens, whatever is asked.
		u2, generated2, created2, err := us.EnsureAdmin(ctx, "other@example.com", "")
		if err != nil || created2 || generated2 != "" || u2 != (session.User{}) {
			t.Errorf("second EnsureAdmin = %+v, %q, %v, %v; want a no-op", u2, generated2, created2, err)
		}
		if n := countUsers(t, pool); n != 1 {
			t.Errorf("%d users after the second EnsureAdmin, want 1", n)
		}
		if _, err := us.CheckPassword(ctx, "root@example.com", generated); err != nil {
			t.Errorf("the admin's password changed: %v", err)
		}
	})
	t.Run("given password", func(t *testing.T) {
		t.Parallel()
		_, us := newUsers(t)
		ctx := ctxT(t)
		u, generated, created, err := us.EnsureAdmin(ctx, "admin@localhost", "chosen-password")
		if err != nil || !created || generated != "" || u.Role != acl.RoleAdmin {
			t.Fatalf("EnsureAdmin = %+v, %q, %v, %v", u, generated, created, err)
		}
		if _, err := us.CheckPassword(ctx, "admin@localhost", "chosen-password"); err != nil {
			t.Errorf("the given password does not work: %v", err)
		}
	})
	t.Run("some user exists", func(t *testing.T) {
		t.Parallel()
		pool, us := newUsers(t)
		mustCreate(t, us, "viewer@example.com", acl.RoleViewer, "password1")
		u, generated, created, err := us.EnsureAdmin(ctxT(t), "admin@example.com", "")
		if err != nil || created || generated != "" || u != (session.User{}) {
			t.Errorf("EnsureAdmin with a user present = %+v, %q, %v, %v; want a no-op", u, generated, created, err)
		}
		if n := countUsers(t, pool); n != 1 {
			t.Errorf("%d users, want 1", n)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		pool, us := newUsers(t)
		for _, tc := range []struct{ email, password string }{{"admin", ""}, {"admin@example.com", "short"}} {
			_, _, created, err := us.EnsureAdmin(ctxT(t), tc.email, tc.password)
			if !isOnly(err, errs.ErrInvalid) || created {
				t.Errorf("EnsureAdmin(%q, %q) = %v, %v; want ErrInvalid", tc.email, tc.password, created, err)
			}
		}
		if n := countUsers(t, pool); n != 0 {
			t.Errorf("%d users, want 0", n)
		}
	})
	t.Run("concurrent instances", func(t *testing.T) {
		t.Parallel()
		pool, _ := newUsers(t)
		const n = 4
		var wg sync.WaitGroup
		results := make([]bool, n)
		errors := make([]error, n)
		for i := range n {
			// Instances are processes, each with its own hasher: sharing one
			// would make them queue for its slots on a loaded machine.
			us := session.NewUsers(pool)
			wg.Go(func() {
				_, _, results[i], errors[i] = us.EnsureAdmin(ctxT(t), "admin@example.com", "")
			})
		}
		wg.Wait()
		made := 0
		for i := range n {
			if errors[i] != nil {
				t.Errorf("instance %d: %v", i, errors[i])
			}
			if results[i] {
				made++
			}
		}
		if made != 1 {
			t.Errorf("%d instances report creating the admin, want 1", made)
		}
		if c := countUsers(t, pool); c != 1 {
			t.Errorf("%d users, want 1", c)
		}
	})
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
	seen := map[string]bool{}
	for range 100 {
		p := session.GeneratePassword()
		if !re.MatchString(p) {
			t.Fatalf("GeneratePassword() = %q, want 20 URL-safe characters", p)
		}
		if seen[p] {
			t.Fatalf("GeneratePassword repeated %q", p)
		}
		seen[p] = true
	}
}
