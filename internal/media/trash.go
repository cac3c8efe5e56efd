package media

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// The kinds of trash entries.
const (
	TrashItem   = "item"
	TrashFolder = "folder"
)

// DefaultTrashRetention is how long an entry stays in the trash unless
// SetTrashRetention says otherwise.
const DefaultTrashRetention = 720 * time.Hour

// TrashEntry is an item or a folder that was deleted and is not purged yet.
// A folder's entry holds everything below it; its Size is their total.
type TrashEntry struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	FolderPath string    `json:"folder_path"` // where it was deleted from, "" for the root
	DeletedAt  time.Time `json:"deleted_at"`
	DeletedBy  string    `json:"deleted_by"` // an email; empty once that account is gone
	PurgeAt    time.Time `json:"purge_at"`
	Size       int64     `json:"size"`
}

// Restored says what a restore brought back, and Note where, when that is
// not where it was deleted from.
type Restored struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	Note string `json:"note,omitempty"`
}

// SetTrashRetention sets how long entries stay in the trash.
func (s *Store) SetTrashRetention(d time.Duration) { s.retention = d }

// recordChanges puts a change of these items (trash, restore, purge,
// replace) in their audit, in tx.
func recordChanges(ctx context.Context, tx pgx.Tx, action, actor string, items []string) error {
	if len(items) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO access_log (at, media_id, actor, allowed, action)
		SELECT now(), i, $2, true, $3 FROM unnest($1::uuid[]) i`, items, actor, action)
	return err
}

// subtreeItemsSQL lists the items below folder $1 that go with it: those not
// in the trash on their own. A folder trashed by itself below it is not
// part of its subtree (mg_trash_subtree).
const subtreeItemsSQL = `SELECT m.id, COALESCE(m.public_name, ''), m.blob
	FROM mg_trash_subtree($1) s JOIN media m ON m.folder_id = s.id WHERE m.deleted_at IS NULL`

type subtreeItem struct{ id, public, blob string }

func subtreeItems(ctx context.Context, tx pgx.Tx, folder string) ([]subtreeItem, error) {
	rows, err := tx.Query(ctx, subtreeItemsSQL, folder)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (subtreeItem, error) {
		var it subtreeItem
		err := row.Scan(&it.id, &it.public, &it.blob)
		return it, err
	})
}

// setPublished links the published files of items at their names (publish)
// or takes them off the public URL prefix, in a transaction holding
// publicLock; the names stay in the database either way, so a restore puts
// a withdrawn file back at the same URL. If the transaction then fails,
// Recover makes the files agree with the database again.
func (s *Store) setPublished(ctx context.Context, items []subtreeItem, publish bool) error {
	pub, ok := s.blobs.(Publisher)
	if !ok {
		return nil
	}
	for _, it := range items {
		var err error
		switch {
		case it.public == "":
		case publish:
			err = pub.Publish(ctx, it.blob, it.public)
		default:
			err = pub.Unpublish(ctx, it.public)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func itemIDs(items []subtreeItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.id
	}
	return out
}

// Delete moves the item to the trash (p needs manage): from then on it is
// in no listing and no decision, its share links answer as unknown and its
// published file is withdrawn, until Restore; Purge, or the janitor after
// the retention, removes it for good.
func (s *Store) Delete(ctx context.Context, p acl.Principal, id string) error {
	if err := s.decide.Require(ctx, p, id, acl.Manage); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		it := subtreeItem{id: id}
		err := tx.QueryRow(ctx, `UPDATE media m SET deleted_at = now(), deleted_by = $2,
				deleted_path = (SELECT fp FROM mg_trash_path(m.folder_id) fp)
			WHERE m.id = $1 AND NOT (SELECT t FROM mg_media_trashed(m.id) t)
			RETURNING COALESCE(m.public_name, ''), m.blob`, id, p.UserID).Scan(&it.public, &it.blob)
		if errors.Is(err, pgx.ErrNoRows) { // trashed or purged meanwhile
			return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := s.setPublished(ctx, []subtreeItem{it}, false); err != nil {
			return err
		}
		return recordChanges(ctx, tx, "trash", p.Email, []string{id})
	})
	if err != nil {
		return fmt.Errorf("trash item: %w", err)
	}
	s.changed()
	return nil
}

// TrashFolder moves the folder, and with it everything below it, to the
// trash (p needs manage on it), as Delete does an item.
func (s *Store) TrashFolder(ctx context.Context, p acl.Principal, id string) error {
	if err := s.decide.RequireFolder(ctx, p, id, acl.Manage); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		// No item moves in while its published files are withdrawn.
		if err := acl.FolderTreeLock(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE folders f SET deleted_at = now(), deleted_by = $2,
				deleted_path = (SELECT fp FROM mg_trash_path(f.parent_id) fp)
			WHERE f.id = $1 AND NOT (SELECT t FROM mg_folder_trashed(f.id) t)`, id, p.UserID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
		}
		items, err := subtreeItems(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.setPublished(ctx, items, false); err != nil {
			return err
		}
		return recordChanges(ctx, tx, "trash", p.Email, itemIDs(items))
	})
	if err != nil {
		return fmt.Errorf("trash folder: %w", err)
	}
	s.changed()
	return nil
}

