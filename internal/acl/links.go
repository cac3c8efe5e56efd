package acl

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/passwd"
)

// Share links give whoever holds their token view access to one item, or to
// every item below one folder (at any depth, as the tree is when the link is
// used). A link may expire, may need a password, and may be revoked. Only the
// token's SHA-256 is stored: the token itself is shown once, at creation.

// LinkTokenPrefix starts every share token, so that leaked ones are easy to
// spot, and the logs redact whatever looks like one.
const LinkTokenPrefix = config.ShareTokenPrefix

// linkTokenLen is the length of a token: the prefix and 32 bytes in base64url.
var linkTokenLen = len(LinkTokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// Limits on what a link is created with.
const (
	// MaxLinkLifetime is the longest expiry a link may be given.
	MaxLinkLifetime = 10 * 365 * 24 * time.Hour
	// MinLinkPassword and MaxLinkPassword bound a link's password, in bytes.
	MinLinkPassword = 8
	MaxLinkPassword = 1024
)

// ErrLinkLocked is the answer for a link with a password that was not given
// in the caller's browser.
var ErrLinkLocked = fmt.Errorf("%w: this share link needs its password", errs.ErrForbidden)

// Link is a share link as its managers see it; the token is never part of it.
type Link struct {
	ID          string     `json:"id"`
	MediaID     *string    `json:"media_id,omitempty"`
	FolderID    *string    `json:"folder_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	HasPassword bool       `json:"has_password"`
	Revoked     bool       `json:"revoked"`
	CreatedBy   *string    `json:"created_by"` // the creator's email; null once the account is gone

	passwordHash string
}

// usable returns ErrGone when the link was revoked or has expired by now.
func (l Link) usable(now time.Time) error {
	switch {
	case l.Revoked:
		return fmt.Errorf("%w: this share link was revoked", errs.ErrGone)
	case l.ExpiresAt != nil && !now.Before(*l.ExpiresAt):
		return fmt.Errorf("%w: this share link has expired", errs.ErrGone)
	}
	return nil
}

// CheckPassword reports whether password is link l's, checked under the
// hashing bound. A link without a password matches none.
func (ls *Links) CheckPassword(ctx context.Context, l Link, password string) (bool, error) {
	if l.passwordHash == "" {
		return false, nil
	}
	return ls.hasher.Compare(ctx, password, l.passwordHash)
}

// SharedItem is an item reached through a link: what delivering it and
// listing it need, and nothing about its owner or grants.
type SharedItem struct {
	ID          string
	Filename    string
	SHA256      string
	Size        int64
	ContentType string
	CreatedAt   time.Time
	StoredAt    time.Time
	Path        string // the folders between the link's folder and the item ("" directly in it); listings only
}

// Share is what a link opens: the link and either its item or its folder's name.
type Share struct {
	Link   Link
	Item   *SharedItem // item links
	Folder string      // folder links: the folder's name
}

// LinkTarget is what a link is on: an item, or a folder when Folder is set.
type LinkTarget struct {
	Folder bool
	ID     string
}

func (t LinkTarget) target() target {
	if t.Folder {
		return target{"folder_id", t.ID}
	}
	return target{"media_id", t.ID}
}

// LinkOptions are a new link's optional expiry and password.
type LinkOptions struct {
	ExpiresIn *int64  // seconds from now; nil: never
	Password  *string // nil: none
}

// Links creates, lists, revokes and resolves share links.
type Links struct {
	d      *Decider
	hasher *passwd.Hasher
	// access caches resolved links by token hash and item, kept exact by the
	// decider's hub: links, items and folders all notify "acl". Only links
	// that exist are cached; expiry is checked on every use.
	access *invalidate.Cache[linkKey, linkAccess]
}

type linkKey struct {
	hash [32]byte
	item string // "" for the link's own target
}

// linkAccess is one resolution: the link, its folder's name and, when found
// through it, the item.
type linkAccess struct {
	link   Link
	folder string
	item   *SharedItem // nil when there is no such item under the link
}

// NewLinks returns Links deciding through d, cached when d is, hashing
// passwords with h.
func NewLinks(d *Decider, h *passwd.Hasher) *Links {
	return &Links{d: d, hasher: h,
		access: invalidate.NewCache[linkKey, linkAccess](d.hub, invalidate.ACL, "links", 100_000)}
}

// newLinkToken returns a fresh token and the hash stored for it.
func newLinkToken() (string, [32]byte) {
	b := make([]byte, 32)
	rand.Read(b)
	token := LinkTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, sha256.Sum256([]byte(token))
}

// Create makes a link on t and returns it with its token, which is not
// stored and cannot be shown again. p needs manage on t: a link passes
// access on.
func (ls *Links) Create(ctx context.Context, p Principal, t LinkTarget, opt LinkOptions) (Link, string, error) {
	if !p.Valid() {
		return Link{}, "", errs.ErrUnauthenticated
	}
	var expires *time.Time
	if opt.ExpiresIn != nil {
		s := *opt.ExpiresIn
		if s < 1 || s > int64(MaxLinkLifetime/time.Second) {
			return Link{}, "", fmt.Errorf("%w: expires_in must be between 1 and %d seconds", errs.ErrInvalid, int64(MaxLinkLifetime/time.Second))
		}
		at := time.Now().Add(time.Duration(s) * time.Second).Truncate(time.Microsecond)
		expires = &at
	}
	if opt.Password != nil && (len(*opt.Password) < MinLinkPassword || len(*opt.Password) > MaxLinkPassword) {
		return Link{}, "", fmt.Errorf("%w: a link password has %d to %d characters", errs.ErrInvalid, MinLinkPassword, MaxLinkPassword)
	}
	tg := t.target()
	if err := ls.d.requireManage(ctx, p, tg); err != nil {
		return Link{}, "", err
	}
	var hash *string
	if opt.Password != nil {
		h, err := ls.hasher.Hash(ctx, *opt.Password)
		if err != nil {
			return Link{}, "", err
		}
		hash = &h
	}
	token, sum := newLinkToken()
	l := Link{HasPassword: hash != nil, CreatedBy: &p.Email}
	err := ls.d.pool.QueryRow(ctx, `
		INSERT INTO links (token_hash, `+tg.column+`, password_hash, expires_at, created_by)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING id, media_id, folder_id, created_at, expires_at`,
		sum[:], tg.id, hash, expires, p.UserID).Scan(&l.ID, &l.MediaID, &l.FolderID, &l.CreatedAt, &l.ExpiresAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // the target went away meanwhile
		return Link{}, "", fmt.Errorf("%w: no such %s", errs.ErrNotFound, tg.noun())
	}
	if err != nil {
		return Link{}, "", fmt.Errorf("create link: %w", err)
	}
	return l, token, nil
}

// List returns the links on t, newest first, revoked and expired ones
// included. p needs manage on t.
func (ls *Links) List(ctx context.Context, p Principal, t LinkTarget) ([]Link, error) {
	tg := t.target()
	if err := ls.d.requireManage(ctx, p, tg); err != nil {
		return nil, err
	}
	rows, err := ls.d.pool.Query(ctx, `
		SELECT l.id, l.media_id, l.folder_id, l.created_at, l.expires_at, l.password_hash IS NOT NULL,
			l.revoked_at IS NOT NULL, u.email
		FROM links l LEFT JOIN users u ON u.id = l.created_by
		WHERE l.`+tg.column+` = $1
		ORDER BY l.created_at DESC, l.id`, tg.id)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Link, error) {
		var l Link
		err := row.Scan(&l.ID, &l.MediaID, &l.FolderID, &l.CreatedAt, &l.ExpiresAt, &l.HasPassword, &l.Revoked, &l.CreatedBy)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	if out == nil {
		out = []Link{}
	}
	return out, nil
}

// Revoke ends the link with id: from the next request on, on this instance
// at once and on the others as soon as they are notified. p needs manage on
// the link's target; for whoever cannot view the target the link does not
// exist. Revoking a revoked link is not an error.
func (ls *Links) Revoke(ctx context.Context, p Principal, id string) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	notFound := fmt.Errorf("%w: no such share link", errs.ErrNotFound)
	if !ValidID(id) {
		return notFound
	}
	var mediaID, folderID *string
	err := ls.d.pool.QueryRow(ctx, `SELECT media_id, folder_id FROM links WHERE id = $1`, id).Scan(&mediaID, &folderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("%w: load link: %w", errs.ErrUnavailable, err)
	}
	var level Level
	if folderID != nil {
		level, err = ls.d.FolderLevel(ctx, p, *folderID)
	} else if mediaID != nil {
		level, err = ls.d.Level(ctx, p, *mediaID)
	}
	if err != nil {
		return err
	}
	if level < View {
		return notFound
	}
	if err := Check(level, Manage); err != nil {
		return err
	}
	err = ls.d.change(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE links SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke link: %w", err)
	}
	return nil
}

// Open resolves token for its page. A revoked or expired link is ErrGone, an
// unknown token ErrNotFound. A link with a password that unlocked (nil:
// none) does not report as given is ErrLinkLocked; the Share then still
// holds the link.
func (ls *Links) Open(ctx context.Context, token string, unlocked func(linkID string) bool) (Share, error) {
	acc, err := ls.resolve(ctx, token, "")
	if err != nil {
		return Share{}, err
	}
	sh := Share{Link: acc.link, Item: acc.item, Folder: acc.folder}
	if err := acc.link.usable(time.Now()); err != nil {
		return sh, err
	}
	if acc.link.HasPassword && (unlocked == nil || !unlocked(acc.link.ID)) {
		return sh, ErrLinkLocked
	}
	return sh, nil
}

// Item resolves token and an item under it for delivery: the link's own
// item when item is "", else item, which must be the link's item or lie
// anywhere below its folder. The errors are Open's, and ErrNotFound for an
// item the link does not reach. The link is returned whenever the token is
// known, so that the caller can audit the decision.
func (ls *Links) Item(ctx context.Context, token, item string, unlocked func(linkID string) bool) (Link, SharedItem, error) {
	lookup, malformed := item, item != "" && !ValidID(item)
	if malformed {
		lookup = "" // still resolve the token: the caller audits against the link
	}
	acc, err := ls.resolve(ctx, token, lookup)
	if err != nil {
		return Link{}, SharedItem{}, err
	}
	if err := acc.link.usable(time.Now()); err != nil {
		return acc.link, SharedItem{}, err
	}
	if acc.link.HasPassword && (unlocked == nil || !unlocked(acc.link.ID)) {
		return acc.link, SharedItem{}, ErrLinkLocked
	}
	if malformed || acc.item == nil {
		return acc.link, SharedItem{}, fmt.Errorf("%w: no such item in this share", errs.ErrNotFound)
	}
	return acc.link, *acc.item, nil
}

// Items lists the items below the folder of l, a link Open answered, but
// not those in the trash, ordered by folder path and name, at most limit
// of them; more reports whether there were others.
func (ls *Links) Items(ctx context.Context, l Link, limit int) (items []SharedItem, more bool, err error) {
	if l.FolderID == nil {
		return nil, false, fmt.Errorf("%w: not a folder link", errs.ErrInvalid)
	}
	if limit < 1 {
		limit = 500
	}
	rows, err := ls.d.pool.Query(ctx, `
		WITH RECURSIVE tree (id, path, depth) AS (
			SELECT id, ''::text, 0 FROM folders WHERE id = $1 AND NOT (SELECT t FROM mg_folder_trashed($1) t)
			UNION ALL
			SELECT f.id, CASE WHEN t.path = '' THEN f.name ELSE t.path || '/' || f.name END, t.depth + 1
			FROM folders f JOIN tree t ON f.parent_id = t.id
			WHERE t.depth < 1000 -- a guard; moves refuse cycles
				AND f.deleted_at IS NULL -- the trash is not shared
		)
		SELECT m.id, m.filename, b.sha256, b.size, b.content_type, m.created_at, b.created_at, t.path
		FROM tree t JOIN media m ON m.folder_id = t.id AND m.deleted_at IS NULL JOIN blobs b ON b.sha256 = m.blob
		ORDER BY t.path, lower(m.filename), m.id
		LIMIT $2`, *l.FolderID, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("%w: list shared items: %w", errs.ErrUnavailable, err)
	}
	items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (SharedItem, error) {
		var it SharedItem
		err := row.Scan(&it.ID, &it.Filename, &it.SHA256, &it.Size, &it.ContentType, &it.CreatedAt, &it.StoredAt, &it.Path)
		return it, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("%w: list shared items: %w", errs.ErrUnavailable, err)
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	if items == nil {
		items = []SharedItem{}
	}
	return items, false, nil
}

// resolve looks the token up together with the item (the link's own when
// item is ""), checking in the same round trip that the item lies below the
// link's folder. An unknown token is ErrNotFound and is not cached.
func (ls *Links) resolve(ctx context.Context, token, item string) (linkAccess, error) {
	if len(token) != linkTokenLen || !strings.HasPrefix(token, LinkTokenPrefix) {
		return linkAccess{}, errNoLink
	}
	key := linkKey{sha256.Sum256([]byte(token)), item}
	return ls.access.Get(ctx, key, func(ctx context.Context) (linkAccess, error) {
		return ls.load(ctx, key)
	})
}

var errNoLink = fmt.Errorf("%w: there is no such share link", errs.ErrNotFound)

// resolveSQL finds the link by its token hash ($1) and the item ($2, or the
// link's own item when NULL), and whether the item is the link's or lies
// below its folder: the item's folder chain is walked up looking for it. A
// link whose item or folder is in the trash (or below a folder that is) is
// no link, and an item in the trash is not there.
const resolveSQL = `
	WITH RECURSIVE lk AS (
		SELECT l.id, l.media_id, l.folder_id, l.created_at, l.expires_at, l.revoked_at IS NOT NULL AS revoked,
			COALESCE(l.password_hash, '') AS password_hash, f.name AS folder_name
		FROM links l LEFT JOIN folders f ON f.id = l.folder_id
		WHERE l.token_hash = $1
			AND NOT (SELECT t FROM mg_media_trashed(l.media_id) t) AND NOT (SELECT t FROM mg_folder_trashed(l.folder_id) t)
	), it AS (
		SELECT m.id, m.filename, m.folder_id, m.created_at, b.sha256, b.size, b.content_type, b.created_at AS stored_at
		FROM media m JOIN blobs b ON b.sha256 = m.blob
		WHERE m.id = COALESCE($2::uuid, (SELECT media_id FROM lk)) AND NOT (SELECT t FROM mg_media_trashed(m.id) t)
	), up (id, parent_id, depth) AS (
		SELECT f.id, f.parent_id, 0 FROM folders f WHERE f.id = (SELECT folder_id FROM it)
		UNION ALL
		SELECT f.id, f.parent_id, u.depth + 1 FROM folders f JOIN up u ON f.id = u.parent_id
		WHERE u.depth < 1000 -- a guard; moves refuse cycles
	)
	SELECT lk.id, lk.media_id, lk.folder_id, lk.created_at, lk.expires_at, lk.revoked, lk.password_hash,
		COALESCE(lk.folder_name, ''),
		it.id, it.filename, it.sha256, it.size, it.content_type, it.created_at, it.stored_at,
		COALESCE(CASE WHEN lk.media_id IS NOT NULL THEN it.id = lk.media_id
			ELSE EXISTS (SELECT 1 FROM up WHERE up.id = lk.folder_id) END, false)
	FROM lk LEFT JOIN it ON true`

func (ls *Links) load(ctx context.Context, key linkKey) (linkAccess, error) {
	var item *string
	if key.item != "" {
		item = &key.item
	}
	var acc linkAccess
	l := &acc.link
	var (
		itemID, filename, sha, contentType *string
		size                               *int64
		created, stored                    *time.Time
		inside                             bool
	)
	err := ls.d.pool.QueryRow(ctx, resolveSQL, key.hash[:], item).Scan(
		&l.ID, &l.MediaID, &l.FolderID, &l.CreatedAt, &l.ExpiresAt, &l.Revoked, &l.passwordHash, &acc.folder,
		&itemID, &filename, &sha, &size, &contentType, &created, &stored, &inside)
	if errors.Is(err, pgx.ErrNoRows) {
		return linkAccess{}, errNoLink
	}
	if err != nil {
		return linkAccess{}, fmt.Errorf("%w: resolve share link: %w", errs.ErrUnavailable, err)
	}
	l.HasPassword = l.passwordHash != ""
	if inside && itemID != nil {
		acc.item = &SharedItem{ID: *itemID, Filename: *filename, SHA256: *sha, Size: *size,
			ContentType: *contentType, CreatedAt: *created, StoredAt: *stored}
	}
	return acc, nil
}
