package session_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// TestDeleteUser deletes a user who owns things, is in a group, holds grants,
// a token and two sessions: everything they owned is the heir's, everything
// else of theirs is gone, and neither their sessions nor their token nor
// their password work any more. The refusals change nothing.
func TestDeleteUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	ctx := ctxT(t)
	us := h.auth.Users
	admin := mustCreate(t, us, "admin@example.com", acl.RoleAdmin, "password-admin")
	heir := mustCreate(t, us, "heir@example.com", acl.RoleAdmin, "password-heir")
	editor := mustCreate(t, us, "ed@example.com", acl.RoleEditor, "password-ed")
	viewer := mustCreate(t, us, "viewer@example.com", acl.RoleViewer, "password-viewer")
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := h.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	sha := strings.Repeat("a", 64)
	exec(`INSERT INTO blobs (sha256, size, content_type) VALUES ($1, 1, 'video/mp4')`, sha)
	var folder, item, other string
	if err := h.pool.QueryRow(ctx, `INSERT INTO folders (name, owner_id) VALUES ('F', $1) RETURNING id`, editor.ID).Scan(&folder); err != nil {
		t.Fatal(err)
	}
	if err := h.pool.QueryRow(ctx, `INSERT INTO media (filename, blob, owner_id, folder_id) VALUES ('a.mp4', $3, $1, $2) RETURNING id`, editor.ID, folder, sha).Scan(&item); err != nil {
		t.Fatal(err)
	}
	if err := h.pool.QueryRow(ctx, `INSERT INTO media (filename, blob, owner_id) VALUES ('b.mp4', $2, $1) RETURNING id`, viewer.ID, sha).Scan(&other); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO grants (media_id, subject_type, subject_id, permission) VALUES ($1, 'user', $2, 1)`, other, editor.ID)
	exec(`INSERT INTO grants (media_id, subject_type, subject_id, permission) VALUES ($1, 'user', $2, 1)`, item, viewer.ID)
	var group string
	if err := h.pool.QueryRow(ctx, `INSERT INTO groups (name) VALUES ('g') RETURNING id`).Scan(&group); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO group_members (group_id, user_id) VALUES ($1, $2), ($1, $3)`, group, editor.ID, viewer.ID)
	tok, err := us.CreateToken(ctx, editor.ID)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2, cv := newClient(t), newClient(t), newClient(t)
	h.login(t, c1, "ed@example.com", "password-ed", nil)
	h.login(t, c2, "ed@example.com", "password-ed", nil)
	h.login(t, cv, "viewer@example.com", "password-viewer", nil)
	wantUser(t, "before", h.me(t, c1, nil), editor)
	sessions := h.countSessions(t)

	for _, tc := range []struct {
		name            string
		actor           acl.Principal
		email, reassign string
		want            error
	}{
		{"not an admin", editor.Principal(), "viewer@example.com", "admin@example.com", errs.ErrForbidden},
		{"anonymous", acl.Principal{}, "ed@example.com", "admin@example.com", errs.ErrUnauthenticated},
		{"yourself", admin.Principal(), "admin@example.com", "heir@example.com", errs.ErrConflict},
		{"no heir", admin.Principal(), "ed@example.com", "", errs.ErrInvalid},
		{"unknown heir", admin.Principal(), "ed@example.com", "nobody@example.com", errs.ErrInvalid},
		{"heir not an admin", admin.Principal(), "ed@example.com", "viewer@example.com", errs.ErrInvalid},
		{"heir is the user", admin.Principal(), "heir@example.com", "heir@example.com", errs.ErrInvalid},
		{"unknown user", admin.Principal(), "nobody@example.com", "heir@example.com", errs.ErrNotFound},
	} {
		if err := us.Delete(ctx, tc.actor, tc.email, tc.reassign); !isOnly(err, tc.want) {
			t.Errorf("%s: Delete = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := countUsers(t, h.pool); n != 4 {
		t.Fatalf("refused deletes left %d users, want 4", n)
	}
	if n := h.countSessions(t); n != sessions {
		t.Fatalf("refused deletes left %d sessions, want %d", n, sessions)
	}

	if err := us.Delete(ctx, admin.Principal(), "ED@example.com", "heir@example.com"); err != nil {
		t.Fatal(err)
	}
	var owner, folderOwner string
	if err := h.pool.QueryRow(ctx, `SELECT (SELECT owner_id::text FROM media WHERE id = $1), (SELECT owner_id::text FROM folders WHERE id = $2)`, item, folder).
		Scan(&owner, &folderOwner); err != nil {
		t.Fatal(err)
	}
	if owner != heir.ID || folderOwner != heir.ID {
		t.Errorf("item owner %s, folder owner %s; want the heir %s", owner, folderOwner, heir.ID)
	}
	var grants, members, tokens, viewerGrants int
	if err := h.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM grants WHERE subject_id = $1),
		(SELECT count(*) FROM group_members WHERE user_id = $1),
		(SELECT count(*) FROM api_tokens WHERE user_id = $1),
		(SELECT count(*) FROM grants WHERE subject_id = $2)`, editor.ID, viewer.ID).Scan(&grants, &members, &tokens, &viewerGrants); err != nil {
		t.Fatal(err)
	}
	if grants != 0 || members != 0 || tokens != 0 {
		t.Errorf("after Delete: %d grants, %d memberships, %d tokens of the user remain", grants, members, tokens)
	}
	if viewerGrants != 1 {
		t.Errorf("another user's grant went too (%d left)", viewerGrants)
	}
	if n := h.countSessions(t); n != sessions-2 {
		t.Errorf("%d sessions after Delete, want %d (the user's two gone)", n, sessions-2)
	}
	wantErr(t, "session after Delete", h.me(t, c1, nil), "unauthenticated")
	wantErr(t, "bearer after Delete", h.me(t, http.DefaultClient, bearer(tok)), "unauthenticated")
	wantUser(t, "another user's session", h.me(t, cv, nil), viewer)
	if res, _ := h.login(t, newClient(t), "ed@example.com", "password-ed", nil); res.Err == "" || res.UserID != "" {
		t.Errorf("the deleted user signed in: %+v", res)
	}
	if _, err := us.ByEmail(ctx, "ed@example.com"); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("ByEmail after Delete = %v", err)
	}

	// The last admin can't go: the only heir would be themselves.
	if err := us.Delete(ctx, heir.Principal(), "admin@example.com", "heir@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := us.Delete(ctx, heir.Principal(), "heir@example.com", "heir@example.com"); !isOnly(err, errs.ErrConflict) {
		t.Errorf("deleting the last admin = %v, want ErrConflict", err)
	}
}

// TestResetPassword: an admin sets another user's password, which ends that
// user's sessions; the old password stops working and the new one works.
func TestResetPassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(false))
	ctx := ctxT(t)
	us := h.auth.Users
	admin := mustCreate(t, us, "admin@example.com", acl.RoleAdmin, "password-admin")
	ed := mustCreate(t, us, "ed@example.com", acl.RoleEditor, "password-ed")
	c := newClient(t)
	h.login(t, c, "ed@example.com", "password-ed", nil)
	wantUser(t, "before", h.me(t, c, nil), ed)

	for _, tc := range []struct {
		name     string
		actor    acl.Principal
		email    string
		password string
		want     error
	}{
		{"not an admin", ed.Principal(), "admin@example.com", "new-password", errs.ErrForbidden},
		{"too short", admin.Principal(), "ed@example.com", "short", errs.ErrInvalid},
		{"unknown user", admin.Principal(), "nobody@example.com", "new-password", errs.ErrNotFound},
	} {
		if err := us.ResetPassword(ctx, tc.actor, tc.email, tc.password); !isOnly(err, tc.want) {
			t.Errorf("%s: ResetPassword = %v, want %v", tc.name, err, tc.want)
		}
	}
	wantUser(t, "after refusals", h.me(t, c, nil), ed)
	if err := us.ResetPassword(ctx, admin.Principal(), "ed@example.com", "new-password"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "session after ResetPassword", h.me(t, c, nil), "unauthenticated")
	if _, err := us.CheckPassword(ctx, "ed@example.com", "password-ed"); err == nil {
		t.Error("the old password still works")
	}
	if _, err := us.CheckPassword(ctx, "ed@example.com", "new-password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}
