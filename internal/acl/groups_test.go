package acl_test

import (
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/testdb"
)

// TestRenameAndDeleteGroup: a rename keeps the group's members and grants;
// a delete takes its grants with it, and a cached decider (deaf to the
// database's notifications) sees the loss on its very next decision.
func TestRenameAndDeleteGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	v := f.user(t, "v@example.com", acl.RoleViewer)
	item := f.item(t, owner.UserID)
	g := f.group(t, "press")
	f.group(t, "taken")
	f.member(t, g, v)
	f.grantTo(t, item, "group", g, acl.View)
	d := acl.NewDecider(f.pool).Cached(startHub(t, testdb.ServerURL()))
	level := func() acl.Level {
		t.Helper()
		l, err := d.Level(ctx, v, item)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := level(); got != acl.View {
		t.Fatalf("level through the group: %v", got)
	}

	for _, tc := range []struct {
		name     string
		p        acl.Principal
		from, to string
		want     error
	}{
		{"not an admin", owner, "press", "x", errs.ErrForbidden},
		{"anonymous", acl.Principal{}, "press", "x", errs.ErrUnauthenticated},
		{"unknown", admin, "nope", "x", errs.ErrNotFound},
		{"bad old name", admin, "../press", "x", errs.ErrNotFound},
		{"taken", admin, "press", "taken", errs.ErrConflict},
		{"everyone", admin, "press", "everyone", errs.ErrInvalid},
		{"bad name", admin, "press", "a/b", errs.ErrInvalid},
		{"empty", admin, "press", " ", errs.ErrInvalid},
	} {
		if _, err := d.RenameGroup(ctx, tc.p, tc.from, tc.to); !isOnly(err, tc.want) {
			t.Errorf("%s: RenameGroup = %v, want %v", tc.name, err, tc.want)
		}
	}
	got, err := d.RenameGroup(ctx, admin, "press", " media-team ")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != g || got.Name != "media-team" || got.Size != 1 || len(got.Members) != 1 || got.Members[0] != v.Email {
		t.Errorf("RenameGroup = %+v", got)
	}
	if l := level(); l != acl.View {
		t.Errorf("level after the rename: %v, want view", l)
	}
	grants, err := d.Grants(ctx, owner, item)
	if err != nil || len(grants) != 1 || grants[0].Subject != "group:media-team" {
		t.Errorf("grants after the rename: %+v, %v", grants, err)
	}

	for _, tc := range []struct {
		name string
		p    acl.Principal
		g    string
		want error
	}{
		{"not an admin", owner, "media-team", errs.ErrForbidden},
		{"old name", admin, "press", errs.ErrNotFound},
		{"bad name", admin, "a\x00", errs.ErrNotFound},
	} {
		if err := d.DeleteGroup(ctx, tc.p, tc.g); !isOnly(err, tc.want) {
			t.Errorf("%s: DeleteGroup = %v, want %v", tc.name, err, tc.want)
		}
	}
	if l := level(); l != acl.View {
		t.Fatalf("level after refused deletes: %v, want view", l)
	}
	if err := d.DeleteGroup(ctx, admin, "media-team"); err != nil {
		t.Fatal(err)
	}
	if l := level(); l != acl.None {
		t.Errorf("level right after the group's delete: %v, want none", l)
	}
	var grantsLeft, members int
	if err := f.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM grants WHERE subject_id = $1), (SELECT count(*) FROM group_members WHERE group_id = $1)`, g).
		Scan(&grantsLeft, &members); err != nil {
		t.Fatal(err)
	}
	if grantsLeft != 0 || members != 0 {
		t.Errorf("after DeleteGroup: %d grants, %d memberships left", grantsLeft, members)
	}
	if err := d.DeleteGroup(ctx, admin, "media-team"); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("second DeleteGroup = %v, want ErrNotFound", err)
	}
	// A new group of the old name gets nothing of the old one's.
	if _, err := d.CreateGroup(ctx, &admin, "media-team"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetMember(ctx, &admin, "media-team", v.Email, true); err != nil {
		t.Fatal(err)
	}
	if l := level(); l != acl.None {
		t.Errorf("a new group of the old name reaches the old grant: %v", l)
	}
}
