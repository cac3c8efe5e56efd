package media

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// Enqueuer starts the media pipeline for a new blob, inside the transaction
// that records it, so that a blob is never stored without its job (package
// jobs implements it with River).
type Enqueuer interface {
	EnqueueTx(ctx context.Context, tx pgx.Tx, blob string) (jobID int64, err error)
}

// Canceler is the ability of Enqueuers that can cancel a blob's job, in the
// transaction that deletes the blob.
type Canceler interface {
	CancelTx(ctx context.Context, tx pgx.Tx, jobID int64) error
}

// SetEnqueuer makes every new blob of a type the pipeline handles start it.
func (s *Store) SetEnqueuer(e Enqueuer) { s.enqueue = e }

// Processable reports whether the pipeline handles a content type: video,
// audio and images (not SVG, which is a document).
func Processable(contentType string) bool {
	// The same types a browser shows inline: what a player or a tile shows.
	return Inline(contentType)
}

// enqueueNew records that a blob just stored awaits the pipeline and starts
// it, in tx.
func (s *Store) enqueueNew(ctx context.Context, tx pgx.Tx, sha, contentType string) error {
	if s.enqueue == nil || !Processable(contentType) {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO blob_info (blob) VALUES ($1) ON CONFLICT (blob) DO NOTHING`, sha); err != nil {
		return err
	}
	id, err := s.enqueue.EnqueueTx(ctx, tx, sha)
	if err != nil {
		return fmt.Errorf("start the media pipeline: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE blob_info SET job_id = $2 WHERE blob = $1`, sha, id)
	return err
}

// The kinds of derived files.
const (
	DerivedPoster = "poster" // a representative frame of a video, at most 1280x720
	DerivedThumb  = "thumb"  // a grid thumbnail of a video or an image, at most 320x180
	DerivedStream = "stream" // a faststart remux of an MP4 whose moov came last
)

// DerivedKinds lists the kinds, for routes and checks.
var DerivedKinds = []string{DerivedPoster, DerivedThumb, DerivedStream}

// The pipeline's states of a blob.
const (
	InfoPending = "pending"
	InfoReady   = "ready"
	InfoFailed  = "failed"
)

// Info is what the pipeline knows of a blob's content.
type Info struct {
	State      string // InfoPending, InfoReady or InfoFailed; "" when the pipeline does not handle the type
	Reason     string // why it failed, in words for editors
	Kind       string // video, audio, image
	Duration   float64
	Width      int
	Height     int
	Rotation   int
	VideoCodec string
	AudioCodec string
	Bitrate    int64
	Derived    map[string]bool // the derived kinds that exist
	UpdatedAt  time.Time
}

// BlobInfo returns what the pipeline knows of sha's content.
func (s *Store) BlobInfo(ctx context.Context, sha string) (Info, error) {
	m, err := s.BlobInfos(ctx, []string{sha})
	return m[sha], err
}

// BlobInfos returns what the pipeline knows of each blob, in one query; a
// blob it does not handle has no entry.
func (s *Store) BlobInfos(ctx context.Context, shas []string) (map[string]Info, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT i.blob, i.state, i.reason, i.kind, COALESCE(i.duration, 0), COALESCE(i.width, 0), COALESCE(i.height, 0),
		       COALESCE(i.rotation, 0), i.video_codec, i.audio_codec, COALESCE(i.bitrate, 0), i.updated_at,
		       COALESCE((SELECT array_agg(kind ORDER BY kind) FROM derivatives WHERE source = i.blob), '{}')
		FROM blob_info i WHERE i.blob = ANY($1)`, shas)
	if err != nil {
		return nil, fmt.Errorf("%w: load media info: %w", errs.ErrUnavailable, err)
	}
	out := map[string]Info{}
	var sha string
	var in Info
	var kinds []string
	_, err = pgx.ForEachRow(rows, []any{&sha, &in.State, &in.Reason, &in.Kind, &in.Duration, &in.Width, &in.Height,
		&in.Rotation, &in.VideoCodec, &in.AudioCodec, &in.Bitrate, &in.UpdatedAt, &kinds}, func() error {
		in.Derived = map[string]bool{}
		for _, k := range kinds {
			in.Derived[k] = true
		}
		out[sha] = in
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: load media info: %w", errs.ErrUnavailable, err)
	}
	return out, nil
}

// SetInfo records what probing sha found; the state stays pending until
// SetReady or SetFailed.
func (s *Store) SetInfo(ctx context.Context, sha string, in Info) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE blob_info SET kind = $2, duration = $3, width = $4, height = $5, rotation = $6,
			video_codec = $7, audio_codec = $8, bitrate = $9, updated_at = now()
		WHERE blob = $1`, sha, in.Kind, in.Duration, in.Width, in.Height, in.Rotation, in.VideoCodec, in.AudioCodec, in.Bitrate)
	return err
}

