// Package acl decides who may do what to a media item: roles, permission
// levels, grants, and the decision itself (made in PostgreSQL by mg_level).
package acl

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
)

// Role is a user's global role.
type Role string

// The roles.
const (
	RoleAdmin  Role = "admin"  // may do everything
	RoleEditor Role = "editor" // may upload, and manages what they upload
	RoleViewer Role = "viewer" // sees only what is granted
)

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleEditor, RoleViewer:
		return r, nil
	}
	return "", fmt.Errorf("%w: role must be admin, editor or viewer, not %q", errs.ErrInvalid, s)
}

// CanUpload reports whether the role may create media.
func (r Role) CanUpload() bool { return r == RoleAdmin || r == RoleEditor }

// Level is a permission on an item; a stronger level includes the weaker ones.
type Level int16

// The levels, weakest first.
const (
	None   Level = 0
	View   Level = 1 // see and stream
	Edit   Level = 2 // rename, replace
	Manage Level = 3 // change grants, publish, delete
)

var levelNames = map[Level]string{None: "none", View: "view", Edit: "edit", Manage: "manage"}

// String returns the level's API name.
func (l Level) String() string { return levelNames[l] }

// ParseLevel returns the grantable level named s (view, edit or manage).
func ParseLevel(s string) (Level, error) {
	for l, n := range levelNames {
		if n == s && l != None {
			return l, nil
		}
	}
	return None, fmt.Errorf("%w: permission must be view, edit or manage, not %q", errs.ErrInvalid, s)
}

// Principal is the authenticated caller a decision is about.
type Principal struct {
	UserID string
	Email  string
	Role   Role
}

// Valid reports whether p names a signed-in user.
func (p Principal) Valid() bool { return p.UserID != "" }

// ValidID reports whether s has the form of an item id: PostgreSQL's uuid
// output, 8-4-4-4-12 lower-case hex digits. Checking it before a query turns
// a malformed id into a plain not-found. It is on every request of the
// streaming path, hence a loop rather than a regular expression (a fifth of
// that path's CPU).
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Decider answers access questions from the database, through an
// in-process cache when it has one.
type Decider struct {
	pool   *pgxpool.Pool
	hub    *invalidate.Hub
	levels *invalidate.Cache[decisionKey, Level]
}

// decisionKey is one question: this principal (as of this role), this
// item or folder.
type decisionKey struct {
	user, role, id string
	folder         bool
}

// NewDecider returns a Decider on pool, without a cache.
func NewDecider(pool *pgxpool.Pool) *Decider {
	return &Decider{pool: pool, levels: invalidate.NewCache[decisionKey, Level](nil, "", "decisions", 0)}
}

// Cached returns d with a decision cache kept exact by hub.
func (d *Decider) Cached(hub *invalidate.Hub) *Decider {
	d.hub = hub
	d.levels = invalidate.NewCache[decisionKey, Level](hub, invalidate.ACL, "decisions", 100_000)
	return d
}

// Hub returns the invalidation hub the decider's cache listens to (nil
// without a cache).
func (d *Decider) Hub() *invalidate.Hub { return d.hub }

// Level returns p's level on item, None when the item does not exist. A
// miss is one round trip. Errors fail closed: the level is then None.
func (d *Decider) Level(ctx context.Context, p Principal, item string) (Level, error) {
	return d.level(ctx, p, item, false)
}

// FolderLevel returns p's level on folder, None when it does not exist.
func (d *Decider) FolderLevel(ctx context.Context, p Principal, folder string) (Level, error) {
	return d.level(ctx, p, folder, true)
}

// The decision queries: the rule itself is mg_level / mg_folder_level.
const (
	itemLevelSQL   = `SELECT l FROM media m CROSS JOIN LATERAL mg_level($1, $2, m.id) l WHERE m.id = $3`
	folderLevelSQL = `SELECT l FROM folders f CROSS JOIN LATERAL mg_folder_level($1, $2, f.id) l WHERE f.id = $3`
)

func (d *Decider) level(ctx context.Context, p Principal, id string, folder bool) (Level, error) {
	if !p.Valid() || !ValidID(id) {
		return None, nil
	}
	query := itemLevelSQL
	if folder {
		query = folderLevelSQL
	}
	return d.levels.Get(ctx, decisionKey{p.UserID, string(p.Role), id, folder}, func(ctx context.Context) (Level, error) {
		var l Level
		err := d.pool.QueryRow(ctx, query, p.UserID, string(p.Role), id).Scan(&l)
		if errors.Is(err, pgx.ErrNoRows) {
			return None, nil
		}
		if err != nil {
			return None, fmt.Errorf("%w: decide on %s: %w", errs.ErrUnavailable, id, err)
		}
		return l, nil
	})
}

// RequireFolder is Require for a folder.
func (d *Decider) RequireFolder(ctx context.Context, p Principal, folder string, need Level) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	l, err := d.FolderLevel(ctx, p, folder)
	if err != nil {
		return err
	}
	if l < View {
		return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
	}
	return Check(l, need)
}

// Require returns nil when p has at least need on item. Below view the item
// does not exist for p (ErrNotFound, so ids reveal nothing); with view but
// less than need it is ErrForbidden.
func (d *Decider) Require(ctx context.Context, p Principal, item string, need Level) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	l, err := d.Level(ctx, p, item)
	if err != nil {
		return err
	}
	return Check(l, need)
}

// Check turns a level already decided into Require's answer.
func Check(have, need Level) error {
	switch {
	case have < View:
		return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
	case have < need:
		return fmt.Errorf("%w: this needs %s permission", errs.ErrForbidden, need)
	}
	return nil
}
