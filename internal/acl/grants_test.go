package acl_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// grantsFixture is an item with an owner, an admin and grantees at each level.
type grantsFixture struct {
	*fixture
	media                                           string
	admin, owner, viewer, editor, manager, stranger acl.Principal
	target                                          acl.Principal // has no grant yet
}

func newGrantsFixture(t *testing.T) *grantsFixture {
	t.Helper()
	f := newFixture(t)
	g := &grantsFixture{fixture: f}
	g.admin = f.user(t, "admin@example.com", acl.RoleAdmin)
	g.owner = f.user(t, "owner@example.com", acl.RoleEditor)
	g.viewer = f.user(t, "viewer@example.com", acl.RoleViewer)
	g.editor = f.user(t, "editor@example.com", acl.RoleViewer)
	g.manager = f.user(t, "manager@example.com", acl.RoleViewer)
	g.stranger = f.user(t, "stranger@example.com", acl.RoleEditor)
	g.target = f.user(t, "target@example.com", acl.RoleViewer)
	g.media = f.item(t, g.owner.UserID)
	f.grant(t, g.media, g.viewer, acl.View)
	f.grant(t, g.media, g.editor, acl.Edit)
	f.grant(t, g.media, g.manager, acl.Manage)
	return g
}

func TestGrantOperationsNeedManage(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	callers := []struct {
		name string
		p    acl.Principal
		want error // nil: allowed
	}{
		{"admin", g.admin, nil},
		{"owner", g.owner, nil},
		{"manage grantee", g.manager, nil},
		{"edit grantee", g.editor, errs.ErrForbidden},
		{"view grantee", g.viewer, errs.ErrForbidden},
		{"stranger", g.stranger, errs.ErrNotFound},
		{"target", g.target, errs.ErrNotFound},
		{"anonymous", acl.Principal{}, errs.ErrUnauthenticated},
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			// Not parallel: the allowed callers change the shared grants.
			before := g.grantCount(t, g.media)
			err := g.d.SetGrant(ctxT(t), c.p, g.media, g.target.Email, acl.View)
			check := func(op string, err error) {
				t.Helper()
				if c.want == nil {
					if err != nil {
						t.Errorf("%s = %v, want nil", op, err)
					}
				} else if !isOnly(err, c.want) {
					t.Errorf("%s = %v, want %v", op, err, c.want)
				}
			}
			check("SetGrant", err)
			if c.want != nil {
				if n := g.grantCount(t, g.media); n != before {
					t.Errorf("refused SetGrant changed the grant count from %d to %d", before, n)
				}
				if l := g.level(t, g.target, g.media); l != acl.None {
					t.Errorf("refused SetGrant gave the target %v", l)
				}
			} else if l := g.level(t, g.target, g.media); l != acl.View {
				t.Errorf("after SetGrant the target has %v, want view", l)
			}

			gs, err := g.d.Grants(ctxT(t), c.p, g.media)
			check("Grants", err)
			if c.want != nil && gs != nil {
				t.Errorf("refused Grants returned %+v", gs)
			}

			if c.want == nil {
				err = g.d.RemoveGrant(ctxT(t), c.p, g.media, g.target.Email)
				check("RemoveGrant", err)
				if l := g.level(t, g.target, g.media); l != acl.None {
					t.Errorf("after RemoveGrant the target still has %v", l)
				}
				return
			}
			// A refused caller tries to remove the editor's grant.
			err = g.d.RemoveGrant(ctxT(t), c.p, g.media, g.editor.Email)
			check("RemoveGrant", err)
			if l := g.level(t, g.editor, g.media); l != acl.Edit {
				t.Errorf("refused RemoveGrant left the editor with %v, want edit", l)
			}
		})
	}
}

func TestSetGrantUpsert(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	ctx := ctxT(t)
	steps := []acl.Level{acl.View, acl.Manage, acl.Edit, acl.View, acl.View}
	for _, l := range steps {
		if err := g.d.SetGrant(ctx, g.owner, g.media, g.target.Email, l); err != nil {
			t.Fatalf("SetGrant %v: %v", l, err)
		}
		if got := g.level(t, g.target, g.media); got != l {
			t.Errorf("after SetGrant %v the level is %v", l, got)
		}
		var n int
		if err := g.pool.QueryRow(ctx, `SELECT count(*) FROM grants WHERE media_id = $1 AND subject_id = $2`,
			g.media, g.target.UserID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("after SetGrant %v there are %d grant rows for the target, want 1", l, n)
		}
	}
}

