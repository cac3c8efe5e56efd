package session_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/session"
)

// TestAdminsRemovingEachOther: two admins each demote, disable or delete the
// other at the same moment. Both changes start while a third transaction
// holds the admins' rows, so that neither can finish before the other has
// begun; then exactly one goes through and the other is refused, since its
// actor is no longer an admin, and one active admin remains. (Checking
// only "not yourself", as before, let both through and left none.)
func TestAdminsRemovingEachOther(t *testing.T) {
	t.Parallel()
	viewer, yes := acl.RoleViewer, true
	changes := map[string]func(us *session.Users, ctx context.Context, actor acl.Principal, other session.User) error{
		"demote": func(us *session.Users, ctx context.Context, actor acl.Principal, other session.User) error {
			_, err := us.Update(ctx, actor, other.Email, session.UserChange{Role: &viewer})
			return err
		},
		"disable": func(us *session.Users, ctx context.Context, actor acl.Principal, other session.User) error {
			_, err := us.Update(ctx, actor, other.Email, session.UserChange{Disabled: &yes})
			return err
		},
		"delete": func(us *session.Users, ctx context.Context, actor acl.Principal, other session.User) error {
			return us.Delete(ctx, actor, other.Email, actor.Email)
		},
	}
	for _, pair := range [][2]string{{"demote", "demote"}, {"disable", "demote"}, {"delete", "delete"}, {"delete", "demote"}, {"disable", "delete"}} {
		t.Run(pair[0]+"-"+pair[1], func(t *testing.T) {
			t.Parallel()
			pool, us := newUsers(t)
			ctx := ctxT(t)
			a := mustCreate(t, us, "a@example.com", acl.RoleAdmin, "password-a")
			b := mustCreate(t, us, "b@example.com", acl.RoleAdmin, "password-b")

			hold, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer hold.Rollback(context.Background())
			if _, err := hold.Exec(ctx, `SELECT id FROM users WHERE role = 'admin' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 2)
			go func() { done <- changes[pair[0]](us, ctx, a.Principal(), b) }()
			go func() { done <- changes[pair[1]](us, ctx, b.Principal(), a) }()

			// Both wait for the held rows; a change that doesn't take them
			// finishes instead, and is counted below.
			results := untilWaiting(t, pool, done, 2)
			if err := hold.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			for len(results) < 2 {
				results = append(results, <-done)
			}

			var ok, refused int
			for _, err := range results {
				switch {
				case err == nil:
					ok++
				case isOnly(err, errs.ErrForbidden):
					refused++
				default:
					t.Errorf("a change failed with %v, want nil or ErrForbidden", err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Errorf("%d changes went through and %d were refused (%v), want one each", ok, refused, errors.Join(results...))
			}
			var admins int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL`).Scan(&admins); err != nil {
				t.Fatal(err)
			}
			if admins != 1 {
				t.Errorf("%d active admins remain, want 1", admins)
			}
		})
	}
}

// TestDemotedAdminWrites: an admin's password reset of another account, or
// new account, that is under way while another admin demotes them is
// refused once the demotion commits (before, it went through: a demoted
// admin could take over another admin's account or make a new admin).
func TestDemotedAdminWrites(t *testing.T) {
	t.Parallel()
	type env struct {
		us    *session.Users
		d     *acl.Decider
		ctx   context.Context
		actor acl.Principal
		other session.User
	}
	writes := map[string]func(e env) error{
		"reset": func(e env) error {
			return e.us.ResetPassword(e.ctx, e.actor, e.other.Email, "taken-over-password")
		},
		"add": func(e env) error {
			_, err := e.us.Add(e.ctx, e.actor, "new-admin@example.com", acl.RoleAdmin, "new-admin-password")
			return err
		},
		// Groups decide access to what is granted to them.
		"join a group": func(e env) error {
			return e.d.SetMember(e.ctx, &e.actor, "press", e.actor.Email, true)
		},
		"create a group": func(e env) error {
			_, err := e.d.CreateGroup(e.ctx, &e.actor, "new-group")
			return err
		},
		"rename a group": func(e env) error {
			_, err := e.d.RenameGroup(e.ctx, e.actor, "press", "new-group")
			return err
		},
		"delete a group": func(e env) error {
			return e.d.DeleteGroup(e.ctx, e.actor, "press")
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool, us := newUsers(t)
			ctx := ctxT(t)
			d := acl.NewDecider(pool)
			a := mustCreate(t, us, "a@example.com", acl.RoleAdmin, "password-a")
			b := mustCreate(t, us, "b@example.com", acl.RoleAdmin, "password-b")
			if _, err := d.CreateGroup(ctx, nil, "press"); err != nil {
				t.Fatal(err)
			}
			// b's demotion of a, under way.
			demote, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer demote.Rollback(context.Background())
			if _, err := demote.Exec(ctx, `UPDATE users SET role = 'viewer' WHERE id = $1`, a.ID); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- write(env{us, d, ctx, a.Principal(), b}) }()
			// It waits for a's row; a write that doesn't take it finishes
			// instead.
			results := untilWaiting(t, pool, done, 1)
			if err := demote.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if len(results) == 0 {
				results = append(results, <-done)
			}
			result := results[0]
			if !isOnly(result, errs.ErrForbidden) {
				t.Errorf("%s by the admin being demoted = %v, want ErrForbidden", name, result)
			}
			if _, err := us.CheckPassword(ctx, b.Email, "password-b"); err != nil {
				t.Errorf("b's own password no longer works: %v", err)
			}
			if _, err := us.ByEmail(ctx, "new-admin@example.com"); !isOnly(err, errs.ErrNotFound) {
				t.Errorf("the new admin exists: %v", err)
			}
			var groups []string
			if err := pool.QueryRow(ctx, `SELECT COALESCE(array_agg(g.name || ':' || (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) ORDER BY g.name), '{}') FROM groups g`).Scan(&groups); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(groups, []string{"press:0"}) {
				t.Errorf("groups (name:members) after the refused write: %v, want press:0 alone", groups)
			}
		})
	}
}

// untilWaiting waits, for up to 10 s, until n transactions of the test's
// database wait for a lock or n results have come from done (changes that
// took no lock and finished instead), and returns the results received.
func untilWaiting(t *testing.T, pool *pgxpool.Pool, done <-chan error, n int) []error {
	t.Helper()
	var results []error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			results = append(results, err)
		default:
		}
		if waiting == n || len(results) == n {
			break
		}
	}
	return results
}