// SetState ends the pipeline's work on sha: ready, or failed with a reason
// for editors.
func (s *Store) SetState(ctx context.Context, sha, state, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE blob_info SET state = $2, reason = $3, job_id = NULL, updated_at = now() WHERE blob = $1`,
		sha, state, reason)
	return err
}

// RestartTx marks sha pending again under the new job id, for a retry, in tx.
func RestartTx(ctx context.Context, tx pgx.Tx, sha string, jobID int64) error {
	_, err := tx.Exec(ctx, `UPDATE blob_info SET state = 'pending', reason = '', job_id = $2, updated_at = now() WHERE blob = $1`, sha, jobID)
	return err
}

// Blob is a stored blob as the pipeline reads it.
type Blob struct {
	SHA256, ContentType string
	Size                int64
}

// LoadBlob returns the blob sha; ErrNotFound once nothing needs it.
func (s *Store) LoadBlob(ctx context.Context, sha string) (Blob, error) {
	b := Blob{SHA256: sha}
	err := s.pool.QueryRow(ctx, `SELECT size, content_type FROM blobs WHERE sha256 = $1`, sha).Scan(&b.Size, &b.ContentType)
	if errors.Is(err, pgx.ErrNoRows) {
		return Blob{}, fmt.Errorf("%w: no such blob", errs.ErrNotFound)
	}
	return b, err
}

// PutDerived stores the file at path as the kind derived file of source:
// hashed and sniffed like an upload, put to storage under its own content
// key, recorded with the source's lock held, so that a source deleted
// meanwhile takes nothing with it that stays. The file is consumed.
func (s *Store) PutDerived(ctx context.Context, source, kind, path string) error {
	rec, err := s.spool.Adopt(path)
	if err != nil {
		return err
	}
	defer rec.Discard()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := blobLock(ctx, tx, source); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)`, source).Scan(&exists); err != nil || !exists {
			if err == nil {
				err = fmt.Errorf("%w: the source blob is gone", errs.ErrNotFound)
			}
			return err
		}
		if err := s.storeTx(ctx, tx, rec, false); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO derivatives (source, kind, blob) VALUES ($1, $2, $3)
			ON CONFLICT (source, kind) DO UPDATE SET blob = EXCLUDED.blob`, source, kind, rec.SHA256)
		return err
	})
	if err != nil {
		return fmt.Errorf("store the %s: %w", kind, err)
	}
	return nil
}

// Derived returns, for an item the caller may view (from Get), the kind
// derived file of its content, as an Item that the Sender delivers: the
// item's id, the derived blob's bytes and type. ErrNotFound when there is
// none (yet).
func (s *Store) Derived(ctx context.Context, it Item, kind string) (Item, error) {
	var d Item
	// An editor's choice of poster comes before the pipeline's.
	err := s.pool.QueryRow(ctx, `
		SELECT b.sha256, b.size, b.content_type, b.extension, b.created_at FROM blobs b
		WHERE b.sha256 = COALESCE(
			CASE WHEN $2 = 'poster' THEN (SELECT poster FROM media WHERE id = $3) END,
			(SELECT blob FROM derivatives WHERE source = $1 AND kind = $2))`, it.SHA256, kind, it.ID).
		Scan(&d.SHA256, &d.Size, &d.ContentType, &d.Extension, &d.StoredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, fmt.Errorf("%w: no %s for this item", errs.ErrNotFound, kind)
	}
	if err != nil {
		return Item{}, fmt.Errorf("%w: load %s: %w", errs.ErrUnavailable, kind, err)
	}
	d.ID, d.Folder, d.Owner, d.Permission, d.CreatedAt = it.ID, it.Folder, it.Owner, it.Permission, it.CreatedAt
	d.Filename = derivedName(it.Filename, kind, d.Extension)
	return d, nil
}

// derivedName is what a derived file is called when saved: the item's name
// without its extension, the kind, the derived file's own extension.
func derivedName(name, kind, ext string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if kind == DerivedStream {
		return name + ext
	}
	return name + "-" + kind + ext
}

// SetPoster makes the image file at path (in this process's temp dir, a
// JPEG made by video.Frame) item id's poster, instead of the pipeline's; p
// needs edit. The choice was made for the item's content whose SHA-256 is
// of: if a replace came in meanwhile (and dropped the posters of the old
// content), it is a conflict and nothing changes. The file is consumed; the
// previous choice goes when nothing else needs it.
func (s *Store) SetPoster(ctx context.Context, p acl.Principal, id, of, path string) error {
	if err := s.decide.Require(ctx, p, id, acl.Edit); err != nil {
		return err
	}
	rec, err := s.spool.Adopt(path)
	if err != nil {
		return err
	}
	defer rec.Discard()
	var gone []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		gone = nil
		if err := s.storeTx(ctx, tx, rec, false); err != nil {
			return err
		}
		var old *string
		var blob string
		err := tx.QueryRow(ctx, `SELECT poster, blob FROM media WHERE id = $1 FOR UPDATE`, id).Scan(&old, &blob)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no such media item", errs.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if blob != of {
			return fmt.Errorf("%w: the item's file was replaced while its poster was made; choose the poster again", errs.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE media SET poster = $2 WHERE id = $1`, id, rec.SHA256); err != nil {
			return err
		}
		if old != nil && *old != rec.SHA256 {
			gone, err = s.dropUnreferenced(ctx, tx, []string{*old})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set poster: %w", err)
	}
	s.removeGone(ctx, gone)
	return nil
}