func TestSetGrantInvalidLevel(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	for _, l := range []acl.Level{acl.None, acl.Manage + 1, -1, 100} {
		err := g.d.SetGrant(ctxT(t), g.owner, g.media, g.target.Email, l)
		if !isOnly(err, errs.ErrInvalid) {
			t.Errorf("SetGrant level %d = %v, want ErrInvalid", int(l), err)
		}
	}
	// An invalid level must not demote an existing grant either.
	if err := g.d.SetGrant(ctxT(t), g.owner, g.media, g.editor.Email, acl.None); !isOnly(err, errs.ErrInvalid) {
		t.Errorf("SetGrant none on an existing grant = %v, want ErrInvalid", err)
	}
	if l := g.level(t, g.editor, g.media); l != acl.Edit {
		t.Errorf("editor now has %v, want edit", l)
	}
	if l := g.level(t, g.target, g.media); l != acl.None {
		t.Errorf("target got %v from invalid SetGrants", l)
	}
}

func TestSetGrantEmail(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		subject string
		want    error
	}{
		{"nobody@example.com", errs.ErrNotFound},
		{"user:nobody@example.com", errs.ErrNotFound},
		{"target@example.co", errs.ErrNotFound},
		{"group:nobody", errs.ErrNotFound},
		{"", errs.ErrInvalid},
		{"target", errs.ErrInvalid},
		{"not an email", errs.ErrInvalid},
		{"user:", errs.ErrInvalid},
		{"group:", errs.ErrInvalid},
		{"Everyone@", errs.ErrInvalid}, // no user can have that email
		{"group:a b", errs.ErrInvalid}, // nor any group that name
		{"group:a\x00b", errs.ErrInvalid},
		{"user:a\x00@example.com", errs.ErrInvalid},
	} {
		err := g.d.SetGrant(ctx, g.owner, g.media, tc.subject, acl.View)
		if !isOnly(err, tc.want) {
			t.Errorf("SetGrant to %q = %v, want %v", tc.subject, err, tc.want)
		}
	}
	if n := g.grantCount(t, g.media); n != 3 {
		t.Errorf("grant count = %d after failed SetGrants, want 3", n)
	}
	// Case and surrounding space do not matter.
	if err := g.d.SetGrant(ctx, g.owner, g.media, "  Target@EXAMPLE.com ", acl.Edit); err != nil {
		t.Fatalf("SetGrant with a mixed-case email: %v", err)
	}
	if l := g.level(t, g.target, g.media); l != acl.Edit {
		t.Errorf("target has %v, want edit", l)
	}
	if err := g.d.RemoveGrant(ctx, g.owner, g.media, "TARGET@example.COM"); err != nil {
		t.Fatalf("RemoveGrant with a mixed-case email: %v", err)
	}
	if l := g.level(t, g.target, g.media); l != acl.None {
		t.Errorf("target still has %v", l)
	}
}

