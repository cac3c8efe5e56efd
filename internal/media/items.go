package media

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
)

// Item is a media item as one caller sees it.
type Item struct {
	ID          string
	Filename    string
	SHA256      string
	Size        int64
	ContentType string
	Extension   string
	Owner       string  // the owner's email, empty once the owner is gone
	Folder      *string // the folder's id; nil at the root
	PublicName  string  // empty unless published
	CreatedAt   time.Time
	StoredAt    time.Time   // when the content was first stored (Last-Modified)
	Permission  acl.Level   // the caller's
	Path        *FolderPath // where it is; only when asked for (FolderPaths)
}

// Store keeps items in PostgreSQL and their content in Blobs, and keeps the
// two in agreement.
type Store struct {
	pool   *pgxpool.Pool
	blobs  Blobs
	spool  *Spool
	limit  int64
	decide *acl.Decider
	log    *slog.Logger
	// enqueue starts the media pipeline for new blobs; nil: no pipeline.
	enqueue Enqueuer
	// items caches what Get answered, when the decider has a cache: the
	// streaming path then costs no query at all.
	items *invalidate.Cache[itemKey, Item]
	// retention is how long trash entries stay (SetTrashRetention).
	retention time.Duration
}

type itemKey struct{ user, role, id string }

// Storage is where a Store keeps bytes.
type Storage struct {
	Blobs     Blobs  // the blobs, under their content keys
	Spool     *Spool // this process's temp space, where uploads are received
	MaxUpload int64  // the largest upload, in bytes
}

// NewStore returns a Store. It caches items when decide has a cache.
func NewStore(pool *pgxpool.Pool, st Storage, decide *acl.Decider, log *slog.Logger) *Store {
	return &Store{pool: pool, blobs: st.Blobs, spool: st.Spool, limit: st.MaxUpload, decide: decide, log: log,
		items:     invalidate.NewCache[itemKey, Item](decide.Hub(), invalidate.ACL, "items", 100_000),
		retention: DefaultTrashRetention}
}

// changed drops this instance's cached decisions after a commit.
func (s *Store) changed() { s.decide.Hub().Changed(invalidate.ACL) }

// Spool returns this process's temp space.
func (s *Store) Spool() *Spool { return s.spool }

// Blobs returns where the store keeps its blobs.
func (s *Store) Blobs() Blobs { return s.blobs }

// blobLock takes the transaction-scoped advisory lock for one blob. Every
// change that touches a blob's row or file holds it, so the row and the file
// are only ever seen to agree.
func blobLock(ctx context.Context, tx pgx.Tx, sha string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mediagate.blob:' || $1, 0))`, sha)
	return err
}

// publicLock serializes changes to the public dir: Publish, Unpublish and
// Recover's sync take it inside their transactions.
func publicLock(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mediagate.public', 0))`)
	return err
}

// CheckUpload says whether p may upload into folder (nil: the root), before
// a byte is read.
func (s *Store) CheckUpload(ctx context.Context, p acl.Principal, folder *string) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	if !p.Role.CanUpload() {
		return fmt.Errorf("%w: your role (%s) may not upload", errs.ErrForbidden, p.Role)
	}
	return s.decide.RequirePlace(ctx, p, folder)
}

// Upload is the one way an upload becomes an item (the multipart form, the
// raw body API and finished resumable uploads all come here): p must be
// allowed to upload into folder (nil: the root), and the file name must be
// usable, before a byte of body is read; then body is hashed and sniffed
// while it is spooled to a local temp file, put to storage under its content
// key and recorded in one transaction. Nothing is left behind on failure.
func (s *Store) Upload(ctx context.Context, p acl.Principal, body io.Reader, filename string, folder *string) (Item, error) {
	if err := s.CheckUpload(ctx, p, folder); err != nil {
		return Item{}, err
	}
	if _, err := CleanFilename(filename); err != nil {
		return Item{}, err
	}
	rec, err := s.spool.Receive(body, s.limit)
	if err != nil {
		return Item{}, err
	}
	// The bytes are all here: finish even if the client hangs up now.
	return s.Create(context.WithoutCancel(ctx), p, rec, filename, folder)
}

