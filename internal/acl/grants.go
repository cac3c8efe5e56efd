package acl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/errs"
)

// Grant is one subject's permission on one item.
type Grant struct {
	Subject    string `json:"subject"` // the user's email for now; groups and everyone come later
	Permission string `json:"permission"`
}

// SetGrant gives the user with email level on item. p must manage the item.
func (d *Decider) SetGrant(ctx context.Context, p Principal, item, email string, level Level) error {
	if err := d.Require(ctx, p, item, Manage); err != nil {
		return err
	}
	if level < View || level > Manage {
		return fmt.Errorf("%w: permission must be view, edit or manage", errs.ErrInvalid)
	}
	tag, err := d.pool.Exec(ctx, `
		INSERT INTO grants (media_id, subject_type, subject_id, permission)
		SELECT $1, 'user', u.id, $3 FROM users u WHERE u.email = $2
		ON CONFLICT (media_id, subject_type, subject_id) DO UPDATE SET permission = EXCLUDED.permission`,
		item, normalizeEmail(email), level)
	if err != nil {
		return fmt.Errorf("set grant: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no user with email %q", errs.ErrNotFound, email)
	}
	return nil
}

// RemoveGrant takes away the grant of the user with email on item.
func (d *Decider) RemoveGrant(ctx context.Context, p Principal, item, email string) error {
	if err := d.Require(ctx, p, item, Manage); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `
		DELETE FROM grants g USING users u
		WHERE g.media_id = $1 AND g.subject_type = 'user' AND g.subject_id = u.id AND u.email = $2`,
		item, normalizeEmail(email))
	if err != nil {
		return fmt.Errorf("remove grant: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q has no grant on this item", errs.ErrNotFound, email)
	}
	return nil
}

// Grants lists the grants on item, strongest first. p must manage the item.
func (d *Decider) Grants(ctx context.Context, p Principal, item string) ([]Grant, error) {
	if err := d.Require(ctx, p, item, Manage); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `
		SELECT u.email, g.permission FROM grants g JOIN users u ON u.id = g.subject_id
		WHERE g.media_id = $1 AND g.subject_type = 'user'
		ORDER BY g.permission DESC, u.email`, item)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Grant, error) {
		var g Grant
		var l Level
		err := row.Scan(&g.Subject, &l)
		g.Permission = l.String()
		return g, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	if out == nil {
		out = []Grant{}
	}
	return out, nil
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
