package acl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
)

// Subject is who a grant is for: a user, a group, or everyone signed in.
type Subject struct {
	Type string // "user", "group" or "everyone"
	Name string // the user's email or the group's name; empty for everyone
}

// String returns the subject's API form: user:<email>, group:<name> or everyone.
func (s Subject) String() string {
	if s.Type == "everyone" {
		return "everyone"
	}
	return s.Type + ":" + s.Name
}

// ParseSubject reads user:<email>, group:<name>, everyone, or a bare email
// (a user). A name no user or group could have is ErrInvalid, never a
// question to PostgreSQL, which refuses some text outright (NUL, invalid
// UTF-8).
func ParseSubject(s string) (Subject, error) {
	s = strings.TrimSpace(s)
	if s == "everyone" {
		return Subject{Type: "everyone"}, nil
	}
	if name, ok := strings.CutPrefix(s, "group:"); ok {
		if !ValidGroupName(name) {
			return Subject{}, fmt.Errorf("%w: %q is not a group name", errs.ErrInvalid, name)
		}
		return Subject{Type: "group", Name: name}, nil
	}
	email, ok := strings.CutPrefix(s, "user:")
	if !ok && !strings.Contains(s, "@") {
		return Subject{}, fmt.Errorf("%w: subject must be user:<email>, group:<name> or everyone, not %q", errs.ErrInvalid, s)
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return Subject{}, err
	}
	return Subject{Type: "user", Name: email}, nil
}

// resolve returns the subject's id (nil for everyone) or ErrNotFound.
func (s Subject) resolve(ctx context.Context, q pgx.Tx) (*string, error) {
	var id string
	var err error
	switch s.Type {
	case "everyone":
		return nil, nil
	case "user":
		err = q.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, s.Name).Scan(&id)
	case "group":
		err = q.QueryRow(ctx, `SELECT id FROM groups WHERE name = $1`, s.Name).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: no %s named %q", errs.ErrNotFound, s.Type, s.Name)
	}
	return &id, err
}

// Grant is one subject's permission on an item or a folder. From names the
// folder it is inherited from, when it is.
type Grant struct {
	Subject    string  `json:"subject"`
	Permission string  `json:"permission"`
	From       *Origin `json:"inherited_from,omitempty"`
}

// Origin is the folder an inherited grant is set on.
type Origin struct {
	FolderID string `json:"folder_id"`
	Name     string `json:"name"`
}

// target is what a grant is set on: an item or a folder.
type target struct {
	column string // "media_id" or "folder_id"
	id     string
}

func (t target) noun() string {
	if t.column == "folder_id" {
		return "folder"
	}
	return "media item"
}

// requireManage checks p may manage t.
func (d *Decider) requireManage(ctx context.Context, p Principal, t target) error {
	if t.column == "folder_id" {
		return d.RequireFolder(ctx, p, t.id, Manage)
	}
	return d.Require(ctx, p, t.id, Manage)
}

// SetGrant gives subject level on the item. p must manage the item.
func (d *Decider) SetGrant(ctx context.Context, p Principal, item, subject string, level Level) error {
	return d.setGrant(ctx, p, target{"media_id", item}, subject, level)
}

// SetFolderGrant gives subject level on the folder and everything below it.
func (d *Decider) SetFolderGrant(ctx context.Context, p Principal, folder, subject string, level Level) error {
	return d.setGrant(ctx, p, target{"folder_id", folder}, subject, level)
}