// Create stores a received upload as a new item owned by p, in folder (nil:
// the root), where p needs edit. Identical content is stored once. The temp
// file is consumed.
func (s *Store) Create(ctx context.Context, p acl.Principal, rec *Received, filename string, folder *string) (Item, error) {
	defer rec.Discard()
	if err := s.CheckUpload(ctx, p, folder); err != nil {
		return Item{}, err
	}
	filename, err := CleanFilename(filename)
	if err != nil {
		return Item{}, err
	}
	var id string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.storeTx(ctx, tx, rec, true); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO media (filename, blob, owner_id, folder_id) VALUES ($1, $2, $3, $4) RETURNING id`,
			filename, rec.SHA256, p.UserID, folder).Scan(&id)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // the folder went away meanwhile
			return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("create item: %w", err)
	}
	s.changed()
	return s.Get(ctx, p, id)
}

const itemColumns = `m.id, m.filename, b.sha256, b.size, b.content_type, b.extension,
	COALESCE(o.email, ''), m.folder_id, COALESCE(m.public_name, ''), m.created_at, b.created_at`

const itemFrom = ` FROM media m JOIN blobs b ON b.sha256 = m.blob LEFT JOIN users o ON o.id = m.owner_id `

func scanItem(row pgx.Row, extra ...any) (Item, error) {
	var it Item
	dst := append([]any{&it.ID, &it.Filename, &it.SHA256, &it.Size, &it.ContentType, &it.Extension,
		&it.Owner, &it.Folder, &it.PublicName, &it.CreatedAt, &it.StoredAt}, extra...)
	err := row.Scan(dst...)
	return it, err
}

// errNoItem is Get's answer for an item that does not exist and one the
// caller may not view alike. Made once: Get is on every request of the
// streaming path.
var errNoItem = fmt.Errorf("%w: no such media item", errs.ErrNotFound)

// Get returns the item with id if p may view it, with p's permission, in one
// round trip. Without view permission the item does not exist (ErrNotFound).
func (s *Store) Get(ctx context.Context, p acl.Principal, id string) (Item, error) {
	if !p.Valid() {
		return Item{}, errs.ErrUnauthenticated
	}
	if !acl.ValidID(id) {
		return Item{}, errNoItem
	}
	return s.items.Get(ctx, itemKey{p.UserID, string(p.Role), id}, func(ctx context.Context) (Item, error) {
		it, err := s.load(ctx, p, id)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && it.Permission < acl.View) {
			return Item{}, errNoItem
		}
		return it, err
	})
}

// load reads the item with p's permission on it, whatever that is, in one
// round trip; a missing item is pgx.ErrNoRows.
func (s *Store) load(ctx context.Context, p acl.Principal, id string) (Item, error) {
	var level acl.Level
	it, err := scanItem(s.pool.QueryRow(ctx, `SELECT `+itemColumns+`, lvl`+itemFrom+
		`CROSS JOIN LATERAL mg_level($2, $3, m.id) lvl WHERE m.id = $1`, id, p.UserID, string(p.Role)), &level)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, err
	}
	if err != nil {
		return Item{}, fmt.Errorf("%w: load item: %w", errs.ErrUnavailable, err)
	}
	it.Permission = level
	return it, nil
}

// Page is one page of a listing.
type Page struct {
	Items []Item
	Next  string // cursor for the next page; empty on the last
}

// ListOptions select a page of a listing.
type ListOptions struct {
	Cursor string
	Limit  int
	// InFolder restricts the listing to the items directly in Folder (nil:
	// the root); without it every item p may view is listed.
	InFolder bool
	Folder   *string
	// Search keeps the items whose file name contains it, ignoring case;
	// % and _ in it are literal.
	Search string
	// Sort is one of Sorts; empty is SortNewest.
	Sort string
	// Subfolders widens InFolder to every folder below Folder too.
	Subfolders bool
	// Type keeps the items of one of Types; empty keeps all.
	Type string
	// Paths fills in each item's Path (one more round trip).
	Paths bool
}

// The orders a listing can have.
const (
	SortNewest = "newest"
	SortOldest = "oldest"
	SortName   = "name" // A to Z, ignoring case
	SortSize   = "size" // largest first
)

// Sorts lists the orders List accepts, the default first.
var Sorts = []string{SortNewest, SortOldest, SortName, SortSize}

// sortKey is how one order is queried: the key of a row (the id breaks
// ties), the same key made from the cursor's value ($3), and the direction.
type sortKey struct {
	expr, after string
	desc        bool
}

var sortKeys = map[string]sortKey{
	SortNewest: {"m.created_at", "$3::timestamptz", true},
	SortOldest: {"m.created_at", "$3::timestamptz", false},
	SortName:   {"lower(m.filename)", "lower($3::text)", false},
	SortSize:   {"b.size", "$3::bigint", true},
}

// likeEscaper makes a search string literal in a LIKE pattern (escape \).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// A page of a listing (List, ListTrash) holds defaultLimit entries unless
// its caller asks for another number, and at most maxLimit.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// List returns what p may view, in o.Sort's order, a page at a time. The
// cursor is the last row's (sort key, id), so pages neither skip nor repeat
// rows while items are added.
func (s *Store) List(ctx context.Context, p acl.Principal, o ListOptions) (Page, error) {
	cursor, limit := o.Cursor, o.Limit
	if !p.Valid() {
		return Page{}, errs.ErrUnauthenticated
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	if o.Sort == "" {
		o.Sort = SortNewest
	}
	key, ok := sortKeys[o.Sort]
	if !ok {
		return Page{}, fmt.Errorf("%w: sort must be one of %s, not %q", errs.ErrInvalid, strings.Join(Sorts, ", "), o.Sort)
	}
	if !dbText(o.Search) {
		return Page{}, fmt.Errorf("%w: search text must be UTF-8 without NUL", errs.ErrInvalid)
	}
	if o.Type != "" && !slices.Contains(Types, o.Type) {
		return Page{}, fmt.Errorf("%w: type must be one of %s, not %q", errs.ErrInvalid, strings.Join(Types, ", "), o.Type)
	}
	if o.Subfolders && !o.InFolder {
		return Page{}, fmt.Errorf("%w: subfolders needs a folder", errs.ErrInvalid)
	}
	if o.Subfolders && o.Folder == nil { // the root and everything below it
		o.InFolder, o.Subfolders = false, false
	}
	after, afterID, err := decodeCursor(o.Sort, cursor)
	if err != nil {
		return Page{}, err
	}
	cmp, dir := ">", "ASC"
	if key.desc {
		cmp, dir = "<", "DESC"
	}
	var pattern string
	if o.Search != "" {
		pattern = "%" + likeEscaper.Replace(o.Search) + "%"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+itemColumns+`, lvl`+itemFrom+`
		CROSS JOIN LATERAL mg_level($1, $2, m.id) AS lvl
		WHERE lvl >= 1 AND ($3::text IS NULL OR (`+key.expr+`, m.id) `+cmp+` (`+key.after+`, $4::uuid))
		AND (NOT $6 OR m.folder_id IS NOT DISTINCT FROM $7::uuid OR ($9 AND m.folder_id IN (
			WITH RECURSIVE below (id) AS (
				SELECT f.id FROM folders f WHERE f.parent_id = $7::uuid
				UNION SELECT f.id FROM folders f JOIN below ON f.parent_id = below.id)
			SELECT id FROM below)))
		AND ($8 = '' OR m.filename ILIKE $8 ESCAPE '\')
		AND ($10 = '' OR `+typeExpr+` = $10)
		ORDER BY `+key.expr+` `+dir+`, m.id `+dir+`
		LIMIT $5`, p.UserID, string(p.Role), after, afterID, limit+1, o.InFolder, o.Folder, pattern, o.Subfolders, o.Type)
	if err != nil {
		return Page{}, fmt.Errorf("list items: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Item, error) {
		var level acl.Level
		it, err := scanItem(row, &level)
		it.Permission = level
		return it, err
	})
	if err != nil {
		return Page{}, fmt.Errorf("list items: %w", err)
	}
	page := Page{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = encodeCursor(o.Sort, page.Items[limit-1])
	}
	if page.Items == nil {
		page.Items = []Item{}
	}
	if o.Paths {
		if err := s.FolderPaths(ctx, p, page.Items); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// encodeCursor returns the cursor after it in the order sort. A newest-first
// cursor keeps its original form, "<RFC 3339 time>|<id>"; the others start
// with the order's name, so a cursor can't be read in another order.
func encodeCursor(sort string, it Item) string {
	var key string
	switch sort {
	case SortNewest, SortOldest:
		key = it.CreatedAt.UTC().Format(time.RFC3339Nano)
	case SortName:
		key = it.Filename // lowered by the query, as the rows' names are
	case SortSize:
		key = strconv.FormatInt(it.Size, 10)
	}
	if sort != SortNewest {
		key = sort + "|" + key
	}
	return base64.RawURLEncoding.EncodeToString([]byte(key + "|" + it.ID))
}

// decodeCursor returns the sort key (as text, cast in the query) and the id
// a cursor in the order sort names; both nil for the first page.
func decodeCursor(sort, c string) (*string, *string, error) {
	if c == "" {
		return nil, nil, nil
	}
	bad := fmt.Errorf("%w: malformed cursor", errs.ErrInvalid)
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, nil, bad
	}
	s := string(b)
	if sort != SortNewest {
		rest, ok := strings.CutPrefix(s, sort+"|")
		if !ok {
			return nil, nil, bad
		}
		s = rest
	}
	// The key may hold '|' (a file name); the id never does.
	i := strings.LastIndexByte(s, '|')
	if i < 0 || !acl.ValidID(s[i+1:]) {
		return nil, nil, bad
	}
	key, id := s[:i], s[i+1:]
	// The key goes to PostgreSQL in the form encodeCursor writes: a cursor
	// that Go reads but PostgreSQL would not (a year 0 once in UTC, NUL,
	// bytes that are not UTF-8) is malformed, not a database error.
	switch sort {
	case SortNewest, SortOldest:
		t, err := time.Parse(time.RFC3339Nano, key)
		if err != nil || t.UTC().Year() < 1 {
			return nil, nil, bad
		}
		key = t.UTC().Format(time.RFC3339Nano)
	case SortName:
		if !dbText(key) {
			return nil, nil, bad
		}
	case SortSize:
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil, nil, bad
		}
		key = strconv.FormatInt(n, 10)
	}
	return &key, &id, nil
}

// dbText reports whether PostgreSQL takes s as text: valid UTF-8 without NUL.
func dbText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Change is a rename and/or a move of an item; nil fields stay as they are.
// Folder points to the new folder id, itself nil for the root.
type Change struct {
	Filename *string
	Folder   **string
}

// Update renames (p needs edit) and/or moves (p needs manage on the item and
// edit on the new folder) an item.
func (s *Store) Update(ctx context.Context, p acl.Principal, id string, ch Change) (Item, error) {
	need := acl.Edit
	if ch.Folder != nil {
		need = acl.Manage
		if err := s.decide.RequirePlace(ctx, p, *ch.Folder); err != nil {
			return Item{}, err
		}
	}
	if err := s.decide.Require(ctx, p, id, need); err != nil {
		return Item{}, err
	}
	var name string
	if ch.Filename != nil {
		n, err := CleanFilename(*ch.Filename)
		if err != nil {
			return Item{}, err
		}
		name = n
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if ch.Folder != nil {
			// Neither into nor out of a folder that went to the trash since
			// the check: TrashFolder withdraws what is published inside
			// under this lock. Taken first, as Restore takes it.
			if err := acl.FolderTreeLock(ctx, tx); err != nil {
				return err
			}
		}
		if ch.Filename != nil {
			if _, err := tx.Exec(ctx, `UPDATE media SET filename = $2 WHERE id = $1`, id, name); err != nil {
				return err
			}
		}
		if ch.Folder != nil {
			if *ch.Folder != nil {
				if trashed, err := acl.FolderTrashed(ctx, tx, **ch.Folder); err != nil {
					return err
				} else if trashed {
					return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
				}
			}
			tag, err := tx.Exec(ctx, `UPDATE media m SET folder_id = $2
				WHERE m.id = $1 AND NOT (SELECT t FROM mg_media_trashed(m.id) t)`, id, *ch.Folder)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return fmt.Errorf("%w: no such folder", errs.ErrNotFound)
			}
			if err == nil && tag.RowsAffected() == 0 {
				return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return Item{}, fmt.Errorf("update item: %w", err)
	}
	s.changed()
	// Not Get: a move may take the item out of p's reach, and p should
	// still be told how the change turned out (Permission says none).
	it, err := s.load(ctx, p, id)
	if errors.Is(err, pgx.ErrNoRows) { // deleted meanwhile
		return Item{}, fmt.Errorf("%w: no such media item", errs.ErrNotFound)
	}
	return it, err
}

// dropUnreferenced deletes, in tx, the rows of the candidate blobs that
// nothing needs any more, and then of their derived files, each under its
// lock, and returns them: their bytes go after the commit. A blob whose
// pipeline job is still due has it cancelled in the same transaction. The
// candidates' locks are taken in one order (sorted), so that two
// transactions sharing blobs (two purges, a purge and a replace) can't
// deadlock on them.
func (s *Store) dropUnreferenced(ctx context.Context, tx pgx.Tx, candidates []string) ([]string, error) {
	candidates = slices.Sorted(slices.Values(candidates))
	var gone []string
	seen := map[string]bool{}
	for len(candidates) > 0 {
		sha := candidates[0]
		candidates = candidates[1:]
		if seen[sha] {
			continue
		}
		seen[sha] = true
		if err := blobLock(ctx, tx, sha); err != nil {
			return nil, err
		}
		var referenced bool
		if err := tx.QueryRow(ctx, `SELECT mg_blob_referenced($1)`, sha).Scan(&referenced); err != nil {
			return nil, err
		}
		if referenced {
			continue
		}
		var derived []string
		var job *int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT array_agg(blob) FROM derivatives WHERE source = $1), '{}'),
			(SELECT job_id FROM blob_info WHERE blob = $1)`, sha).Scan(&derived, &job); err != nil {
			return nil, err
		}
		if c, ok := s.enqueue.(Canceler); ok && job != nil {
			if err := c.CancelTx(ctx, tx, *job); err != nil {
				return nil, fmt.Errorf("cancel the media pipeline: %w", err)
			}
		}
		// The derivatives and blob_info rows go with the blob's (cascade).
		tag, err := tx.Exec(ctx, `DELETE FROM blobs WHERE sha256 = $1`, sha)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			gone = append(gone, sha)
		}
		candidates = append(candidates, derived...)
	}
	return gone, nil
}