func TestGrantsListing(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	ctx := ctxT(t)
	a := g.user(t, "a@example.com", acl.RoleViewer)
	z := g.user(t, "z@example.com", acl.RoleViewer)
	for _, set := range []struct {
		p acl.Principal
		l acl.Level
	}{{z, acl.Manage}, {a, acl.View}, {g.target, acl.Edit}} {
		if err := g.d.SetGrant(ctx, g.owner, g.media, set.p.Email, set.l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := g.d.Grants(ctx, g.manager, g.media)
	if err != nil {
		t.Fatal(err)
	}
	want := []acl.Grant{
		{Subject: "user:manager@example.com", Permission: "manage"},
		{Subject: "user:z@example.com", Permission: "manage"},
		{Subject: "user:editor@example.com", Permission: "edit"},
		{Subject: "user:target@example.com", Permission: "edit"},
		{Subject: "user:a@example.com", Permission: "view"},
		{Subject: "user:viewer@example.com", Permission: "view"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Grants =\n%+v\nwant\n%+v", got, want)
	}
	// Grants on other items do not show.
	other := g.item2(t)
	if err := g.d.SetGrant(ctx, g.owner, other, a.Email, acl.Manage); err != nil {
		t.Fatal(err)
	}
	got2, err := g.d.Grants(ctx, g.owner, g.media)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got2, want) {
		t.Errorf("a grant on another item changed the listing: %+v", got2)
	}
	// The owner has no grant row and is not listed.
	for _, gr := range got {
		if gr.Subject == g.owner.Email {
			t.Errorf("owner listed as a grantee: %+v", gr)
		}
	}
}

func (g *grantsFixture) item2(t *testing.T) string { return g.fixture.item(t, g.owner.UserID) }

func TestGrantsEmptyIsEmptyList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	got, err := f.d.Grants(ctxT(t), owner, item)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || len(got) != 0 {
		t.Errorf("Grants = %#v, want an empty non-nil slice", got)
	}
	b, err := json.Marshal(got)
	if err != nil || string(b) != "[]" {
		t.Errorf("Grants as JSON = %s, %v; want []", b, err)
	}
}

func TestRemoveGrant(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	ctx := ctxT(t)
	// Removing what is not there.
	for _, email := range []string{g.target.Email, "nobody@example.com", g.owner.Email, "everyone", "group:nobody"} {
		if err := g.d.RemoveGrant(ctx, g.owner, g.media, email); !isOnly(err, errs.ErrNotFound) {
			t.Errorf("RemoveGrant(%q) = %v, want ErrNotFound", email, err)
		}
	}
	if err := g.d.RemoveGrant(ctx, g.owner, g.media, ""); !isOnly(err, errs.ErrInvalid) {
		t.Errorf("RemoveGrant(\"\") = %v, want ErrInvalid", err)
	}
	if n := g.grantCount(t, g.media); n != 3 {
		t.Errorf("grant count = %d after failed RemoveGrants, want 3", n)
	}
	// A grant on another item is not this item's grant.
	other := g.item2(t)
	g.grant(t, other, g.target, acl.View)
	if err := g.d.RemoveGrant(ctx, g.owner, g.media, g.target.Email); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("RemoveGrant of a grant held on another item = %v, want ErrNotFound", err)
	}
	if l := g.level(t, g.target, other); l != acl.View {
		t.Errorf("the other item's grant became %v", l)
	}

	// The revoke takes effect on the very next decision.
	if l := g.level(t, g.viewer, g.media); l != acl.View {
		t.Fatalf("viewer has %v before the revoke", l)
	}
	if err := g.d.RemoveGrant(ctx, g.manager, g.media, g.viewer.Email); err != nil {
		t.Fatalf("RemoveGrant: %v", err)
	}
	if l := g.level(t, g.viewer, g.media); l != acl.None {
		t.Errorf("viewer has %v right after the revoke", l)
	}
	if err := g.d.Require(ctx, g.viewer, g.media, acl.View); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("Require after the revoke = %v, want ErrNotFound", err)
	}
	// And a second removal finds nothing.
	if err := g.d.RemoveGrant(ctx, g.manager, g.media, g.viewer.Email); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("second RemoveGrant = %v, want ErrNotFound", err)
	}
	// Other grants are untouched.
	if l := g.level(t, g.editor, g.media); l != acl.Edit {
		t.Errorf("editor has %v, want edit", l)
	}
}

// TestManagersCannotLockOutOwner checks that grants never weaken ownership.
func TestManagersCannotLockOutOwner(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	ctx := ctxT(t)
	if err := g.d.SetGrant(ctx, g.manager, g.media, g.owner.Email, acl.View); err != nil {
		t.Fatalf("SetGrant to the owner: %v", err)
	}
	if l := g.level(t, g.owner, g.media); l != acl.Manage {
		t.Errorf("owner has %v after a view grant, want manage", l)
	}
	// A manager who demotes themself loses manage at once.
	if err := g.d.SetGrant(ctx, g.manager, g.media, g.manager.Email, acl.View); err != nil {
		t.Fatal(err)
	}
	if err := g.d.SetGrant(ctx, g.manager, g.media, g.target.Email, acl.View); !isOnly(err, errs.ErrForbidden) {
		t.Errorf("demoted manager's SetGrant = %v, want ErrForbidden", err)
	}
}

func TestGrantOperationsOnMissingItems(t *testing.T) {
	t.Parallel()
	g := newGrantsFixture(t)
	ctx := ctxT(t)
	for _, item := range []string{missingItem, "nope", ""} {
		if err := g.d.SetGrant(ctx, g.admin, item, g.target.Email, acl.View); !isOnly(err, errs.ErrNotFound) {
			t.Errorf("SetGrant on %q = %v, want ErrNotFound", item, err)
		}
		if err := g.d.RemoveGrant(ctx, g.admin, item, g.viewer.Email); !isOnly(err, errs.ErrNotFound) {
			t.Errorf("RemoveGrant on %q = %v, want ErrNotFound", item, err)
		}
		if _, err := g.d.Grants(ctx, g.admin, item); !isOnly(err, errs.ErrNotFound) {
			t.Errorf("Grants on %q = %v, want ErrNotFound", item, err)
		}
	}
	var n int
	if err := g.pool.QueryRow(ctx, `SELECT count(*) FROM grants`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d grants in the table, want 3", n)
	}
}
