package acl

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/errs"
)

// Group is a named set of users that grants can name.
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"` // emails; shown to admins only
	Size    int      `json:"size"`
}

var groupNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidGroupName reports whether a group may be named name: 1-64 letters,
// digits, '.', '_' or '-', starting with a letter or digit, and not
// "everyone".
func ValidGroupName(name string) bool { return groupNameRE.MatchString(name) && name != "everyone" }

// NormalizeEmail checks an address and returns its canonical (lower-case)
// form, the only form a user's email has. Bytes that are not UTF-8 are
// refused, not replaced.
func NormalizeEmail(s string) (string, error) {
	valid := utf8.ValidString(s)
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if !valid || err != nil || a.Address != s {
		return "", fmt.Errorf("%w: %q is not an email address", errs.ErrInvalid, s)
	}
	return s, nil
}

// requireAdmin checks p is an admin: groups decide access to everything
// granted to them, so only admins shape them.
func requireAdmin(p Principal) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	if p.Role != RoleAdmin {
		return fmt.Errorf("%w: only admins manage groups", errs.ErrForbidden)
	}
	return nil
}

// adminChange is change for a write only admins make: in the same
// transaction, first, the admins' rows (LockAdmins), refusing a p who is no
// longer one. A nil p (the CLI) takes no lock.
func (d *Decider) adminChange(ctx context.Context, p *Principal, fn func(pgx.Tx) error) error {
	return d.change(ctx, func(tx pgx.Tx) error {
		if p != nil {
			if _, err := LockAdmins(ctx, tx, *p); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// CreateGroup makes a group. p must be an admin (nil p: the CLI).
func (d *Decider) CreateGroup(ctx context.Context, p *Principal, name string) (Group, error) {
	if p != nil {
		if err := requireAdmin(*p); err != nil {
			return Group{}, err
		}
	}
	name = strings.TrimSpace(name)
	if !ValidGroupName(name) {
		return Group{}, fmt.Errorf("%w: a group name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (and not \"everyone\")", errs.ErrInvalid)
	}
	g := Group{Name: name, Members: []string{}}
	err := d.adminChange(ctx, p, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO groups (name) VALUES ($1) RETURNING id`, name).Scan(&g.ID)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("%w: a group named %q exists", errs.ErrConflict, name)
		}
		return err
	})
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	return g, nil
}

// SetMember adds (in true) or removes the user with email to or from the
// group. p must be an admin (nil p: the CLI).
func (d *Decider) SetMember(ctx context.Context, p *Principal, group, email string, in bool) error {
	if p != nil {
		if err := requireAdmin(*p); err != nil {
			return err
		}
	}
	// Neither goes to PostgreSQL unless it could name a group or a user: it
	// refuses some text outright (NUL, bytes that are not UTF-8).
	if !ValidGroupName(group) {
		return fmt.Errorf("%w: no group named %q", errs.ErrNotFound, group)
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	return d.adminChange(ctx, p, func(tx pgx.Tx) error {
		var gid, uid string
		if err := tx.QueryRow(ctx, `SELECT id FROM groups WHERE name = $1`, group).Scan(&gid); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no group named %q", errs.ErrNotFound, group)
		} else if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, email).Scan(&uid); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no user with email %q", errs.ErrNotFound, email)
		} else if err != nil {
			return err
		}
		if in {
			_, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, gid, uid)
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND user_id = $2`, gid, uid)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s is not in group %s", errs.ErrNotFound, email, group)
		}
		return err
	})
}

// Groups lists every group with its size; admins also see the members.
func (d *Decider) Groups(ctx context.Context, p Principal) ([]Group, error) {
	if !p.Valid() {
		return nil, errs.ErrUnauthenticated
	}
	rows, err := d.pool.Query(ctx, `
		SELECT g.id, g.name, COALESCE(array_agg(u.email ORDER BY u.email) FILTER (WHERE u.id IS NOT NULL), '{}')
		FROM groups g LEFT JOIN group_members gm ON gm.group_id = g.id LEFT JOIN users u ON u.id = gm.user_id
		GROUP BY g.id ORDER BY g.name`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Group, error) {
		var g Group
		err := row.Scan(&g.ID, &g.Name, &g.Members)
		g.Size = len(g.Members)
		if p.Role != RoleAdmin {
			g.Members = nil
		}
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	if out == nil {
		out = []Group{}
	}
	return out, nil
}

// RenameGroup renames a group; its grants and members stay, since they name
// its id. p must be an admin.
func (d *Decider) RenameGroup(ctx context.Context, p Principal, name, newName string) (Group, error) {
	if err := requireAdmin(p); err != nil {
		return Group{}, err
	}
	if !ValidGroupName(name) {
		return Group{}, fmt.Errorf("%w: no group named %q", errs.ErrNotFound, name)
	}
	newName = strings.TrimSpace(newName)
	if !ValidGroupName(newName) {
		return Group{}, fmt.Errorf("%w: a group name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (and not \"everyone\")", errs.ErrInvalid)
	}
	var g Group
	err := d.adminChange(ctx, &p, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE groups SET name = $2 WHERE name = $1 RETURNING id, name,
			COALESCE((SELECT array_agg(u.email ORDER BY u.email) FROM group_members gm JOIN users u ON u.id = gm.user_id
				WHERE gm.group_id = groups.id), '{}')`, name, newName).Scan(&g.ID, &g.Name, &g.Members)
		var pgErr *pgconn.PgError
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: no group named %q", errs.ErrNotFound, name)
		case errors.As(err, &pgErr) && pgErr.Code == "23505":
			return fmt.Errorf("%w: a group named %q exists", errs.ErrConflict, newName)
		}
		return err
	})
	if err != nil {
		return Group{}, fmt.Errorf("rename group: %w", err)
	}
	g.Size = len(g.Members)
	return g, nil
}

// DeleteGroup removes a group, its memberships and every grant to it. p must
// be an admin.
func (d *Decider) DeleteGroup(ctx context.Context, p Principal, name string) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if !ValidGroupName(name) {
		return fmt.Errorf("%w: no group named %q", errs.ErrNotFound, name)
	}
	err := d.adminChange(ctx, &p, func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `DELETE FROM groups WHERE name = $1 RETURNING id`, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no group named %q", errs.ErrNotFound, name)
		}
		if err != nil {
			return err
		}
		// Grants name their subject by id without a foreign key.
		_, err = tx.Exec(ctx, `DELETE FROM grants WHERE subject_type = 'group' AND subject_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	return nil
}