// storeTx records the received rec as a blob and puts its bytes to
// storage, in tx and under the blob's lock, so that a row and its bytes are
// only ever seen to agree: identical content is stored once, and new
// content that the pipeline handles gets its job in the same transaction
// when pipeline is set. If the transaction fails afterwards the bytes may
// stay without a row; Recover removes such blobs.
func (s *Store) storeTx(ctx context.Context, tx pgx.Tx, rec *Received, pipeline bool) error {
	if err := blobLock(ctx, tx, rec.SHA256); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO blobs (sha256, size, content_type, extension) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sha256) DO NOTHING`, rec.SHA256, rec.Size, rec.ContentType, rec.Extension)
	if err != nil {
		return err
	}
	if pipeline && tag.RowsAffected() == 1 {
		if err := s.enqueueNew(ctx, tx, rec.SHA256, rec.ContentType); err != nil {
			return err
		}
	}
	return s.blobs.Put(ctx, rec.SHA256, rec.path)
}

// removeGone removes, after a commit, the bytes of blobs whose rows it
// deleted; a failure is logged, and Recover finishes the job.
func (s *Store) removeGone(ctx context.Context, gone []string) {
	ctx = context.WithoutCancel(ctx)
	for _, b := range gone {
		if err := s.removeUnreferenced(ctx, b); err != nil {
			s.log.ErrorContext(ctx, "remove a blob nothing needs (Recover will)", "sha256", b, "err", err)
		}
	}
}

// removeUnreferenced removes sha's blob unless a row refers to it again.
func (s *Store) removeUnreferenced(ctx context.Context, sha string) error {
	return s.withBlob(ctx, sha, func(hasRow bool) error {
		if hasRow {
			return nil
		}
		return s.blobs.Remove(ctx, sha)
	})
}

// publisher returns the storage's Publisher, or the error that it has none.
func (s *Store) publisher() (Publisher, error) {
	pub, ok := s.blobs.(Publisher)
	if !ok {
		return nil, fmt.Errorf("%w: %s cannot publish files", errs.ErrInvalid, s.blobs.Describe())
	}
	return pub, nil
}

// Publish makes the item public at PublicPrefix + the returned name. An
// item keeps one public name for its life: publishing again, published or
// not since, gives the same name back (PublishNewURL makes another).
func (s *Store) Publish(ctx context.Context, p acl.Principal, id string) (string, error) {
	return s.publish(ctx, p, id, false)
}

// PublishNewURL is Publish under a fresh public name: the item's old name,
// published or withdrawn, is gone for good and serves nothing any more.
func (s *Store) PublishNewURL(ctx context.Context, p acl.Principal, id string) (string, error) {
	return s.publish(ctx, p, id, true)
}

func (s *Store) publish(ctx context.Context, p acl.Principal, id string, fresh bool) (string, error) {
	if err := s.decide.Require(ctx, p, id, acl.Manage); err != nil {
		return "", err
	}
	pub, err := s.publisher()
	if err != nil {
		return "", err
	}
	var name string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		var sha, ext, published, withdrawn string
		// Not an item that went to the trash since the check: Trash
		// withdraws the published file under the same lock.
		err := tx.QueryRow(ctx, `SELECT b.sha256, b.extension, COALESCE(m.public_name, ''), COALESCE(m.withdrawn_public_name, '')
			FROM media m JOIN blobs b ON b.sha256 = m.blob
			WHERE m.id = $1 AND NOT (SELECT t FROM mg_media_trashed(m.id) t) FOR UPDATE OF m`, id).Scan(&sha, &ext, &published, &withdrawn)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case fresh:
			name = newPublicName(ext)
		case published != "":
			name = published
		case withdrawn != "":
			name = withdrawn
		default:
			name = newPublicName(ext)
		}
		if name != published {
			if _, err := tx.Exec(ctx, `UPDATE media SET public_name = $2, withdrawn_public_name = NULL WHERE id = $1`, id, name); err != nil {
				return err
			}
		}
		// A link made for a transaction that then fails is removed by Recover.
		if err := pub.Publish(ctx, sha, name); err != nil {
			return err
		}
		// The old name's file goes before the commit, as Unpublish's does: a
		// failure here leaves the old name published.
		if published != "" && published != name {
			return pub.Unpublish(ctx, published)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	s.changed()
	return name, nil
}

// Unpublish takes the item off PublicPrefix: its public URL answers 404
// until it is published again, under the same name. The public file is gone
// before this returns.
func (s *Store) Unpublish(ctx context.Context, p acl.Principal, id string) error {
	if err := s.decide.Require(ctx, p, id, acl.Manage); err != nil {
		return err
	}
	pub, err := s.publisher()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		var name string
		err := tx.QueryRow(ctx, `SELECT COALESCE(public_name, '') FROM media WHERE id = $1 FOR UPDATE`, id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
		}
		if err != nil || name == "" {
			return err
		}
		// The link goes first: if the update then fails the item is merely
		// unreachable, and Recover relinks what the database says is public.
		if err := pub.Unpublish(ctx, name); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE media SET public_name = NULL, withdrawn_public_name = $2 WHERE id = $1`, id, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("unpublish: %w", err)
	}
	s.changed()
	return nil
}