// TrashOptions picks a page of the trash: Limit entries (0: 50, at most
// 200, as for List) after Cursor (a TrashPage's Next; "" for the first page).
type TrashOptions struct {
	Cursor string
	Limit  int
}

// TrashPage is a page of the trash and the cursor of the next ("" after
// the last).
type TrashPage struct {
	Entries []TrashEntry
	Next    string
}

// trashCursor is the cursor after e: "trash|<RFC 3339 time>|<id>", in
// base64url, the order being most recently deleted first, then by id.
func trashCursor(e TrashEntry) string {
	return base64.RawURLEncoding.EncodeToString([]byte("trash|" + e.DeletedAt.UTC().Format(time.RFC3339Nano) + "|" + e.ID))
}

// parseTrashCursor reads a trashCursor; nil and "" for the first page.
func parseTrashCursor(c string) (*time.Time, string, error) {
	if c == "" {
		return nil, "", nil
	}
	bad := fmt.Errorf("%w: malformed cursor", errs.ErrInvalid)
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, "", bad
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 || parts[0] != "trash" || !acl.ValidID(parts[2]) {
		return nil, "", bad
	}
	at, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return nil, "", bad
	}
	return &at, parts[2], nil
}

// ListTrash lists a page of the trash entries p may manage (an admin: all),
// the most recently deleted first.
func (s *Store) ListTrash(ctx context.Context, p acl.Principal, o TrashOptions) (TrashPage, error) {
	if !p.Valid() {
		return TrashPage{}, errs.ErrUnauthenticated
	}
	after, afterID, err := parseTrashCursor(o.Cursor)
	if err != nil {
		return TrashPage{}, err
	}
	limit := o.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	// Each branch reads its deleted rows newest first from its partial
	// index and stops at the page's end: only the entries up to it are
	// decided. The cursor is the last entry's time and id.
	rows, err := s.pool.Query(ctx, `
		(SELECT m.id, 'item', m.filename, m.deleted_path, m.deleted_at, COALESCE(u.email, ''), b.size, m.folder_id
		FROM media m JOIN blobs b ON b.sha256 = m.blob LEFT JOIN users u ON u.id = m.deleted_by
		CROSS JOIN LATERAL mg_item_access($1, $2, m.id) a
		WHERE m.deleted_at IS NOT NULL AND a.level >= 3
			AND ($3::timestamptz IS NULL OR m.deleted_at < $3 OR (m.deleted_at = $3 AND m.id > $4::uuid))
		ORDER BY m.deleted_at DESC, m.id LIMIT $5)
		UNION ALL
		(SELECT f.id, 'folder', f.name, f.deleted_path, f.deleted_at, COALESCE(u.email, ''),
			(SELECT COALESCE(sum(b.size), 0)::bigint FROM mg_trash_subtree(f.id) st
				JOIN media m ON m.folder_id = st.id AND m.deleted_at IS NULL JOIN blobs b ON b.sha256 = m.blob),
			f.parent_id
		FROM folders f LEFT JOIN users u ON u.id = f.deleted_by
		CROSS JOIN LATERAL mg_folder_access($1, $2, f.id) a
		WHERE f.deleted_at IS NOT NULL AND a.level >= 3
			AND ($3::timestamptz IS NULL OR f.deleted_at < $3 OR (f.deleted_at = $3 AND f.id > $4::uuid))
		ORDER BY f.deleted_at DESC, f.id LIMIT $5)
		ORDER BY 5 DESC, 1 LIMIT $5`, p.UserID, string(p.Role), after, nullID(afterID), limit+1)
	if err != nil {
		return TrashPage{}, fmt.Errorf("list trash: %w", err)
	}
	var parents []*string
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TrashEntry, error) {
		var e TrashEntry
		var parent *string
		err := row.Scan(&e.ID, &e.Kind, &e.Name, &e.FolderPath, &e.DeletedAt, &e.DeletedBy, &e.Size, &parent)
		e.PurgeAt = e.DeletedAt.Add(s.retention)
		parents = append(parents, parent)
		return e, err
	})
	if err != nil {
		return TrashPage{}, fmt.Errorf("list trash: %w", err)
	}
	page := TrashPage{Entries: out}
	if len(out) > limit {
		page.Entries, parents = out[:limit], parents[:limit]
		page.Next = trashCursor(page.Entries[limit-1])
	}
	stored := make([]string, len(page.Entries))
	for i, e := range page.Entries {
		stored[i] = e.FolderPath
	}
	shown, err := shownPaths(ctx, s.pool, p, parents, stored)
	if err != nil {
		return TrashPage{}, fmt.Errorf("list trash: %w", err)
	}
	for i := range page.Entries {
		page.Entries[i].FolderPath = shown[i]
	}
	if page.Entries == nil {
		page.Entries = []TrashEntry{}
	}
	return page, nil
}