// ClearPoster goes back to the pipeline's poster for item id; p needs edit.
func (s *Store) ClearPoster(ctx context.Context, p acl.Principal, id string) error {
	if err := s.decide.Require(ctx, p, id, acl.Edit); err != nil {
		return err
	}
	var gone []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var old *string
		if err := tx.QueryRow(ctx, `SELECT poster FROM media WHERE id = $1 FOR UPDATE`, id).Scan(&old); err != nil {
			return err
		}
		if old == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE media SET poster = NULL WHERE id = $1`, id); err != nil {
			return err
		}
		var err error
		gone, err = s.dropUnreferenced(ctx, tx, []string{*old})
		return err
	})
	if err != nil {
		return fmt.Errorf("clear poster: %w", err)
	}
	s.removeGone(ctx, gone)
	return nil
}

// PosterChosen reports whether an editor chose item id's poster (SetPoster),
// for an item the caller was allowed to see.
func (s *Store) PosterChosen(ctx context.Context, id string) (bool, error) {
	var chosen bool
	err := s.pool.QueryRow(ctx, `SELECT poster IS NOT NULL FROM media WHERE id = $1`, id).Scan(&chosen)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("%w: no such media item", errs.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("%w: load the poster: %w", errs.ErrUnavailable, err)
	}
	return chosen, nil
}
