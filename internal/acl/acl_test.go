package acl_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/errs"
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

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want acl.Role
		ok   bool
	}{
		{"admin", acl.RoleAdmin, true},
		{"editor", acl.RoleEditor, true},
		{"viewer", acl.RoleViewer, true},
		{"", "", false},
		{"Admin", "", false},
		{"ADMIN", "", false},
		{" admin", "", false},
		{"admin ", "", false},
		{"root", "", false},
		{"owner", "", false},
		{"manage", "", false},
	} {
		got, err := acl.ParseRole(tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("ParseRole(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if !isOnly(err, errs.ErrInvalid) {
			t.Errorf("ParseRole(%q) error = %v, want ErrInvalid", tc.in, err)
		}
		if got != "" {
			t.Errorf("ParseRole(%q) = %q alongside an error", tc.in, got)
		}
	}
}

func TestCanUpload(t *testing.T) {
	t.Parallel()
	for r, want := range map[acl.Role]bool{
		acl.RoleAdmin: true, acl.RoleEditor: true, acl.RoleViewer: false, "": false, "root": false,
	} {
		if got := r.CanUpload(); got != want {
			t.Errorf("Role(%q).CanUpload() = %v, want %v", r, got, want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want acl.Level
		ok   bool
	}{
		{"view", acl.View, true},
		{"edit", acl.Edit, true},
		{"manage", acl.Manage, true},
		{"none", acl.None, false}, // not grantable
		{"", acl.None, false},
		{"View", acl.None, false},
		{"MANAGE", acl.None, false},
		{"read", acl.None, false},
		{"admin", acl.None, false},
		{"1", acl.None, false},
		{"view ", acl.None, false},
	} {
		got, err := acl.ParseLevel(tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		if !isOnly(err, errs.ErrInvalid) {
			t.Errorf("ParseLevel(%q) error = %v, want ErrInvalid", tc.in, err)
		}
		if got != acl.None {
			t.Errorf("ParseLevel(%q) = %v alongside an error", tc.in, got)
		}
	}
}

func TestLevelOrderingAndNames(t *testing.T) {
	t.Parallel()
	order := []acl.Level{acl.None, acl.View, acl.Edit, acl.Manage}
	for i := 1; i < len(order); i++ {
		if !(order[i-1] < order[i]) {
			t.Errorf("%v is not weaker than %v", order[i-1], order[i])
		}
	}
	// The numbers are those mg_level and the grants table use.
	for l, n := range map[acl.Level]int{acl.None: 0, acl.View: 1, acl.Edit: 2, acl.Manage: 3} {
		if int(l) != n {
			t.Errorf("%v = %d, want %d", l, int(l), n)
		}
	}
	for l, s := range map[acl.Level]string{acl.None: "none", acl.View: "view", acl.Edit: "edit", acl.Manage: "manage"} {
		if l.String() != s {
			t.Errorf("Level(%d).String() = %q, want %q", int(l), l.String(), s)
		}
		if l != acl.None {
			if back, err := acl.ParseLevel(l.String()); err != nil || back != l {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v", l.String(), back, err, l)
			}
		}
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"0b7e7f2e-3c1a-4d8e-9f00-123456789abc":   true,
		"00000000-0000-0000-0000-000000000000":   true,
		"0B7E7F2E-3C1A-4D8E-9F00-123456789ABC":   false, // ids are lower-case
		"0b7e7f2e3c1a4d8e9f00123456789abc":       false,
		"{0b7e7f2e-3c1a-4d8e-9f00-123456789abc}": false,
		"0b7e7f2e-3c1a-4d8e-9f00-123456789abc ":  false,
		"0b7e7f2e-3c1a-4d8e-9f00-123456789abg":   false,
		"0b7e7f2e-3c1a-4d8e-9f00-123456789ab":    false,
		"":                                       false,
		"abc":                                    false,
		"1; DROP TABLE media":                    false,
	} {
		if got := acl.ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	levels := []acl.Level{acl.None, acl.View, acl.Edit, acl.Manage}
	for _, have := range levels {
		for _, need := range levels[1:] {
			err := acl.Check(have, need)
			switch {
			case have < acl.View:
				if !isOnly(err, errs.ErrNotFound) {
					t.Errorf("Check(%v, %v) = %v, want ErrNotFound", have, need, err)
				}
			case have < need:
				if !isOnly(err, errs.ErrForbidden) {
					t.Errorf("Check(%v, %v) = %v, want ErrForbidden", have, need, err)
				}
				if !strings.Contains(err.Error(), need.String()) {
					t.Errorf("Check(%v, %v) = %q does not name the needed level", have, need, err)
				}
			default:
				if err != nil {
					t.Errorf("Check(%v, %v) = %v, want nil", have, need, err)
				}
			}
		}
	}
}

// fixture is a database with users and items for decisions.
type fixture struct {
	pool *pgxpool.Pool
	url  string
	d    *acl.Decider
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, url := testdb.New(t)
	return &fixture{pool: pool, url: url, d: acl.NewDecider(pool)}
}

// user creates a user with SQL (no password hashing needed here).
func (f *fixture) user(t *testing.T, email string, role acl.Role) acl.Principal {
	t.Helper()
	var id string
	err := f.pool.QueryRow(ctxT(t),
		`INSERT INTO users (email, role, password_hash) VALUES ($1, $2, 'x') RETURNING id`,
		email, string(role)).Scan(&id)
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return acl.Principal{UserID: id, Email: email, Role: role}
}

// item creates a media item owned by owner (none when owner is empty).
func (f *fixture) item(t *testing.T, owner string) string {
	t.Helper()
	ctx := ctxT(t)
	b := make([]byte, 32)
	rand.Read(b)
	sha := hex.EncodeToString(b)
	if _, err := f.pool.Exec(ctx, `INSERT INTO blobs (sha256, size, content_type) VALUES ($1, 1, 'video/mp4')`, sha); err != nil {
		t.Fatalf("create blob: %v", err)
	}
	var ownerArg any
	if owner != "" {
		ownerArg = owner
	}
	var id string
	if err := f.pool.QueryRow(ctx, `INSERT INTO media (filename, blob, owner_id) VALUES ('a.mp4', $1, $2) RETURNING id`,
		sha, ownerArg).Scan(&id); err != nil {
		t.Fatalf("create item: %v", err)
	}
	return id
}

// grant stores a grant with SQL, bypassing SetGrant.
func (f *fixture) grant(t *testing.T, item string, p acl.Principal, l acl.Level) {
	t.Helper()
	if _, err := f.pool.Exec(ctxT(t),
		`INSERT INTO grants (media_id, subject_type, subject_id, permission) VALUES ($1, 'user', $2, $3)`,
		item, p.UserID, int16(l)); err != nil {
		t.Fatalf("grant: %v", err)
	}
}

// grantTo stores a grant on item to a group or everyone (id empty) with SQL.
func (f *fixture) grantTo(t *testing.T, item, subjectType, id string, l acl.Level) {
	t.Helper()
	var idArg any
	if id != "" {
		idArg = id
	}
	if _, err := f.pool.Exec(ctxT(t),
		`INSERT INTO grants (media_id, subject_type, subject_id, permission) VALUES ($1, $2, $3, $4)`,
		item, subjectType, idArg, int16(l)); err != nil {
		t.Fatalf("grant: %v", err)
	}
}

// group creates a group with SQL.
func (f *fixture) group(t *testing.T, name string) string {
	t.Helper()
	var id string
	if err := f.pool.QueryRow(ctxT(t), `INSERT INTO groups (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
	return id
}

func (f *fixture) member(t *testing.T, group string, p acl.Principal) {
	t.Helper()
	if _, err := f.pool.Exec(ctxT(t), `INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)`, group, p.UserID); err != nil {
		t.Fatalf("add member: %v", err)
	}
}

// folder creates a folder with SQL (parent and owner may be empty).
func (f *fixture) folder(t *testing.T, name, parent, owner string) string {
	t.Helper()
	var id string
	if err := f.pool.QueryRow(ctxT(t), `INSERT INTO folders (name, parent_id, owner_id) VALUES ($1, $2, $3) RETURNING id`,
		name, nullable(parent), nullable(owner)).Scan(&id); err != nil {
		t.Fatalf("create folder %s: %v", name, err)
	}
	return id
}

// itemIn creates an item in folder.
func (f *fixture) itemIn(t *testing.T, owner, folder string) string {
	t.Helper()
	id := f.item(t, owner)
	if _, err := f.pool.Exec(ctxT(t), `UPDATE media SET folder_id = $1 WHERE id = $2`, folder, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (f *fixture) grantCount(t *testing.T, item string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(ctxT(t), `SELECT count(*) FROM grants WHERE media_id = $1`, item).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) level(t *testing.T, p acl.Principal, item string) acl.Level {
	t.Helper()
	l, err := f.d.Level(ctxT(t), p, item)
	if err != nil {
		t.Fatalf("Level(%s, %s): %v", p.Email, item, err)
	}
	return l
}

const missingItem = "7d4c9a10-5e6f-4a3b-8c2d-1e0f9a8b7c6d"

func TestDeciderLevel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	viewer := f.user(t, "viewer@example.com", acl.RoleViewer)
	editor := f.user(t, "editor@example.com", acl.RoleViewer)
	manager := f.user(t, "manager@example.com", acl.RoleEditor)
	stranger := f.user(t, "stranger@example.com", acl.RoleViewer)
	strangerEditor := f.user(t, "stranger-editor@example.com", acl.RoleEditor)

	item := f.item(t, owner.UserID)
	other := f.item(t, owner.UserID)      // viewer's grant on item must not leak here
	orphan := f.item(t, "")               // no owner at all
	otherOwned := f.item(t, admin.UserID) // owned by someone else; owner has only a view grant
	f.grant(t, item, viewer, acl.View)
	f.grant(t, item, editor, acl.Edit)
	f.grant(t, item, manager, acl.Manage)
	f.grant(t, item, owner, acl.View) // weaker than ownership: ownership wins
	f.grant(t, other, editor, acl.View)
	f.grant(t, otherOwned, owner, acl.View)
	f.grant(t, orphan, manager, acl.Edit)

	noID := acl.Principal{Email: admin.Email, Role: acl.RoleAdmin}
	tests := []struct {
		name string
		p    acl.Principal
		item string
		want acl.Level
	}{
		{"admin on any item", admin, item, acl.Manage},
		{"admin on an orphan", admin, orphan, acl.Manage},
		{"admin on a missing item", admin, missingItem, acl.None},
		{"admin with a malformed id", admin, "not-a-uuid", acl.None},
		{"owner", owner, item, acl.Manage},
		{"owner of other", owner, other, acl.Manage},
		{"grant on someone else's item", owner, otherOwned, acl.View},
		{"view grant", viewer, item, acl.View},
		{"edit grant", editor, item, acl.Edit},
		{"manage grant", manager, item, acl.Manage},
		{"grant on another item does not leak", viewer, other, acl.None},
		{"edit grantee's view grant elsewhere", editor, other, acl.View},
		{"grant on an orphan", manager, orphan, acl.Edit},
		{"stranger", stranger, item, acl.None},
		{"stranger with upload role", strangerEditor, item, acl.None},
		{"stranger on an orphan", stranger, orphan, acl.None},
		{"missing item", owner, missingItem, acl.None},
		{"malformed id", owner, "x' OR 1=1 --", acl.None},
		{"upper-case id", owner, strings.ToUpper(item), acl.None},
		{"empty id", owner, "", acl.None},
		{"principal without id", noID, item, acl.None},
		{"zero principal", acl.Principal{}, item, acl.None},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := f.level(t, tc.p, tc.item); got != tc.want {
				t.Errorf("Level = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStrongestGrantWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	u := f.user(t, "u@example.com", acl.RoleViewer)
	item := f.item(t, owner.UserID)
	// Ownership plus a weaker grant: ownership wins.
	f.grant(t, item, owner, acl.View)
	if got := f.level(t, owner, item); got != acl.Manage {
		t.Errorf("owner with a view grant: %v, want manage", got)
	}
	// A direct view grant, an edit grant through a group and a view grant
	// to everyone: edit.
	staff := f.group(t, "staff")
	f.member(t, staff, u)
	f.grant(t, item, u, acl.View)
	f.grantTo(t, item, "group", staff, acl.Edit)
	f.grantTo(t, item, "everyone", "", acl.View)
	if got := f.level(t, u, item); got != acl.Edit {
		t.Errorf("view + group edit + everyone view: %v, want edit", got)
	}
	// Raising the weakest source raises the result.
	if _, err := f.pool.Exec(ctxT(t), `UPDATE grants SET permission = 3 WHERE subject_type = 'everyone'`); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, u, item); got != acl.Manage {
		t.Errorf("view + group edit + everyone manage: %v, want manage", got)
	}
}

// TestRoleComesFromPrincipal documents that the decider trusts the role in
// the principal: callers must build principals from the database (the
// session layer does so on every request).
func TestRoleComesFromPrincipal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	u := f.user(t, "u@example.com", acl.RoleViewer)
	item := f.item(t, owner.UserID)
	if got := f.level(t, u, item); got != acl.None {
		t.Fatalf("viewer: %v", got)
	}
	claimed := u
	claimed.Role = acl.RoleAdmin
	if got := f.level(t, claimed, item); got != acl.Manage {
		t.Errorf("principal claiming admin: %v, want manage (role is taken from the principal)", got)
	}
	demoted := owner
	demoted.Role = acl.RoleViewer
	if got := f.level(t, demoted, item); got != acl.Manage {
		t.Errorf("owner with viewer role: %v, want manage (ownership does not depend on role)", got)
	}
}

// TestLevelFailsClosed checks that an error is never a permission.
func TestLevelFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)

	// A principal id that is not a uuid makes the query fail.
	bad := acl.Principal{UserID: "not-a-uuid", Role: acl.RoleViewer}
	l, err := f.d.Level(ctxT(t), bad, item)
	if err == nil || l != acl.None {
		t.Errorf("Level with a malformed principal id = %v, %v; want None and an error", l, err)
	}
	if err := f.d.Require(ctxT(t), bad, item, acl.View); err == nil {
		t.Error("Require with a malformed principal id succeeded")
	}

	// The database going away.
	pool, err := db.Connect(ctxT(t), f.url)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	gone := acl.NewDecider(pool)
	for _, p := range []acl.Principal{owner, {UserID: owner.UserID, Role: acl.RoleAdmin}} {
		l, err := gone.Level(ctxT(t), p, item)
		if err == nil || l != acl.None {
			t.Errorf("Level on a closed pool = %v, %v; want None and an error", l, err)
		}
		err = gone.Require(ctxT(t), p, item, acl.View)
		if !isOnly(err, errs.ErrUnavailable) {
			t.Errorf("Require on a closed pool = %v, want ErrUnavailable", err)
		}
		for _, s := range []error{errs.ErrNotFound, errs.ErrForbidden, errs.ErrUnauthenticated} {
			if errors.Is(err, s) {
				t.Errorf("Require on a closed pool = %v, which hides the outage as %v", err, s)
			}
		}
		if _, err := gone.Grants(ctxT(t), p, item); !isOnly(err, errs.ErrUnavailable) {
			t.Errorf("Grants on a closed pool = %v, want ErrUnavailable", err)
		}
		if err := gone.SetGrant(ctxT(t), p, item, "someone@example.com", acl.View); !isOnly(err, errs.ErrUnavailable) {
			t.Errorf("SetGrant on a closed pool = %v, want ErrUnavailable", err)
		}
	}

	// A cancelled context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if l, err := f.d.Level(ctx, owner, item); err == nil || l != acl.None {
		t.Errorf("Level with a cancelled context = %v, %v; want None and an error", l, err)
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	viewer := f.user(t, "viewer@example.com", acl.RoleViewer)
	editor := f.user(t, "editor@example.com", acl.RoleViewer)
	stranger := f.user(t, "stranger@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	f.grant(t, item, viewer, acl.View)
	f.grant(t, item, editor, acl.Edit)

	tests := []struct {
		name string
		p    acl.Principal
		item string
		need acl.Level
		want error // nil: allowed
	}{
		{"admin manage", admin, item, acl.Manage, nil},
		{"owner manage", owner, item, acl.Manage, nil},
		{"viewer view", viewer, item, acl.View, nil},
		{"viewer edit", viewer, item, acl.Edit, errs.ErrForbidden},
		{"viewer manage", viewer, item, acl.Manage, errs.ErrForbidden},
		{"editor edit", editor, item, acl.Edit, nil},
		{"editor view", editor, item, acl.View, nil},
		{"editor manage", editor, item, acl.Manage, errs.ErrForbidden},
		{"stranger view", stranger, item, acl.View, errs.ErrNotFound},
		{"stranger manage", stranger, item, acl.Manage, errs.ErrNotFound},
		{"missing item", admin, missingItem, acl.View, errs.ErrNotFound},
		{"malformed id", owner, "../etc/passwd", acl.View, errs.ErrNotFound},
		{"no principal", acl.Principal{}, item, acl.View, errs.ErrUnauthenticated},
		{"no principal, missing item", acl.Principal{}, missingItem, acl.View, errs.ErrUnauthenticated},
		{"principal without id", acl.Principal{Email: "admin@example.com", Role: acl.RoleAdmin}, item, acl.View, errs.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := f.d.Require(ctxT(t), tc.p, tc.item, tc.need)
			if tc.want == nil {
				if err != nil {
					t.Errorf("Require = %v, want nil", err)
				}
				return
			}
			if !isOnly(err, tc.want) {
				t.Errorf("Require = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDisabledUserGrants documents what the decider does for a disabled
// user: nothing special. Their grants stay in the table, still count for a
// principal that names them, and are still listed. Refusing disabled users
// is the session layer's job: it never yields a principal for them.
func TestDisabledUserGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	u := f.user(t, "u@example.com", acl.RoleViewer)
	item := f.item(t, owner.UserID)
	f.grant(t, item, u, acl.Edit)
	if _, err := f.pool.Exec(ctxT(t), `UPDATE users SET disabled_at = now() WHERE id = $1`, u.UserID); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, u, item); got != acl.Edit {
		t.Errorf("disabled user's level = %v; the decider is documented not to check disabled_at (want edit)", got)
	}
	gs, err := f.d.Grants(ctxT(t), owner, item)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || gs[0] != (acl.Grant{Subject: "user:u@example.com", Permission: "edit"}) {
		t.Errorf("Grants = %+v, want the disabled user's grant listed", gs)
	}
	// A disabled owner's items are likewise still theirs.
	if _, err := f.pool.Exec(ctxT(t), `UPDATE users SET disabled_at = now() WHERE id = $1`, owner.UserID); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, owner, item); got != acl.Manage {
		t.Errorf("disabled owner's level = %v, want manage", got)
	}
}

// TestDeletedOwner checks that deleting the owner leaves the item with no
// owner, reachable by admins and grantees only.
func TestDeletedOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	u := f.user(t, "u@example.com", acl.RoleViewer)
	item := f.item(t, owner.UserID)
	f.grant(t, item, u, acl.View)
	if _, err := f.pool.Exec(ctxT(t), `DELETE FROM users WHERE id = $1`, owner.UserID); err != nil {
		t.Fatal(err)
	}
	if got := f.level(t, owner, item); got != acl.None {
		t.Errorf("deleted owner's level = %v, want none", got)
	}
	if got := f.level(t, admin, item); got != acl.Manage {
		t.Errorf("admin's level = %v, want manage", got)
	}
	if got := f.level(t, u, item); got != acl.View {
		t.Errorf("grantee's level = %v, want view", got)
	}
}
