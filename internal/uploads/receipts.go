package uploads

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/errs"
)

// Receipt is what PostgreSQL keeps of a resumable upload from its creation
// until it expires (table resumable_uploads): whose it is, what it
// announced and, once it is finished, the item it became.
type Receipt struct {
	ID       string
	Owner    string // the creator's user id; "" once the account is gone
	Size     int64
	Filename string
	Folder   *string // nil: the root
	Item     string  // the item it became; "" until it is finished
	Created  time.Time
	Active   time.Time // the last write to it

	stored string // the store's id for the bytes, when it is not ID
}

// Finished reports whether the upload became an item.
func (r Receipt) Finished() bool { return r.Item != "" }

// dataID is the id of the upload's bytes in the store.
func (r Receipt) dataID() string { return cmp.Or(r.stored, r.ID) }

// errNoReceipt is an upload PostgreSQL knows nothing of.
var errNoReceipt = errors.New("no such upload")

// unavailable is a failed query: PostgreSQL is away, for the client a 503.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", errs.ErrUnavailable, what, err)
}

// receipt reads the receipt of the upload id; errNoReceipt if there is none.
func (u *Uploads) receipt(ctx context.Context, id string) (Receipt, error) {
	var r Receipt
	var owner, item, stored *string
	err := u.pool.QueryRow(ctx, `
		SELECT id, store_id, owner_id::text, size, filename, folder_id::text, media_id::text, created_at, active_at
		FROM resumable_uploads WHERE id = $1`, id).
		Scan(&r.ID, &stored, &owner, &r.Size, &r.Filename, &r.Folder, &item, &r.Created, &r.Active)
	if errors.Is(err, pgx.ErrNoRows) {
		return Receipt{}, errNoReceipt
	}
	if err != nil {
		return Receipt{}, unavailable("load upload", err)
	}
	if owner != nil {
		r.Owner = *owner
	}
	if item != nil {
		r.Item = *item
	}
	if stored != nil {
		r.stored = *stored
	}
	return r, nil
}

// begin records a new upload, before any of its bytes are stored.
func (u *Uploads) begin(ctx context.Context, r Receipt) error {
	_, err := u.pool.Exec(ctx, `
		INSERT INTO resumable_uploads (id, owner_id, size, filename, folder_id)
		VALUES ($1, $2, $3, $4, $5)`, r.ID, r.Owner, r.Size, r.Filename, r.Folder)
	if err != nil {
		return unavailable("record upload", err)
	}
	return nil
}

// renamed records the store's own id for the bytes of the upload id.
func (u *Uploads) renamed(ctx context.Context, id, stored string) error {
	if _, err := u.pool.Exec(ctx, `UPDATE resumable_uploads SET store_id = $2 WHERE id = $1`, id, stored); err != nil {
		return unavailable("record upload", err)
	}
	return nil
}

// touch notes activity on the upload id: the janitor leaves it alone for
// another expiry. A note younger than a sixteenth of the expiry (at most a
// minute) is left as it is, so that a stream of small PATCHes does not
// commit a write each.
func (u *Uploads) touch(ctx context.Context, id string) error {
	fresh := min(u.expiry/16, time.Minute)
	if _, err := u.pool.Exec(ctx, `
		UPDATE resumable_uploads SET active_at = now()
		WHERE id = $1 AND active_at < now() - make_interval(secs => $2)`, id, fresh.Seconds()); err != nil {
		return unavailable("touch upload", err)
	}
	return nil
}

// finished makes the receipt of the upload id name the item it became.
func (u *Uploads) finished(ctx context.Context, id, item string) error {
	_, err := u.pool.Exec(ctx, `
		UPDATE resumable_uploads SET media_id = $2, finished_at = now(), active_at = now()
		WHERE id = $1`, id, item)
	if err != nil {
		return unavailable("record finished upload", err)
	}
	return nil
}

// forget removes the receipt of the upload id; one already gone is no error.
func (u *Uploads) forget(ctx context.Context, id string) error {
	if _, err := u.pool.Exec(ctx, `DELETE FROM resumable_uploads WHERE id = $1`, id); err != nil {
		return unavailable("forget upload", err)
	}
	return nil
}

// idle returns up to limit uploads last active before cutoff, the oldest
// first.
func (u *Uploads) idle(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	rows, err := u.pool.Query(ctx, `
		SELECT id FROM resumable_uploads WHERE active_at < $1 ORDER BY active_at LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, unavailable("list idle uploads", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable("list idle uploads", err)
	}
	return ids, nil
}

// known returns those of ids that have a receipt.
func (u *Uploads) known(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := u.pool.Query(ctx, `SELECT id FROM resumable_uploads WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, unavailable("look up uploads", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable("look up uploads", err)
	}
	out := make(map[string]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}
