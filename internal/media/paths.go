package media

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// FolderPath is where an item is, as one caller may see it.
type FolderPath struct {
	// Path is the folder names from the root down, joined by "/" ("" at the
	// root). The folders above the caller's reach are one "…": a folder's
	// level is at least its parent's, so they are always the first ones.
	Path   string
	Hidden bool // some folders of the path are "…"
}

// hiddenFolders stands for the folders of a path the caller may not see.
const hiddenFolders = "…"

// The kinds of item a listing can keep, by the stored MIME type: video/*,
// audio/* and image/* are theirs, and anything else (PDF, text, office
// files, archives, unknown bytes) is a document.
const (
	TypeVideo    = "video"
	TypeAudio    = "audio"
	TypeImage    = "image"
	TypeDocument = "document"
)

// Types lists the kinds List's Type accepts.
var Types = []string{TypeVideo, TypeAudio, TypeImage, TypeDocument}

// typeExpr is an item's (m's) kind in SQL, as Types names them. It is a
// subquery on purpose: on b, the join's own row, the planner may start from
// the blobs of the kind and decide every one of their items before sorting
// (10x slower at 200k items, where this walks the order's index and stops
// at the page's end).
const typeExpr = `(SELECT CASE split_part(t.content_type, '/', 1) WHEN 'video' THEN 'video' WHEN 'audio' THEN 'audio'
	WHEN 'image' THEN 'image' ELSE 'document' END FROM blobs t WHERE t.sha256 = m.blob)`

// FolderPaths fills in each item's Path as p may see it, in one round trip
// for the whole page.
func (s *Store) FolderPaths(ctx context.Context, p acl.Principal, items []Item) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	var ids []string
	for _, it := range items {
		if it.Folder != nil {
			ids = append(ids, *it.Folder)
		}
	}
	paths, err := folderPaths(ctx, s.pool, p, ids, liveLevel)
	if err != nil {
		return err
	}
	for i, it := range items {
		fp := FolderPath{}
		if it.Folder != nil {
			var ok bool
			if fp, ok = paths[*it.Folder]; !ok { // the folder went away meanwhile
				fp = FolderPath{Path: hiddenFolders, Hidden: true}
			}
		}
		items[i].Path = &fp
	}
	return nil
}

// The levels folderPaths may decide a folder's visibility by, as a FROM
// item l(level) on the chain's folder c.id: the decision (none for a folder
// in the trash), or the trash's own (as if nothing were in the trash).
const (
	liveLevel  = `mg_folder_level($1, $2, c.id) AS l(level)`
	trashLevel = `mg_folder_access($1, $2, c.id) l`
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// folderPaths is the path of each folder of ids as p may see it by level,
// in one round trip; a folder that does not exist has none.
func folderPaths(ctx context.Context, q querier, p acl.Principal, ids []string, level string) (map[string]FolderPath, error) {
	paths := map[string]FolderPath{}
	if len(ids) == 0 {
		return paths, nil
	}
	// Each folder's chain up to the root, deepest first, with p's level
	// on every folder of it.
	rows, err := q.Query(ctx, `
		WITH RECURSIVE chain (start, id, parent_id, name, depth) AS (
			SELECT f.id, f.id, f.parent_id, f.name, 0 FROM folders f WHERE f.id = ANY($3::uuid[])
			UNION ALL
			SELECT c.start, f.id, f.parent_id, f.name, c.depth + 1
			FROM folders f JOIN chain c ON f.id = c.parent_id
			WHERE c.depth < 1000 -- a guard; moves refuse cycles
		)
		SELECT c.start, c.name, l.level >= 1 FROM chain c CROSS JOIN LATERAL `+level+`
		ORDER BY c.start, c.depth DESC`, p.UserID, string(p.Role), ids)
	if err != nil {
		return nil, fmt.Errorf("%w: folder paths: %w", errs.ErrUnavailable, err)
	}
	type segment struct {
		start, name string
		visible     bool
	}
	segs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (segment, error) {
		var sg segment
		return sg, row.Scan(&sg.start, &sg.name, &sg.visible)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: folder paths: %w", errs.ErrUnavailable, err)
	}
	names := map[string][]string{}
	for _, sg := range segs {
		fp := paths[sg.start]
		if !sg.visible {
			fp.Hidden = true
			if len(names[sg.start]) == 0 {
				names[sg.start] = []string{hiddenFolders}
			}
		} else {
			names[sg.start] = append(names[sg.start], sg.name)
		}
		paths[sg.start] = fp
	}
	for id, fp := range paths {
		fp.Path = strings.Join(names[id], "/")
		paths[id] = fp
	}
	return paths, nil
}
