package uploads

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/media"
)

// FsckReport is what Fsck found of the resumable uploads.
type FsckReport struct {
	Findings   []media.Finding
	InProgress int // unfinished uploads active within the expiry: no damage, they may resume
}

// Fsck finds what the janitor would remove at now: the uploads idle for
// longer than the expiry (receipts and bytes), and bytes older than that
// which have no receipt, in the uploads dir or the bucket. With repair it
// removes them by the janitor's own rules (Expire): each upload under its
// lock, so that one in use by a running instance is left, and is reported
// as left.
func (u *Uploads) Fsck(ctx context.Context, now time.Time, repair bool) (FsckReport, error) {
	var rep FsckReport
	cutoff := now.Add(-u.expiry)
	if err := u.pool.QueryRow(ctx, `
		SELECT count(*) FROM resumable_uploads WHERE finished_at IS NULL AND active_at >= $1`, cutoff).
		Scan(&rep.InProgress); err != nil {
		return rep, unavailable("count uploads", err)
	}
	found, err := u.leftovers(ctx, cutoff)
	if err != nil {
		return rep, err
	}
	left := map[string]bool{}
	if repair && len(found) > 0 {
		for {
			n, err := u.Expire(ctx, now)
			if err != nil {
				return rep, fmt.Errorf("remove expired uploads: %w", err)
			}
			if n == 0 {
				break
			}
		}
		after, err := u.leftovers(ctx, cutoff)
		if err != nil {
			return rep, err
		}
		for _, f := range after {
			left[f.Name] = true
		}
	}
	for _, f := range found {
		switch {
		case !repair:
			f.Action = "left: --repair removes it (so does a running instance's janitor)"
		case left[f.Name]:
			f.Action = "left: in use by a running instance"
		default:
			f.Repaired, f.Action = true, "removed"
		}
		rep.Findings = append(rep.Findings, f)
	}
	return rep, nil
}

// leftovers lists what the janitor would remove at cutoff.
func (u *Uploads) leftovers(ctx context.Context, cutoff time.Time) ([]media.Finding, error) {
	rows, err := u.pool.Query(ctx, `
		SELECT id, finished_at IS NOT NULL, size, active_at FROM resumable_uploads
		WHERE active_at < $1 ORDER BY active_at, id`, cutoff)
	if err != nil {
		return nil, unavailable("list idle uploads", err)
	}
	var out []media.Finding
	var id string
	var finished bool
	var size int64
	var active time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &finished, &size, &active}, func() error {
		what := "an unfinished upload (%d bytes announced), idle since %s, past the expiry"
		if finished {
			what = "the receipt of a finished upload (%d bytes), idle since %s, past the expiry"
		}
		out = append(out, media.Finding{Kind: media.FindUpload, Name: id,
			Detail: fmt.Sprintf(what, size, active.UTC().Format(time.RFC3339))})
		return nil
	}); err != nil {
		return nil, unavailable("list idle uploads", err)
	}
	orphans, err := u.orphans(ctx, cutoff)
	if err != nil {
		return nil, err
	}
	for _, o := range orphans {
		detail := fmt.Sprintf("%d bytes in %s with no receipt, last written %s", o.bytes, u.store.describe, o.last.UTC().Format(time.RFC3339))
		if len(o.parts) > 0 {
			detail += fmt.Sprintf(", %d multipart upload(s)", len(o.parts))
		}
		out = append(out, media.Finding{Kind: media.FindUpload, Name: o.id, Detail: detail})
	}
	return out, nil
}