func (d *Decider) setGrant(ctx context.Context, p Principal, t target, subject string, level Level) error {
	s, err := ParseSubject(subject)
	if err != nil {
		return err
	}
	if level < View || level > Manage {
		return fmt.Errorf("%w: permission must be view, edit or manage", errs.ErrInvalid)
	}
	if err := d.requireManage(ctx, p, t); err != nil {
		return err
	}
	err = d.change(ctx, func(tx pgx.Tx) error {
		id, err := s.resolve(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO grants (`+t.column+`, subject_type, subject_id, permission) VALUES ($1, $2, $3, $4)
			ON CONFLICT (`+t.column+`, subject_type, COALESCE(subject_id, '00000000-0000-0000-0000-000000000000'::uuid))
			WHERE `+t.column+` IS NOT NULL
			DO UPDATE SET permission = EXCLUDED.permission`, t.id, s.Type, id, level)
		return err
	})
	if err != nil {
		return fmt.Errorf("set grant: %w", err)
	}
	return nil
}

// RemoveGrant takes away subject's own grant on the item (inherited ones stay).
func (d *Decider) RemoveGrant(ctx context.Context, p Principal, item, subject string) error {
	return d.removeGrant(ctx, p, target{"media_id", item}, subject)
}

// RemoveFolderGrant takes away subject's grant on the folder.
func (d *Decider) RemoveFolderGrant(ctx context.Context, p Principal, folder, subject string) error {
	return d.removeGrant(ctx, p, target{"folder_id", folder}, subject)
}

func (d *Decider) removeGrant(ctx context.Context, p Principal, t target, subject string) error {
	s, err := ParseSubject(subject)
	if err != nil {
		return err
	}
	if err := d.requireManage(ctx, p, t); err != nil {
		return err
	}
	err = d.change(ctx, func(tx pgx.Tx) error {
		id, err := s.resolve(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM grants WHERE `+t.column+` = $1 AND subject_type = $2
			AND subject_id IS NOT DISTINCT FROM $3`, t.id, s.Type, id)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s has no grant on this %s", errs.ErrNotFound, s, t.noun())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove grant: %w", err)
	}
	return nil
}

// Grants lists the grants on the item and those it inherits from the folders
// above it, strongest first. p must manage the item.
func (d *Decider) Grants(ctx context.Context, p Principal, item string) ([]Grant, error) {
	if err := d.Require(ctx, p, item, Manage); err != nil {
		return nil, err
	}
	return d.grants(ctx, `SELECT folder_id FROM media WHERE id = $1`, `g.media_id = $1`, item)
}

// FolderGrants lists the grants on the folder and above it. p must manage it.
func (d *Decider) FolderGrants(ctx context.Context, p Principal, folder string) ([]Grant, error) {
	if err := d.RequireFolder(ctx, p, folder, Manage); err != nil {
		return nil, err
	}
	return d.grants(ctx, `SELECT parent_id FROM folders WHERE id = $1`, `g.folder_id = $1`, folder)
}

// grants lists the grants matching own plus those on every folder of the
// chain starting at the folder start selects.
func (d *Decider) grants(ctx context.Context, start, own, id string) ([]Grant, error) {
	rows, err := d.pool.Query(ctx, `
		WITH RECURSIVE chain (id, name, parent_id) AS (
			SELECT f.id, f.name, f.parent_id FROM folders f WHERE f.id = (`+start+`)
			UNION ALL
			SELECT f.id, f.name, f.parent_id FROM folders f JOIN chain c ON f.id = c.parent_id
		)
		SELECT g.subject_type, COALESCE(u.email, gr.name, ''), g.permission, c.id, c.name
		FROM grants g
		LEFT JOIN chain c ON g.folder_id = c.id
		LEFT JOIN users u ON g.subject_type = 'user' AND u.id = g.subject_id
		LEFT JOIN groups gr ON g.subject_type = 'group' AND gr.id = g.subject_id
		WHERE `+own+` OR c.id IS NOT NULL
		ORDER BY g.permission DESC, c.id IS NOT NULL, 2`, id)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Grant, error) {
		var s Subject
		var l Level
		var fromID, fromName *string
		if err := row.Scan(&s.Type, &s.Name, &l, &fromID, &fromName); err != nil {
			return Grant{}, err
		}
		g := Grant{Subject: s.String(), Permission: l.String()}
		if fromID != nil {
			g.From = &Origin{FolderID: *fromID, Name: *fromName}
		}
		return g, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	if out == nil {
		out = []Grant{}
	}
	return out, nil
}

// change runs fn in a transaction and, once it has committed, drops this
// instance's cached decisions (other instances hear of it through NOTIFY).
func (d *Decider) change(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, d.pool, fn)
	if err == nil {
		d.hub.Changed(invalidate.ACL)
	}
	return err
}