// nullID is id, or nil for none.
func nullID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

// shownPaths is where trash entries were deleted from (stored, each one's
// deleted_path) as p may see it: the folders out of p's reach never leave
// the server. An admin sees the stored path. Anyone else sees the path of
// the folder the entry would go back to (parents[i]), as FolderPaths shows
// it with the folders out of their reach as one "…", but with the trash's
// levels (a folder in the trash is still seen by who could see it); once
// that folder is purged, only "…" is left.
func shownPaths(ctx context.Context, q querier, p acl.Principal, parents []*string, stored []string) ([]string, error) {
	out := slices.Clone(stored)
	if p.Role == acl.RoleAdmin {
		return out, nil
	}
	var ids []string
	for _, par := range parents {
		if par != nil {
			ids = append(ids, *par)
		}
	}
	live, err := folderPaths(ctx, q, p, ids, trashLevel)
	if err != nil {
		return nil, err
	}
	for i, par := range parents {
		switch {
		case par != nil:
			fp, ok := live[*par]
			out[i] = fp.Path
			if !ok {
				out[i] = hiddenFolders
			}
		case stored[i] != "":
			out[i] = hiddenFolders
		}
	}
	return out, nil
}

// entry is a trash entry locked in a transaction, with p's level on it as
// if it were not in the trash.
type entry struct {
	kind, name string
	parent     *string // its folder, or its parent folder
	path       string  // where it was deleted from
	level      acl.Level
}

// lockEntry locks the trash entry id (FOR UPDATE: a purge or restore
// running at the same time waits, then finds it gone) and checks that p
// manages it. Below view it does not exist for p.
func lockEntry(ctx context.Context, tx pgx.Tx, p acl.Principal, id string) (entry, error) {
	notFound := fmt.Errorf("%w: no such entry in the trash", errs.ErrNotFound)
	if !p.Valid() {
		return entry{}, errs.ErrUnauthenticated
	}
	if !acl.ValidID(id) {
		return entry{}, notFound
	}
	e := entry{kind: TrashItem}
	err := tx.QueryRow(ctx, `SELECT m.filename, m.folder_id, m.deleted_path, a.level
		FROM media m CROSS JOIN LATERAL mg_item_access($1, $2, m.id) a
		WHERE m.id = $3 AND m.deleted_at IS NOT NULL FOR UPDATE OF m`, p.UserID, string(p.Role), id).
		Scan(&e.name, &e.parent, &e.path, &e.level)
	if errors.Is(err, pgx.ErrNoRows) {
		e.kind = TrashFolder
		err = tx.QueryRow(ctx, `SELECT f.name, f.parent_id, f.deleted_path, a.level
			FROM folders f CROSS JOIN LATERAL mg_folder_access($1, $2, f.id) a
			WHERE f.id = $3 AND f.deleted_at IS NOT NULL FOR UPDATE OF f`, p.UserID, string(p.Role), id).
			Scan(&e.name, &e.parent, &e.path, &e.level)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return entry{}, notFound
	}
	if err != nil {
		return entry{}, err
	}
	if e.level < acl.View {
		return entry{}, notFound
	}
	return e, acl.Check(e.level, acl.Manage)
}

