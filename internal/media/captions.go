package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// Caption is a WebVTT track an editor attached to an item.
type Caption struct {
	ID        string
	MediaID   string
	Lang      string // a BCP 47 tag such as en or pt-BR
	Label     string // what the player's menu shows
	SHA256    string
	Size      int64
	CreatedAt time.Time
}

// CaptionType is what captions are served as.
const CaptionType = "text/vtt; charset=utf-8"

// langRE is a well-formed BCP 47 language tag (RFC 5646's langtag) whose
// language is an ISO 639 code of two or three letters, the only ones in
// use: extended languages, script, region, variants, extensions and a
// private use part, such as en, pt-BR, zh-Hant-TW, sgn-ase or de-CH-1901.
// media.js checks the same before sending.
var langRE = regexp.MustCompile(`(?i)^[a-z]{2,3}(-[a-z]{3}){0,3}(-[a-z]{4})?(-([a-z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*(-[0-9a-wyz](-[a-z0-9]{2,8})+)*(-x(-[a-z0-9]{1,8})+)?$`)

// maxLang bounds a language tag; real ones are far shorter.
const maxLang = 64

// AddCaption attaches vtt, clean WebVTT (see video.ToWebVTT), to item id as
// a track in lang named label. p needs edit on the item.
func (s *Store) AddCaption(ctx context.Context, p acl.Principal, id, lang, label string, vtt []byte) (Caption, error) {
	if err := s.decide.Require(ctx, p, id, acl.Edit); err != nil {
		return Caption{}, err
	}
	label = strings.TrimSpace(label)
	switch {
	case len(lang) > maxLang || !langRE.MatchString(lang):
		return Caption{}, fmt.Errorf("%w: lang must be a language tag such as en or pt-BR", errs.ErrInvalid)
	case label == "" || utf8.RuneCountInString(label) > 100 || !utf8.ValidString(label) || strings.ContainsFunc(label, func(r rune) bool {
		return unicode.IsControl(r) || isBidiControl(r) || unicode.Is(unicode.Cf, r)
	}):
		return Caption{}, fmt.Errorf("%w: label must be 1 to 100 characters, none of them control or direction marks", errs.ErrInvalid)
	}
	rec, err := s.spool.Receive(bytes.NewReader(vtt), int64(len(vtt)))
	if err != nil {
		return Caption{}, err
	}
	defer rec.Discard()
	rec.ContentType, rec.Extension = CaptionType, ".vtt" // what a track is served as, whatever it sniffs as
	c := Caption{MediaID: id, Lang: lang, Label: label, SHA256: rec.SHA256, Size: rec.Size}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.storeTx(ctx, tx, rec, false); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO captions (media_id, lang, label, blob) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
			id, lang, label, rec.SHA256).Scan(&c.ID, &c.CreatedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" {
			return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return Caption{}, fmt.Errorf("add caption: %w", err)
	}
	return c, nil
}

// Captions lists the tracks of an item the caller was allowed to see (the
// caller checked that, with Get or a link).
func (s *Store) Captions(ctx context.Context, id string) ([]Caption, error) {
	if !acl.ValidID(id) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.media_id, c.lang, c.label, c.blob, b.size, c.created_at
		FROM captions c JOIN blobs b ON b.sha256 = c.blob WHERE c.media_id = $1 ORDER BY c.created_at, c.id`, id)
	if err != nil {
		return nil, fmt.Errorf("%w: list captions: %w", errs.ErrUnavailable, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Caption, error) {
		var c Caption
		return c, r.Scan(&c.ID, &c.MediaID, &c.Lang, &c.Label, &c.SHA256, &c.Size, &c.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: list captions: %w", errs.ErrUnavailable, err)
	}
	return out, nil
}

// CaptionFile returns, for an item the caller may view, its caption cid as
// an Item the Sender delivers.
func (s *Store) CaptionFile(ctx context.Context, it Item, cid string) (Item, error) {
	notFound := fmt.Errorf("%w: no such caption", errs.ErrNotFound)
	if !acl.ValidID(cid) {
		return Item{}, notFound
	}
	d := Item{ID: it.ID, Folder: it.Folder, Owner: it.Owner, Permission: it.Permission, CreatedAt: it.CreatedAt, ContentType: CaptionType}
	var lang string
	err := s.pool.QueryRow(ctx, `
		SELECT c.blob, b.size, b.created_at, c.lang FROM captions c JOIN blobs b ON b.sha256 = c.blob
		WHERE c.id = $1 AND c.media_id = $2`, cid, it.ID).Scan(&d.SHA256, &d.Size, &d.StoredAt, &lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, notFound
	}
	if err != nil {
		return Item{}, fmt.Errorf("%w: load caption: %w", errs.ErrUnavailable, err)
	}
	d.Filename = derivedName(it.Filename, lang, ".vtt")
	return d, nil
}

// DeleteCaption removes caption cid of item id; p needs edit on the item.
func (s *Store) DeleteCaption(ctx context.Context, p acl.Principal, id, cid string) error {
	if err := s.decide.Require(ctx, p, id, acl.Edit); err != nil {
		return err
	}
	if !acl.ValidID(cid) {
		return fmt.Errorf("%w: no such caption", errs.ErrNotFound)
	}
	var gone []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var sha string
		err := tx.QueryRow(ctx, `DELETE FROM captions WHERE id = $1 AND media_id = $2 RETURNING blob`, cid, id).Scan(&sha)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no such caption", errs.ErrNotFound)
		}
		if err != nil {
			return err
		}
		gone, err = s.dropUnreferenced(ctx, tx, []string{sha})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete caption: %w", err)
	}
	s.removeGone(ctx, gone)
	return nil
}
