package media

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Recover settles what a crash or a killed client may have left: temp files
// of dead processes, blobs a delete set aside, blobs without a row, and
// public files that disagree with the database. It runs at start, before
// serving. Every blob decision takes the blob's lock, so other live
// instances are safe.
func (s *Store) Recover(ctx context.Context) error {
	var errList []error
	if err := s.spool.CleanDead(); err != nil {
		errList = append(errList, fmt.Errorf("clean temp dir: %w", err))
	}
	if tr, ok := s.blobs.(TrashRecoverer); ok {
		err := tr.RecoverTrash(ctx, func(ctx context.Context, key string, fn func(keep bool) error) error {
			return s.withBlob(ctx, key, fn)
		})
		if err != nil {
			errList = append(errList, err)
		}
	}
	if err := s.sweepOrphanBlobs(ctx); err != nil {
		errList = append(errList, err)
	}
	if err := s.syncPublic(ctx); err != nil {
		errList = append(errList, err)
	}
	return errors.Join(errList...)
}

// withBlob runs fn in a transaction holding sha's lock, telling it whether the
// blob has a row.
func (s *Store) withBlob(ctx context.Context, sha string, fn func(hasRow bool) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := blobLock(ctx, tx, sha); err != nil {
			return err
		}
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)`, sha).Scan(&has); err != nil {
			return err
		}
		return fn(has)
	})
}

// sweepOrphanBlobs removes stored blobs that have no row (an upload whose
// transaction never committed, a delete cut short).
func (s *Store) sweepOrphanBlobs(ctx context.Context) error {
	err := s.blobs.Walk(ctx, func(sha string) error {
		return s.withBlob(ctx, sha, func(hasRow bool) error {
			if hasRow {
				return nil
			}
			s.log.Info("removing a blob without a row", "sha256", sha)
			return s.blobs.Remove(ctx, sha)
		})
	})
	if err != nil {
		return fmt.Errorf("sweep orphan blobs: %w", err)
	}
	return nil
}

// publishedSQL lists the (public name, blob) of the items whose published
// files should be there: not those in the trash.
const publishedSQL = `SELECT m.public_name, m.blob FROM media m
	WHERE m.public_name IS NOT NULL AND NOT (SELECT t FROM mg_media_trashed(m.id) t)`

// syncPublic makes the published files exactly those the database says are
// published, and, where the store can tell (PublicChecker), each the blob
// the database says. It holds the lock Publish and Unpublish take, so it
// never sees one of them half done.
func (s *Store) syncPublic(ctx context.Context) error {
	pub, ok := s.blobs.(Publisher)
	if !ok {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, publishedSQL)
		if err != nil {
			return err
		}
		want := map[string]string{}
		var name, sha string
		if _, err := pgx.ForEachRow(rows, []any{&name, &sha}, func() error {
			want[name] = sha
			return nil
		}); err != nil {
			return err
		}
		check, _ := s.blobs.(PublicChecker)
		var stray []string
		if err := pub.WalkPublic(ctx, func(name string) error {
			sha, ok := want[name]
			if !ok {
				stray = append(stray, name)
				return nil
			}
			if check != nil {
				same, err := check.Serves(ctx, name, sha)
				if err != nil {
					return err
				}
				if !same {
					s.log.Warn("a public file serves another blob than its item's; publishing the item's", "name", name, "sha256", sha)
					stray = append(stray, name) // and published again below
					return nil
				}
			}
			delete(want, name)
			return nil
		}); err != nil {
			return err
		}
		for _, name := range stray {
			s.log.Info("removing an unpublished public file", "name", name)
			if err := pub.Unpublish(ctx, name); err != nil {
				return err
			}
		}
		for name, sha := range want {
			if err := pub.Publish(ctx, sha, name); err != nil {
				return fmt.Errorf("republish %s: %w", name, err)
			}
		}
		return nil
	})
}