// Restore takes the entry id out of the trash, back into its folder, with
// its grants, links and published URL. When that folder is gone or in the
// trash itself, it goes to the root and Note says so. A folder whose name is
// taken there meanwhile is ErrConflict. p needs manage on it.
func (s *Store) Restore(ctx context.Context, p acl.Principal, id string) (Restored, error) {
	var r Restored
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		if err := acl.FolderTreeLock(ctx, tx); err != nil {
			return err
		}
		e, err := lockEntry(ctx, tx, p, id)
		if err != nil {
			return err
		}
		r = Restored{ID: id, Kind: e.kind, Name: e.name}
		// Where it was is no longer there: it goes to the root, which must
		// be p's to put it in, as a move there would.
		parent, gone := e.parent, ""
		if parent != nil {
			if trashed, err := acl.FolderTrashed(ctx, tx, *parent); err != nil {
				return err
			} else if trashed {
				gone = "is in the trash"
			}
		} else if e.path != "" {
			gone = "is gone"
		}
		if gone != "" {
			shown, err := shownPaths(ctx, tx, p, []*string{e.parent}, []string{e.path})
			if err != nil {
				return err
			}
			path := shown[0]
			if err := s.decide.RequirePlace(ctx, p, nil); err != nil {
				return fmt.Errorf("%w (its folder %q is no longer there: someone who may create at the root can restore it)", err, path)
			}
			parent = nil
			r.Note = fmt.Sprintf("its folder %q %s: restored to the root", path, gone)
		}
		var items []subtreeItem
		if e.kind == TrashItem {
			it := subtreeItem{id: id}
			err = tx.QueryRow(ctx, `UPDATE media SET deleted_at = NULL, deleted_by = NULL, deleted_path = NULL, folder_id = $2
				WHERE id = $1 RETURNING COALESCE(public_name, ''), blob`, id, parent).Scan(&it.public, &it.blob)
			items = []subtreeItem{it}
		} else {
			_, err = tx.Exec(ctx, `UPDATE folders SET deleted_at = NULL, deleted_by = NULL, deleted_path = NULL, parent_id = $2
				WHERE id = $1`, id, parent)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return fmt.Errorf("%w: a folder named %q is already there; rename that one first", errs.ErrConflict, e.name)
			}
			if err == nil {
				items, err = subtreeItems(ctx, tx, id)
			}
		}
		if err != nil {
			return err
		}
		if err := s.setPublished(ctx, items, true); err != nil {
			return err
		}
		return recordChanges(ctx, tx, "restore", p.Email, itemIDs(items))
	})
	if err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	s.changed()
	return r, nil
}

// Purge removes the trash entry id for good now (p needs manage on it):
// its rows, and the blobs nothing else refers to any more. Their bytes go
// after the commit, under each blob's lock and only if no row came back
// meanwhile, so a purge that fails loses nothing and one cut short by a
// crash leaves a blob without a row, which Recover removes.
func (s *Store) Purge(ctx context.Context, p acl.Principal, id string) error {
	var gone []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		e, err := lockEntry(ctx, tx, p, id)
		if err != nil {
			return err
		}
		gone, err = s.purgeTx(ctx, tx, e.kind, id, p.Email)
		return err
	})
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	s.changed()
	s.removeGone(ctx, gone)
	return nil
}

