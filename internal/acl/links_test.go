package acl_test

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/passwd"
	"github.com/mediagate/mediagate/internal/testdb"
)

// linkParams are cheap argon2id parameters: the tests check behaviour, not cost.
var linkParams = passwd.New(&argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 4, passwd.DefaultWait)

func ptr[T any](v T) *T { return &v }

// cachedLinks returns Links over a decider whose cache listens to the test
// database, so that every test also runs through the link cache.
func cachedLinks(t *testing.T, f *fixture) (*acl.Links, *invalidate.Hub) {
	t.Helper()
	hub := startHub(t, f.url)
	return acl.NewLinks(acl.NewDecider(f.pool).Cached(hub), linkParams), hub
}

func createLink(t *testing.T, ls *acl.Links, p acl.Principal, on acl.LinkTarget, opt acl.LinkOptions) (acl.Link, string) {
	t.Helper()
	l, token, err := ls.Create(ctxT(t), p, on, opt)
	if err != nil {
		t.Fatalf("Create(%+v): %v", on, err)
	}
	return l, token
}

func TestLinkTokenIsStoredOnlyAsItsHash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls, _ := cachedLinks(t, f)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)

	l, token := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{Password: ptr("correct horse")})
	if !strings.HasPrefix(token, acl.LinkTokenPrefix) || len(token) != len(acl.LinkTokenPrefix)+43 {
		t.Fatalf("token %q: want %s and 43 base64url characters", token, acl.LinkTokenPrefix)
	}
	secret := strings.TrimPrefix(token, acl.LinkTokenPrefix)
	var hash []byte
	var row, pwHash string
	if err := f.pool.QueryRow(ctxT(t), `SELECT token_hash, to_jsonb(l)::text, password_hash FROM links l WHERE id = $1`, l.ID).
		Scan(&hash, &row, &pwHash); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); string(hash) != string(sum[:]) {
		t.Errorf("token_hash = %x, want SHA-256 of the token %x", hash, sum)
	}
	if strings.Contains(row, secret) || strings.Contains(row, "correct horse") {
		t.Errorf("the row holds the token or the password in clear: %s", row)
	}
	if !strings.HasPrefix(pwHash, "$argon2id$") {
		t.Errorf("password_hash = %q, want an argon2id hash", pwHash)
	}
	// Neither the listing nor its JSON carries the token.
	list, err := ls.List(ctxT(t), owner, acl.LinkTarget{ID: item})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(list)
	if strings.Contains(string(b), secret) || strings.Contains(string(b), "argon2") {
		t.Errorf("the listing leaks a secret: %s", b)
	}
	// Two links never share a token.
	if _, other := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{}); other == token {
		t.Error("two links got the same token")
	}
}

