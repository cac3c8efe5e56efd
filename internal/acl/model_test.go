package acl_test

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/testdb"
)

func TestParseSubject(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want acl.Subject
		str  string
	}{
		{"everyone", acl.Subject{Type: "everyone"}, "everyone"},
		{"  everyone ", acl.Subject{Type: "everyone"}, "everyone"},
		{"alice@example.com", acl.Subject{Type: "user", Name: "alice@example.com"}, "user:alice@example.com"},
		{" Alice@Example.COM ", acl.Subject{Type: "user", Name: "alice@example.com"}, "user:alice@example.com"},
		{"user:alice@example.com", acl.Subject{Type: "user", Name: "alice@example.com"}, "user:alice@example.com"},
		{"user:ALICE@example.com", acl.Subject{Type: "user", Name: "alice@example.com"}, "user:alice@example.com"},
		{"group:staff", acl.Subject{Type: "group", Name: "staff"}, "group:staff"},
		{"group:Staff.Team-1", acl.Subject{Type: "group", Name: "Staff.Team-1"}, "group:Staff.Team-1"},
	}
	for _, tc := range good {
		got, err := acl.ParseSubject(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSubject(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.str {
			t.Errorf("ParseSubject(%q).String() = %q, want %q", tc.in, got.String(), tc.str)
		}
		if back, err := acl.ParseSubject(got.String()); err != nil || back != got {
			t.Errorf("ParseSubject(%q) = %+v, %v; does not round-trip", got.String(), back, err)
		}
	}
	for _, in := range []string{"", " ", "alice", "user:", "user:alice", "group:", "Everyone", "everyone:", "nobody"} {
		got, err := acl.ParseSubject(in)
		if !isOnly(err, errs.ErrInvalid) || got != (acl.Subject{}) {
			t.Errorf("ParseSubject(%q) = %+v, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestGroupAndEveryoneGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	u := f.user(t, "u@example.com", acl.RoleViewer)
	w := f.user(t, "w@example.com", acl.RoleViewer)
	stranger := f.user(t, "stranger@example.com", acl.RoleViewer)
	staff := f.group(t, "staff")
	f.member(t, staff, u)
	f.member(t, staff, w)
	item := f.item(t, owner.UserID)

	if err := f.d.SetGrant(ctx, owner, item, "group:staff", acl.Edit); err != nil {
		t.Fatalf("SetGrant to a group: %v", err)
	}
	if err := f.d.SetGrant(ctx, owner, item, "u@example.com", acl.View); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[acl.Principal]acl.Level{u: acl.Edit, w: acl.Edit, stranger: acl.None} {
		if got := f.level(t, p, item); got != want {
			t.Errorf("%s: %v, want %v", p.Email, got, want)
		}
	}
	// Leaving the group takes effect at once; the direct grant remains.
	if _, err := f.pool.Exec(ctx, `DELETE FROM group_members WHERE user_id = $1`, u.UserID); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, u, item); got != acl.View {
		t.Errorf("after leaving the group: %v, want view", got)
	}

	// Everyone means every signed-in user, and nobody else.
	if err := f.d.SetGrant(ctx, owner, item, "everyone", acl.View); err != nil {
		t.Fatalf("SetGrant to everyone: %v", err)
	}
	if got := f.level(t, stranger, item); got != acl.View {
		t.Errorf("stranger with an everyone grant: %v, want view", got)
	}
	if got := f.level(t, acl.Principal{}, item); got != acl.None {
		t.Errorf("anonymous with an everyone grant: %v, want none", got)
	}
	if err := f.d.Require(ctx, acl.Principal{}, item, acl.View); !isOnly(err, errs.ErrUnauthenticated) {
		t.Errorf("anonymous Require with an everyone grant = %v, want ErrUnauthenticated", err)
	}
	// Upsert, not a second row.
	if err := f.d.SetGrant(ctx, owner, item, " everyone", acl.Manage); err != nil {
		t.Fatal(err)
	}
	if n := f.grantCount(t, item); n != 3 {
		t.Errorf("%d grants, want 3", n)
	}

	got, err := f.d.Grants(ctx, owner, item)
	if err != nil {
		t.Fatal(err)
	}
	want := []acl.Grant{
		{Subject: "everyone", Permission: "manage"},
		{Subject: "group:staff", Permission: "edit"},
		{Subject: "user:u@example.com", Permission: "view"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Grants = %+v, want %+v", got, want)
	}

	if err := f.d.RemoveGrant(ctx, owner, item, "everyone"); err != nil {
		t.Fatalf("RemoveGrant everyone: %v", err)
	}
	if got := f.level(t, stranger, item); got != acl.None {
		t.Errorf("stranger after the everyone grant went: %v", got)
	}
	if err := f.d.RemoveGrant(ctx, owner, item, "group:staff"); err != nil {
		t.Fatalf("RemoveGrant group: %v", err)
	}
	if got := f.level(t, w, item); got != acl.None {
		t.Errorf("group member after the group grant went: %v", got)
	}
	for _, s := range []string{"everyone", "group:staff"} {
		if err := f.d.RemoveGrant(ctx, owner, item, s); !isOnly(err, errs.ErrNotFound) {
			t.Errorf("second RemoveGrant %s = %v, want ErrNotFound", s, err)
		}
	}
}

func TestFolderInheritance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	fowner := f.user(t, "fowner@example.com", acl.RoleEditor)
	iowner := f.user(t, "iowner@example.com", acl.RoleEditor)
	v := f.user(t, "v@example.com", acl.RoleViewer)
	stranger := f.user(t, "stranger@example.com", acl.RoleViewer)
	root := f.folder(t, "Root", "", fowner.UserID)
	child := f.folder(t, "Child", root, "")
	sibling := f.folder(t, "Sibling", "", "")
	item := f.itemIn(t, iowner.UserID, child)
	outside := f.itemIn(t, iowner.UserID, sibling)

	if err := f.d.SetFolderGrant(ctx, fowner, root, "v@example.com", acl.View); err != nil {
		t.Fatalf("SetFolderGrant: %v", err)
	}

	levels := []struct {
		name   string
		p      acl.Principal
		id     string
		folder bool
		want   acl.Level
	}{
		{"grant on an ancestor reaches the item", v, item, false, acl.View},
		{"grant reaches the subfolder", v, child, true, acl.View},
		{"grant on the folder itself", v, root, true, acl.View},
		{"not a sibling folder", v, sibling, true, acl.None},
		{"not an item elsewhere", v, outside, false, acl.None},
		{"ancestor owner manages the item", fowner, item, false, acl.Manage},
		{"ancestor owner manages the subfolder", fowner, child, true, acl.Manage},
		{"item owner has nothing on the folder", iowner, root, true, acl.None},
		{"item owner manages the item", iowner, item, false, acl.Manage},
		{"stranger", stranger, item, false, acl.None},
		{"stranger on the folder", stranger, child, true, acl.None},
		{"admin on a folder", admin, sibling, true, acl.Manage},
		{"admin on a missing folder", admin, missingItem, true, acl.None},
		{"malformed folder id", admin, "nope", true, acl.None},
		{"item id as a folder", admin, item, true, acl.None},
		{"folder id as an item", admin, root, false, acl.None},
	}
	for _, tc := range levels {
		var got acl.Level
		var err error
		if tc.folder {
			got, err = f.d.FolderLevel(ctx, tc.p, tc.id)
		} else {
			got, err = f.d.Level(ctx, tc.p, tc.id)
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	// An own grant adds to the inherited one; the listing shows both, own first.
	if err := f.d.SetGrant(ctx, iowner, item, "v@example.com", acl.Edit); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, v, item); got != acl.Edit {
		t.Errorf("own edit + inherited view: %v, want edit", got)
	}
	got, err := f.d.Grants(ctx, iowner, item)
	if err != nil {
		t.Fatal(err)
	}
	want := []acl.Grant{
		{Subject: "user:v@example.com", Permission: "edit"},
		{Subject: "user:v@example.com", Permission: "view", From: &acl.Origin{FolderID: root, Name: "Root"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Grants = %+v, want %+v", got, want)
	}
	// Removing the item's grant leaves the inherited one.
	if err := f.d.RemoveGrant(ctx, iowner, item, "v@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, v, item); got != acl.View {
		t.Errorf("after removing the own grant: %v, want view (inherited)", got)
	}
	if err := f.d.RemoveGrant(ctx, iowner, item, "v@example.com"); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("RemoveGrant of an inherited grant = %v, want ErrNotFound", err)
	}

	fgot, err := f.d.FolderGrants(ctx, fowner, child)
	if err != nil {
		t.Fatal(err)
	}
	fwant := []acl.Grant{{Subject: "user:v@example.com", Permission: "view", From: &acl.Origin{FolderID: root, Name: "Root"}}}
	if !reflect.DeepEqual(fgot, fwant) {
		t.Errorf("FolderGrants(child) = %+v, want %+v", fgot, fwant)
	}
	fgot, err = f.d.FolderGrants(ctx, fowner, root)
	if err != nil {
		t.Fatal(err)
	}
	if fwant := []acl.Grant{{Subject: "user:v@example.com", Permission: "view"}}; !reflect.DeepEqual(fgot, fwant) {
		t.Errorf("FolderGrants(root) = %+v, want %+v", fgot, fwant)
	}

	// Folder grant operations need manage on the folder.
	for _, tc := range []struct {
		name string
		p    acl.Principal
		want error
	}{
		{"view grantee", v, errs.ErrForbidden},
		{"item owner", iowner, errs.ErrNotFound},
		{"stranger", stranger, errs.ErrNotFound},
		{"anonymous", acl.Principal{}, errs.ErrUnauthenticated},
	} {
		if err := f.d.SetFolderGrant(ctx, tc.p, root, "stranger@example.com", acl.Manage); !isOnly(err, tc.want) {
			t.Errorf("%s: SetFolderGrant = %v, want %v", tc.name, err, tc.want)
		}
		if err := f.d.RemoveFolderGrant(ctx, tc.p, root, "v@example.com"); !isOnly(err, tc.want) {
			t.Errorf("%s: RemoveFolderGrant = %v, want %v", tc.name, err, tc.want)
		}
		if _, err := f.d.FolderGrants(ctx, tc.p, root); !isOnly(err, tc.want) {
			t.Errorf("%s: FolderGrants = %v, want %v", tc.name, err, tc.want)
		}
		if err := f.d.RequireFolder(ctx, tc.p, root, acl.Manage); !isOnly(err, tc.want) {
			t.Errorf("%s: RequireFolder = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := f.level(t, stranger, item); got != acl.None {
		t.Errorf("a refused SetFolderGrant gave the stranger %v", got)
	}
	if err := f.d.RequireFolder(ctx, admin, missingItem, acl.View); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("RequireFolder on a missing folder = %v, want ErrNotFound", err)
	}

	// Revoking on the folder ends the access below it at once.
	if err := f.d.RemoveFolderGrant(ctx, admin, root, "v@example.com"); err != nil {
		t.Fatalf("RemoveFolderGrant: %v", err)
	}
	if got := f.level(t, v, item); got != acl.None {
		t.Errorf("after the folder revoke: %v, want none", got)
	}
	if err := f.d.RemoveFolderGrant(ctx, admin, root, "v@example.com"); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("second RemoveFolderGrant = %v, want ErrNotFound", err)
	}
}

// startHub runs an invalidation hub listening on the database at url until
// the test ends.
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

// silently runs sql without firing triggers, so no invalidation is sent: a
// cached decider cannot learn of it.
func silently(t *testing.T, f *fixture, sql string, args ...any) {
	t.Helper()
	err := pgx.BeginFunc(ctxT(t), f.pool, func(tx pgx.Tx) error {
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

// TestCachedDeciderRevoke checks that with the decision cache a revoke still
// takes effect on the very next decision on this instance, and soon on others.
func TestCachedDeciderRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	v := f.user(t, "v@example.com", acl.RoleViewer)
	item := f.item(t, owner.UserID)
	f.grant(t, item, v, acl.View)

	// A hub that is healthy but listens elsewhere: no notification from the
	// test database reaches it, so only the decider's own flush can.
	deaf := acl.NewDecider(f.pool).Cached(startHub(t, testdb.ServerURL()))
	if deaf.Hub() == nil {
		t.Fatal("Cached decider has no hub")
	}
	if acl.NewDecider(f.pool).Hub() != nil {
		t.Error("uncached decider has a hub")
	}
	level := func(d *acl.Decider) acl.Level {
		t.Helper()
		l, err := d.Level(ctx, v, item)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := level(deaf); got != acl.View {
		t.Fatalf("cached level: %v", got)
	}
	// Prove the cache is in use: a change nobody is told of is not seen by
	// the cached decider, and is by an uncached one.
	silently(t, f, `DELETE FROM grants WHERE subject_id = $1`, v.UserID)
	if got := level(deaf); got != acl.View {
		t.Fatalf("cached decider saw an unannounced change (%v): the cache is not in use, the rest proves nothing", got)
	}
	if got := level(acl.NewDecider(f.pool)); got != acl.None {
		t.Errorf("uncached decider: %v, want none", got)
	}
	silently(t, f, `INSERT INTO grants (media_id, subject_type, subject_id, permission) VALUES ($1, 'user', $2, 1)`, item, v.UserID)

	// This instance's own revoke: the very next decision.
	if err := deaf.RemoveGrant(ctx, owner, item, v.Email); err != nil {
		t.Fatal(err)
	}
	if got := level(deaf); got != acl.None {
		t.Errorf("cached decider right after its own revoke: %v, want none", got)
	}
	if err := deaf.SetGrant(ctx, owner, item, v.Email, acl.Edit); err != nil {
		t.Fatal(err)
	}
	if got := level(deaf); got != acl.Edit {
		t.Errorf("cached decider right after its own grant: %v, want edit", got)
	}

	// Another instance's revoke arrives by NOTIFY.
	d := acl.NewDecider(f.pool).Cached(startHub(t, f.url))
	if got := level(d); got != acl.Edit {
		t.Fatalf("listening decider: %v, want edit", got)
	}
	other := acl.NewDecider(f.pool)
	if err := other.RemoveGrant(ctx, owner, item, v.Email); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for level(d) != acl.None {
		if time.Now().After(deadline) {
			t.Fatal("another instance's revoke never reached the cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Role changes are part of the question: an admin's answer is not reused.
	admin := v
	admin.Role = acl.RoleAdmin
	if l, err := d.Level(ctx, admin, item); err != nil || l != acl.Manage {
		t.Errorf("same user as admin: %v, %v; want manage", l, err)
	}
	if got := level(d); got != acl.None {
		t.Errorf("viewer after the admin question: %v, want none", got)
	}
}
