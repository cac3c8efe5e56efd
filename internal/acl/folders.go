package acl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
)

// Folder is a node of the folder tree. Parent is nil at the root.
type Folder struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Parent     *string   `json:"parent"`
	Owner      string    `json:"owner,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Permission string    `json:"permission"` // the caller's
}

// cleanFolderName checks a folder name: 1-255 bytes, no slash, no control
// characters.
func cleanFolderName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 255 || strings.ContainsAny(name, `/\`) || name == "." || name == ".." ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: a folder name is 1-255 bytes without slashes or control characters", errs.ErrInvalid)
	}
	return name, nil
}

func folderConflict(err error, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: a folder named %q is already there", errs.ErrConflict, name)
	}
	return err
}

// RequirePlace checks p may put things into parent (edit), or, for the
// root (nil), may create at all.
func (d *Decider) RequirePlace(ctx context.Context, p Principal, parent *string) error {
	if !p.Role.CanUpload() {
		return fmt.Errorf("%w: your role (%s) may not create or move folders and items", errs.ErrForbidden, p.Role)
	}
	if parent == nil {
		return nil
	}
	return d.RequireFolder(ctx, p, *parent, Edit)
}

// CreateFolder makes a folder named name under parent (nil: the root),
// owned by p. p needs edit on parent.
func (d *Decider) CreateFolder(ctx context.Context, p Principal, name string, parent *string) (Folder, error) {
	if !p.Valid() {
		return Folder{}, errs.ErrUnauthenticated
	}
	name, err := cleanFolderName(name)
	if err != nil {
		return Folder{}, err
	}
	if err := d.RequirePlace(ctx, p, parent); err != nil {
		return Folder{}, err
	}
	var id string
	err = d.pool.QueryRow(ctx, `INSERT INTO folders (name, parent_id, owner_id) VALUES ($1, $2, $3) RETURNING id`,
		name, parent, p.UserID).Scan(&id)
	if err != nil {
		return Folder{}, fmt.Errorf("create folder: %w", folderConflict(err, name))
	}
	d.hub.Changed(invalidate.ACL)
	return d.Folder(ctx, p, id)
}

// Folder returns the folder if p may view it.
func (d *Decider) Folder(ctx context.Context, p Principal, id string) (Folder, error) {
	if !p.Valid() {
		return Folder{}, errs.ErrUnauthenticated
	}
	if !ValidID(id) {
		return Folder{}, fmt.Errorf("%w: no such folder", errs.ErrNotFound)
	}
	f, err := scanFolder(d.pool.QueryRow(ctx, `SELECT `+folderColumns+` WHERE f.id = $3`, p.UserID, string(p.Role), id))
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && f.Permission == None.String()) {
		return Folder{}, fmt.Errorf("%w: no such folder", errs.ErrNotFound)
	}
	if err != nil {
		return Folder{}, fmt.Errorf("%w: load folder: %w", errs.ErrUnavailable, err)
	}
	return f, nil
}

const folderColumns = `f.id, f.name, f.parent_id, COALESCE(u.email, ''), f.created_at, lvl
	FROM folders f LEFT JOIN users u ON u.id = f.owner_id CROSS JOIN LATERAL mg_folder_level($1, $2, f.id) lvl`

func scanFolder(row pgx.Row) (Folder, error) {
	var f Folder
	var l Level
	err := row.Scan(&f.ID, &f.Name, &f.Parent, &f.Owner, &f.CreatedAt, &l)
	f.Permission = l.String()
	return f, err
}

// Children lists the folders directly under parent that p may view, by
// name. At the root (nil) it also lists the folders shared with p whose
// parent p cannot see, so that everything p may view is reachable.
func (d *Decider) Children(ctx context.Context, p Principal, parent *string) ([]Folder, error) {
	if !p.Valid() {
		return nil, errs.ErrUnauthenticated
	}
	where := `f.parent_id = $3 AND lvl >= 1`
	args := []any{p.UserID, string(p.Role), parent}
	if parent == nil {
		where = `lvl >= 1
			AND (f.parent_id IS NULL OR (SELECT pl FROM mg_folder_level($1, $2, f.parent_id) pl) = 0)`
		args = args[:2]
	}
	rows, err := d.pool.Query(ctx, `SELECT `+folderColumns+` WHERE `+where+` ORDER BY lower(f.name)`, args...)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Folder, error) { return scanFolder(row) })
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	if out == nil {
		out = []Folder{}
	}
	return out, nil
}

// FolderChange is a rename and/or a move; nil fields stay as they are.
// Parent is a pointer to the new parent id, itself nil for the root.
type FolderChange struct {
	Name   *string
	Parent **string
}

// UpdateFolder renames and/or moves a folder. p needs manage on it, and edit
// on a new parent. A folder can't move into itself or below itself.
func (d *Decider) UpdateFolder(ctx context.Context, p Principal, id string, ch FolderChange) (Folder, error) {
	if err := d.RequireFolder(ctx, p, id, Manage); err != nil {
		return Folder{}, err
	}
	var name string
	if ch.Name != nil {
		n, err := cleanFolderName(*ch.Name)
		if err != nil {
			return Folder{}, err
		}
		name = n
	}
	if ch.Parent != nil {
		if err := d.RequirePlace(ctx, p, *ch.Parent); err != nil {
			return Folder{}, err
		}
	}
	err := d.change(ctx, func(tx pgx.Tx) error {
		// One mover at a time: two concurrent moves could each be acyclic
		// alone and make a cycle together.
		if err := FolderTreeLock(ctx, tx); err != nil {
			return err
		}
		if ch.Parent != nil {
			// Not out of the trash: the folder, or one above it, may have
			// gone there since the check, its published files withdrawn.
			if trashed, err := FolderTrashed(ctx, tx, id); err != nil {
				return err
			} else if trashed {
				return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
			}
		}
		if ch.Parent != nil && *ch.Parent != nil {
			var cycle bool
			err := tx.QueryRow(ctx, `
				WITH RECURSIVE up (id, parent_id) AS (
					SELECT id, parent_id FROM folders WHERE id = $1
					UNION ALL
					SELECT f.id, f.parent_id FROM folders f JOIN up ON f.id = up.parent_id
				)
				SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)`, **ch.Parent, id).Scan(&cycle)
			if err != nil {
				return err
			}
			if cycle {
				return fmt.Errorf("%w: a folder can't move into itself or a folder below it", errs.ErrConflict)
			}
			// Since the check, under the lock the trash takes too.
			if trashed, err := FolderTrashed(ctx, tx, **ch.Parent); err != nil {
				return err
			} else if trashed {
				return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
			}
			if _, err := tx.Exec(ctx, `UPDATE folders SET parent_id = $2 WHERE id = $1`, id, **ch.Parent); err != nil {
				return folderConflict(err, "that name")
			}
		} else if ch.Parent != nil {
			if _, err := tx.Exec(ctx, `UPDATE folders SET parent_id = NULL WHERE id = $1`, id); err != nil {
				return folderConflict(err, "that name")
			}
		}
		if ch.Name != nil {
			if _, err := tx.Exec(ctx, `UPDATE folders SET name = $2 WHERE id = $1`, id, name); err != nil {
				return folderConflict(err, name)
			}
		}
		return nil
	})
	if err != nil {
		return Folder{}, fmt.Errorf("update folder: %w", err)
	}
	// Not d.Folder: a move may take the folder out of p's reach, and p
	// should still be told how the change turned out (Permission says none).
	f, err := scanFolder(d.pool.QueryRow(ctx, `SELECT `+folderColumns+` WHERE f.id = $3`, p.UserID, string(p.Role), id))
	if err != nil {
		return Folder{}, fmt.Errorf("%w: load folder: %w", errs.ErrUnavailable, err)
	}
	return f, nil
}

// FolderTreeLock serializes, in tx, the changes to the folder tree's shape
// that the trash depends on: folder moves, moves of items into a folder, and
// trashing and restoring folders (internal/media). Every one of them takes
// it first.
func FolderTreeLock(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mediagate.folders', 0))`)
	return err
}

// FolderTrashed reports, in tx, whether folder id or one above it is in the
// trash.
func FolderTrashed(ctx context.Context, tx pgx.Tx, id string) (bool, error) {
	var trashed bool
	err := tx.QueryRow(ctx, `SELECT t FROM mg_folder_trashed($1) t`, id).Scan(&trashed)
	return trashed, err
}