func TestLinkResolve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls, _ := cachedLinks(t, f)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	other := f.item(t, owner.UserID)
	l, token := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{})
	if l.MediaID == nil || *l.MediaID != item || l.FolderID != nil || l.ExpiresAt != nil || l.HasPassword || l.Revoked ||
		l.CreatedBy == nil || *l.CreatedBy != owner.Email || l.CreatedAt.IsZero() {
		t.Fatalf("created link = %+v", l)
	}

	for i := range 2 { // the second time from the cache
		sh, err := ls.Open(ctx, token, nil)
		if err != nil || sh.Item == nil || sh.Item.ID != item || sh.Link.ID != l.ID || sh.Item.ContentType != "video/mp4" {
			t.Fatalf("Open #%d = %+v, %v", i, sh, err)
		}
		gl, it, err := ls.Item(ctx, token, "", nil)
		if err != nil || it.ID != item || gl.ID != l.ID || it.SHA256 == "" || it.Size != 1 {
			t.Fatalf("Item #%d = %+v, %+v, %v", i, gl, it, err)
		}
	}
	if _, it, err := ls.Item(ctx, token, item, nil); err != nil || it.ID != item {
		t.Errorf("Item naming the link's own item = %+v, %v", it, err)
	}
	// An item link reaches its item only.
	gl, _, err := ls.Item(ctx, token, other, nil)
	if !isOnly(err, errs.ErrNotFound) || gl.ID != l.ID {
		t.Errorf("another item through an item link = %v (link %q), want ErrNotFound with the link", err, gl.ID)
	}
	if gl, _, err := ls.Item(ctx, token, "not-a-uuid", nil); !isOnly(err, errs.ErrNotFound) || gl.ID != l.ID {
		t.Errorf("malformed item = %v (link %q), want ErrNotFound with the link", err, gl.ID)
	}
	for _, bad := range []string{
		"", "mgs_", token[:len(token)-1], token + "A", "mg_" + token[4:],
		acl.LinkTokenPrefix + strings.Repeat("A", 43), // well formed, unknown
	} {
		if sh, err := ls.Open(ctx, bad, nil); !isOnly(err, errs.ErrNotFound) || sh.Link.ID != "" {
			t.Errorf("Open(%q) = %+v, %v; want ErrNotFound", bad, sh, err)
		}
		if gl, _, err := ls.Item(ctx, bad, item, nil); !isOnly(err, errs.ErrNotFound) || gl.ID != "" {
			t.Errorf("Item(%q) = %v; want ErrNotFound without a link", bad, err)
		}
	}

	// Deleting the item takes its links with it.
	if _, err := f.pool.Exec(ctx, `DELETE FROM media WHERE id = $1`, item); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := ls.Open(ctx, token, nil)
		if isOnly(err, errs.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Open after the item was deleted = %v, want ErrNotFound", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLinkOptionsValidated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls := acl.NewLinks(f.d, linkParams)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	maxSecs := int64(acl.MaxLinkLifetime / time.Second)
	for _, tc := range []struct {
		name string
		opt  acl.LinkOptions
		ok   bool
	}{
		{"none", acl.LinkOptions{}, true},
		{"one second", acl.LinkOptions{ExpiresIn: ptr(int64(1))}, true},
		{"longest", acl.LinkOptions{ExpiresIn: ptr(maxSecs)}, true},
		{"zero", acl.LinkOptions{ExpiresIn: ptr(int64(0))}, false},
		{"negative", acl.LinkOptions{ExpiresIn: ptr(int64(-5))}, false},
		{"too long", acl.LinkOptions{ExpiresIn: ptr(maxSecs + 1)}, false},
		{"overflowing", acl.LinkOptions{ExpiresIn: ptr(int64(1) << 62)}, false},
		{"password", acl.LinkOptions{Password: ptr("12345678")}, true},
		{"empty password", acl.LinkOptions{Password: ptr("")}, false},
		{"short password", acl.LinkOptions{Password: ptr("1234567")}, false},
		{"huge password", acl.LinkOptions{Password: ptr(strings.Repeat("x", acl.MaxLinkPassword+1))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			l, token, err := ls.Create(ctxT(t), owner, acl.LinkTarget{ID: item}, tc.opt)
			if !tc.ok {
				if !isOnly(err, errs.ErrInvalid) || token != "" {
					t.Fatalf("Create = %q, %v; want ErrInvalid", token, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.HasPassword != (tc.opt.Password != nil) {
				t.Errorf("has_password = %v", l.HasPassword)
			}
			switch {
			case tc.opt.ExpiresIn == nil && l.ExpiresAt != nil:
				t.Errorf("expires_at = %v, want none", l.ExpiresAt)
			case tc.opt.ExpiresIn != nil:
				want := before.Add(time.Duration(*tc.opt.ExpiresIn) * time.Second)
				if l.ExpiresAt == nil || l.ExpiresAt.Sub(want).Abs() > 5*time.Second {
					t.Errorf("expires_at = %v, want about %v", l.ExpiresAt, want)
				}
			}
		})
	}
	var n int
	f.pool.QueryRow(ctxT(t), `SELECT count(*) FROM links`).Scan(&n)
	if n != 4 {
		t.Errorf("%d links stored, want the 4 valid ones", n)
	}
}

func TestLinkOperationsNeedManage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls, _ := cachedLinks(t, f)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	manager := f.user(t, "manager@example.com", acl.RoleViewer)
	editor := f.user(t, "editor@example.com", acl.RoleViewer)
	viewer := f.user(t, "viewer@example.com", acl.RoleViewer)
	stranger := f.user(t, "stranger@example.com", acl.RoleEditor)
	folder := f.folder(t, "shared", "", owner.UserID)
	item := f.itemIn(t, owner.UserID, folder)
	for p, l := range map[acl.Principal]acl.Level{manager: acl.Manage, editor: acl.Edit, viewer: acl.View} {
		if _, err := f.pool.Exec(ctxT(t), `INSERT INTO grants (folder_id, subject_type, subject_id, permission)
			VALUES ($1, 'user', $2, $3)`, folder, p.UserID, int16(l)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		p    acl.Principal
		want error // nil: allowed
	}{
		{"owner", owner, nil},
		{"admin", admin, nil},
		{"manager by folder grant", manager, nil},
		{"editor", editor, errs.ErrForbidden},
		{"viewer", viewer, errs.ErrForbidden},
		{"stranger", stranger, errs.ErrNotFound},
		{"anonymous", acl.Principal{}, errs.ErrUnauthenticated},
	}
	for _, on := range []acl.LinkTarget{{ID: item}, {Folder: true, ID: folder}} {
		kind := map[bool]string{false: "item", true: "folder"}[on.Folder]
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				ctx := ctxT(t)
				_, token, err := ls.Create(ctx, tc.p, on, acl.LinkOptions{})
				_, lerr := ls.List(ctx, tc.p, on)
				// Revoke a link the owner made.
				l, _ := createLink(t, ls, owner, on, acl.LinkOptions{})
				rerr := ls.Revoke(ctx, tc.p, l.ID)
				for op, got := range map[string]error{"Create": err, "List": lerr, "Revoke": rerr} {
					if tc.want == nil && got != nil || tc.want != nil && !isOnly(got, tc.want) {
						t.Errorf("%s on %+v = %v, want %v", op, on, got, tc.want)
					}
				}
				if (tc.want == nil) != (token != "") {
					t.Errorf("Create gave token %q with error %v", token, err)
				}
				var revoked bool
				if err := f.pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM links WHERE id = $1`, l.ID).Scan(&revoked); err != nil {
					t.Fatal(err)
				}
				if revoked != (tc.want == nil) {
					t.Errorf("after Revoke by %s: revoked = %v", tc.name, revoked)
				}
			})
		}
	}
	for _, id := range []string{"", "nope", missingItem} {
		if err := ls.Revoke(ctxT(t), owner, id); !isOnly(err, errs.ErrNotFound) {
			t.Errorf("Revoke(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, _, err := ls.Create(ctxT(t), owner, acl.LinkTarget{ID: missingItem}, acl.LinkOptions{}); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("Create on a missing item = %v", err)
	}
	if _, _, err := ls.Create(ctxT(t), owner, acl.LinkTarget{Folder: true, ID: missingItem}, acl.LinkOptions{}); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("Create on a missing folder = %v", err)
	}
}

func TestLinkExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls, _ := cachedLinks(t, f)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	short, shortToken := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{ExpiresIn: ptr(int64(1))})
	_, longToken := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{ExpiresIn: ptr(int64(3600))})
	// Cached while valid...
	for _, token := range []string{shortToken, longToken} {
		if _, _, err := ls.Item(ctx, token, "", nil); err != nil {
			t.Fatalf("Item before expiry: %v", err)
		}
	}
	time.Sleep(time.Until(*short.ExpiresAt) + 50*time.Millisecond)
	// ...and still refused the moment it expires: nothing changed in the
	// database, so only the check on every use can see it.
	if sh, err := ls.Open(ctx, shortToken, nil); !isOnly(err, errs.ErrGone) || sh.Link.ID != short.ID {
		t.Errorf("Open after expiry = %+v, %v; want ErrGone with the link", sh.Link, err)
	}
	if l, _, err := ls.Item(ctx, shortToken, "", nil); !isOnly(err, errs.ErrGone) || l.ID != short.ID {
		t.Errorf("Item after expiry = %v; want ErrGone with the link", err)
	}
	if _, _, err := ls.Item(ctx, longToken, "", nil); err != nil {
		t.Errorf("the hour-long link: %v", err)
	}
}

func TestLinkRevokeTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	// This instance: a hub that hears nothing from the test database, so
	// only the revoke's own flush can reach its cache.
	deaf := acl.NewLinks(acl.NewDecider(f.pool).Cached(startHub(t, testdb.ServerURL())), linkParams)
	// Another instance, listening.
	other, _ := cachedLinks(t, f)

	l, token := createLink(t, deaf, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{})
	for _, ls := range []*acl.Links{deaf, other} {
		if _, _, err := ls.Item(ctx, token, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Prove the deaf cache is in use: a change nobody announces is not seen.
	silently(t, f, `UPDATE links SET revoked_at = now() WHERE id = $1`, l.ID)
	if _, _, err := deaf.Item(ctx, token, "", nil); err != nil {
		t.Fatalf("the cached link saw an unannounced change (%v): the cache is not in use, the rest proves nothing", err)
	}
	silently(t, f, `UPDATE links SET revoked_at = NULL WHERE id = $1`, l.ID)

	if err := deaf.Revoke(ctx, owner, l.ID); err != nil {
		t.Fatal(err)
	}
	if gl, _, err := deaf.Item(ctx, token, "", nil); !isOnly(err, errs.ErrGone) || gl.ID != l.ID {
		t.Errorf("right after its own revoke: %v, want ErrGone", err)
	}
	if err := deaf.Revoke(ctx, owner, l.ID); err != nil {
		t.Errorf("revoking again: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := other.Item(ctx, token, "", nil)
		if isOnly(err, errs.ErrGone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another instance's revoke never reached the cache: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	list, err := deaf.List(ctx, owner, acl.LinkTarget{ID: item})
	if err != nil || len(list) != 1 || !list[0].Revoked {
		t.Errorf("List after revoke = %+v, %v", list, err)
	}
}

func TestLinkPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls, _ := cachedLinks(t, f)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	item := f.item(t, owner.UserID)
	l, token := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{Password: ptr("open sesame")})
	open, plainToken := createLink(t, ls, owner, acl.LinkTarget{ID: item}, acl.LinkOptions{})
	if !l.HasPassword || open.HasPassword {
		t.Fatalf("has_password: %v and %v", l.HasPassword, open.HasPassword)
	}
	only := func(id string) func(string) bool { return func(s string) bool { return s == id } }
	for _, tc := range []struct {
		name     string
		unlocked func(string) bool
		locked   bool
	}{
		{"nothing unlocked", nil, true},
		{"another link unlocked", only(open.ID), true},
		{"unlocked", only(l.ID), false},
	} {
		sh, err := ls.Open(ctx, token, tc.unlocked)
		if tc.locked != (err == acl.ErrLinkLocked) || !tc.locked && err != nil {
			t.Errorf("%s: Open = %v", tc.name, err)
		}
		if sh.Link.ID != l.ID {
			t.Errorf("%s: Open gave link %q, want it even when locked", tc.name, sh.Link.ID)
		}
		_, it, err := ls.Item(ctx, token, "", tc.unlocked)
		if tc.locked && (!isOnly(err, errs.ErrForbidden) || it.ID != "") || !tc.locked && (err != nil || it.ID != item) {
			t.Errorf("%s: Item = %+v, %v", tc.name, it, err)
		}
	}
	if _, _, err := ls.Item(ctx, plainToken, "", nil); err != nil {
		t.Errorf("a link without a password: %v", err)
	}

	sh, _ := ls.Open(ctx, token, nil)
	for pw, want := range map[string]bool{"open sesame": true, "open sesame ": false, "Open sesame": false, "": false} {
		if ok, err := ls.CheckPassword(ctxT(t), sh.Link, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	psh, _ := ls.Open(ctx, plainToken, nil)
	if ok, err := ls.CheckPassword(ctxT(t), psh.Link, ""); ok || err != nil {
		t.Errorf("a link without a password matched %v, %v", ok, err)
	}
}

func TestFolderLinkReachesItsSubtree(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ls, hub := cachedLinks(t, f)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	top := f.folder(t, "Top", "", owner.UserID)
	mid := f.folder(t, "Mid", top, owner.UserID)
	deep := f.folder(t, "Deep", mid, owner.UserID)
	sibling := f.folder(t, "Sibling", "", owner.UserID)
	inTop := f.itemIn(t, owner.UserID, top)
	inDeep := f.itemIn(t, owner.UserID, deep)
	inSibling := f.itemIn(t, owner.UserID, sibling)
	atRoot := f.item(t, owner.UserID)

	l, token := createLink(t, ls, owner, acl.LinkTarget{Folder: true, ID: top}, acl.LinkOptions{})
	if l.FolderID == nil || *l.FolderID != top || l.MediaID != nil {
		t.Fatalf("folder link = %+v", l)
	}
	reach := func(item string) bool {
		t.Helper()
		gl, it, err := ls.Item(ctx, token, item, nil)
		switch {
		case err == nil && it.ID == item:
			return true
		case isOnly(err, errs.ErrNotFound) && gl.ID == l.ID:
			return false
		}
		t.Fatalf("Item(%s) = %+v, %+v, %v", item, gl, it, err)
		return false
	}
	for item, want := range map[string]bool{inTop: true, inDeep: true, inSibling: false, atRoot: false, missingItem: false} {
		if got := reach(item); got != want {
			t.Errorf("reach %s = %v, want %v", item, got, want)
		}
	}
	// The folder itself is no item; a folder link has no item of its own.
	if _, _, err := ls.Item(ctx, token, "", nil); !isOnly(err, errs.ErrNotFound) {
		t.Errorf("Item without an id on a folder link = %v", err)
	}
	sh, err := ls.Open(ctx, token, nil)
	if err != nil || sh.Folder != "Top" || sh.Item != nil {
		t.Fatalf("Open = %+v, %v", sh, err)
	}
	items, more, err := ls.Items(ctx, sh.Link, 10)
	if err != nil || more || len(items) != 2 || items[0].ID != inTop || items[0].Path != "" ||
		items[1].ID != inDeep || items[1].Path != "Mid/Deep" {
		t.Errorf("Items = %+v, %v, %v", items, more, err)
	}
	if items, more, err := ls.Items(ctx, sh.Link, 1); err != nil || !more || len(items) != 1 || items[0].ID != inTop {
		t.Errorf("Items limited to 1 = %+v, %v, %v", items, more, err)
	}

	// The tree is read as it is at each request. move changes it as the
	// app does: a commit, then this instance's flush.
	move := func(sql string, args ...any) {
		t.Helper()
		if _, err := f.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
		hub.Changed(invalidate.ACL)
	}
	move(`UPDATE media SET folder_id = NULL WHERE id = $1`, inDeep)
	if reach(inDeep) {
		t.Error("an item moved out of the folder is still reachable")
	}
	move(`UPDATE media SET folder_id = $2 WHERE id = $1`, inSibling, deep)
	if !reach(inSibling) {
		t.Error("an item moved into a subfolder is not reachable")
	}
	move(`UPDATE folders SET parent_id = NULL WHERE id = $1`, mid)
	if reach(inSibling) {
		t.Error("an item whose folder moved out of the shared tree is still reachable")
	}
	if !reach(inTop) {
		t.Error("the item directly in the folder is no longer reachable")
	}
}