// purgeTx removes the rows of the entry id in tx, and returns the blobs whose
// rows it deleted (their bytes go after the commit). A folder takes the
// folders and items below it along, but not those in the trash on their
// own: they stay there, now without a folder to go back to.
func (s *Store) purgeTx(ctx context.Context, tx pgx.Tx, kind, id, actor string) ([]string, error) {
	if kind == TrashItem {
		candidates, err := deleteItemRow(ctx, tx, id, actor)
		if err != nil {
			return nil, err
		}
		return s.dropUnreferenced(ctx, tx, candidates)
	}
	// The folder's own subtree: what is in the trash on its own below it
	// is left out, and loses its folder.
	var folders []string
	if err := tx.QueryRow(ctx, `SELECT array_agg(id) FROM mg_trash_subtree($1)`, id).Scan(&folders); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE folders SET parent_id = NULL
		WHERE parent_id = ANY($1) AND deleted_at IS NOT NULL AND id <> $2`, folders, id); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE media SET folder_id = NULL WHERE folder_id = ANY($1) AND deleted_at IS NOT NULL`, folders); err != nil {
		return nil, err
	}
	var items []string
	if err := tx.QueryRow(ctx, `SELECT COALESCE(array_agg(id), '{}') FROM media WHERE folder_id = ANY($1)`, folders).Scan(&items); err != nil {
		return nil, err
	}
	var candidates []string
	for _, it := range items {
		c, err := deleteItemRow(ctx, tx, it, actor)
		if err != nil {
			return nil, err
		}
		candidates = append(candidates, c...)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM folders WHERE id = ANY($1)`, folders); err != nil {
		return nil, err
	}
	return s.dropUnreferenced(ctx, tx, candidates)
}

// deleteItemRow deletes the item's row in tx, audits the purge and returns
// the blobs the item used: its file, captions and chosen poster.
func deleteItemRow(ctx context.Context, tx pgx.Tx, id, actor string) ([]string, error) {
	var captions []string
	err := tx.QueryRow(ctx, `SELECT COALESCE(array_agg(blob), '{}') FROM captions WHERE media_id = $1`, id).Scan(&captions)
	if err != nil {
		return nil, err
	}
	var sha string
	var poster *string
	err = tx.QueryRow(ctx, `DELETE FROM media WHERE id = $1 RETURNING blob, poster`, id).Scan(&sha, &poster)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: no such media item", errs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := recordChanges(ctx, tx, "purge", actor, []string{id}); err != nil {
		return nil, err
	}
	candidates := append([]string{sha}, captions...)
	if poster != nil {
		candidates = append(candidates, *poster)
	}
	return candidates, nil
}

// janitorActor is who the audit says purged an expired entry.
const janitorActor = "trash janitor"

// PurgeExpired purges the entries deleted more than the retention before
// now, each in its own transaction, and returns how many it purged. Several
// instances may run it at once: an entry another one is purging is locked,
// and skipped (FOR UPDATE SKIP LOCKED).
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.retention)
	var n int
	for _, q := range []struct{ kind, query string }{
		{TrashItem, `SELECT id FROM media WHERE deleted_at < $1 ORDER BY deleted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`},
		{TrashFolder, `SELECT id FROM folders WHERE deleted_at < $1 ORDER BY deleted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`},
	} {
		for ctx.Err() == nil {
			var gone []string
			var found bool
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				var id string
				err := tx.QueryRow(ctx, q.query, cutoff).Scan(&id)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				if err != nil {
					return err
				}
				found = true
				gone, err = s.purgeTx(ctx, tx, q.kind, id, janitorActor)
				return err
			})
			if err != nil {
				return n, fmt.Errorf("purge expired trash: %w", err)
			}
			if !found {
				break
			}
			n++
			s.changed()
			s.removeGone(ctx, gone)
		}
	}
	return n, ctx.Err()
}

// RunTrashJanitor purges expired trash entries at once and then every
// quarter of the retention (at least every second, at most every hour),
// until ctx is done. Every instance may run it.
func (s *Store) RunTrashJanitor(ctx context.Context) {
	t := time.NewTicker(min(max(s.retention/4, time.Second), time.Hour))
	defer t.Stop()
	for {
		n, err := s.PurgeExpired(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			s.log.Warn("purge the trash", "err", err)
		}
		if n > 0 {
			s.log.Info("purged expired trash entries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