// ByPublicName returns the published item with name, for serving it without
// nginx; not while it is in the trash. Only names of Publish's own form are
// looked up.
func (s *Store) ByPublicName(ctx context.Context, name string) (Item, error) {
	if !publicNameRE.MatchString(name) {
		return Item{}, fmt.Errorf("%w: no such file", errs.ErrNotFound)
	}
	it, err := scanItem(s.pool.QueryRow(ctx, `SELECT `+itemColumns+itemFrom+
		`WHERE m.public_name = $1 AND NOT (SELECT t FROM mg_media_trashed(m.id) t)`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, fmt.Errorf("%w: no such file", errs.ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("%w: load item: %w", errs.ErrUnavailable, err)
	}
	return it, nil
}

// CheckReplace says whether p may replace item id's file, before a byte of
// it is read: edit is needed, and manage when the item is published, as
// replacing it changes what its public URL serves.
func (s *Store) CheckReplace(ctx context.Context, p acl.Principal, id string) error {
	it, err := s.Get(ctx, p, id)
	if err != nil {
		return err
	}
	return acl.Check(it.Permission, replaceNeeds(it.PublicName))
}

// replaceNeeds is the level replacing an item's file needs, public being
// its public name or empty.
func replaceNeeds(public string) acl.Level {
	if public != "" {
		return acl.Manage
	}
	return acl.Edit
}

// levelNowSQL is $1's level on item $2 as it is now: with the user's role
// as stored, and none once the user is disabled or gone.
const levelNowSQL = `SELECT lvl FROM users u CROSS JOIN LATERAL mg_level(u.id, u.role, $2) lvl
	WHERE u.id = $1 AND u.disabled_at IS NULL`

// Replace puts new content under item id, keeping its id, URL, grants,
// links and public URL: p needs what CheckReplace says, checked before a
// byte of body is read and again, under the item's lock, once it is all
// here (a revoke, a demotion, a disable or the trash may have come in the
// meantime). The body is spooled, stored and recorded in one transaction,
// with the replacement in the item's audit; the pipeline runs for the new
// content; the old content goes when nothing else needs it. The public file
// switches last, just before the commit; a transaction that fails after it
// puts the old content back, and Recover mends what a crash left.
func (s *Store) Replace(ctx context.Context, p acl.Principal, id string, body io.Reader) (Item, error) {
	if err := s.CheckReplace(ctx, p, id); err != nil {
		return Item{}, err
	}
	rec, err := s.spool.Receive(body, s.limit)
	if err != nil {
		return Item{}, err
	}
	defer rec.Discard()
	ctx = context.WithoutCancel(ctx) // the bytes are all here
	var gone []string
	var public string
	switched := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		gone, switched = nil, false
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		var old string
		var poster *string
		err := tx.QueryRow(ctx, `SELECT blob, COALESCE(public_name, ''), poster FROM media WHERE id = $1 FOR UPDATE`, id).Scan(&old, &public, &poster)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoItem
		}
		if err != nil {
			return err
		}
		// Under the public lock, which Trash takes too: an item in the
		// trash is level none here.
		level := acl.None
		if err := tx.QueryRow(ctx, levelNowSQL, p.UserID, id).Scan(&level); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := acl.Check(level, replaceNeeds(public)); err != nil {
			return err
		}
		if err := s.storeTx(ctx, tx, rec, true); err != nil {
			return err
		}
		// A poster chosen for the old content (maybe a frame of it) goes with
		// it: nothing of replaced content stays reachable.
		if _, err := tx.Exec(ctx, `UPDATE media SET blob = $2, poster = NULL WHERE id = $1`, id, rec.SHA256); err != nil {
			return err
		}
		if err := recordChanges(ctx, tx, "replace", p.Email, []string{id}); err != nil {
			return err
		}
		candidates := []string{}
		if old != rec.SHA256 {
			candidates = append(candidates, old)
		}
		if poster != nil {
			candidates = append(candidates, *poster)
		}
		if gone, err = s.dropUnreferenced(ctx, tx, candidates); err != nil {
			return err
		}
		// The same public URL, the new content.
		if pub, ok := s.blobs.(Publisher); ok && public != "" && old != rec.SHA256 {
			switched = true
			if err := pub.Unpublish(ctx, public); err != nil {
				return err
			}
			return pub.Publish(ctx, rec.SHA256, public)
		}
		return nil
	})
	if err != nil {
		if switched {
			s.restorePublic(ctx, public)
		}
		return Item{}, fmt.Errorf("replace: %w", err)
	}
	s.changed()
	s.removeGone(ctx, gone)
	return s.Get(ctx, p, id)
}

// restorePublic makes the public file name what the database says it is, after
// a transaction that switched it failed: the blob of the item published
// under it, or nothing. A failure here is logged; Recover mends it at the
// next start.
func (s *Store) restorePublic(ctx context.Context, name string) {
	pub, ok := s.blobs.(Publisher)
	if !ok {
		return
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		var sha string
		err := tx.QueryRow(ctx, `SELECT m.blob FROM media m WHERE m.public_name = $1
			AND NOT (SELECT t FROM mg_media_trashed(m.id) t)`, name).Scan(&sha)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := pub.Unpublish(ctx, name); err != nil || sha == "" {
			return err
		}
		return pub.Publish(ctx, sha, name)
	})
	if err != nil {
		s.log.Error("putting a public file back after a failed replace", "name", name, "err", err)
	}
}
