package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// FindingKind names a kind of damage fsck finds.
type FindingKind string

// The kinds of damage.
const (
	// FindMissing is a blob row whose bytes the storage does not have.
	FindMissing FindingKind = "missing"
	// FindSize is a stored blob whose size is not its row's.
	FindSize FindingKind = "size"
	// FindSHA256 is a stored blob whose content does not hash to its name
	// (found with Verify).
	FindSHA256 FindingKind = "sha256"
	// FindOrphan is a stored blob without a row.
	FindOrphan FindingKind = "orphan"
	// FindStray is something in the blob area not named like a blob.
	FindStray FindingKind = "stray"
	// FindUnreferenced is a blob row that nothing uses: no item, derived
	// file, poster or caption.
	FindUnreferenced FindingKind = "unreferenced"
	// FindSpool is what a dead process left in the temp dir.
	FindSpool FindingKind = "spool"
	// FindUpload is a resumable upload's leftover (package uploads).
	FindUpload FindingKind = "upload"
)

// Finding is one thing fsck found wrong, and what it did about it.
type Finding struct {
	Kind     FindingKind
	Name     string // the blob's key, the object's name, the temp dir's, the upload's id
	Detail   string // what is wrong, in words
	Repaired bool
	Action   string // what the repair did, or what to do instead
}

// FsckOptions say what Fsck does beyond looking.
type FsckOptions struct {
	Verify bool // read every blob and check its SHA-256
	Repair bool // fix what can be fixed without losing data
	// Run names this run's trash dir; the zero value is the current time.
	Run string
	// Progress, when not nil, is called as blobs are checked.
	Progress func(FsckProgress)
}

// FsckProgress is how far the check of the database's blobs has got.
type FsckProgress struct {
	Done, Total           int
	DoneBytes, TotalBytes int64
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Rows      int   // blob rows in the database
	RowBytes  int64 // their sizes added up
	Stored    int   // objects in the blob area
	Verified  int   // blobs whose SHA-256 was read back
	Findings  []Finding
	TrashedTo string // where this run moved things, "" when it moved nothing
}

// NewRun names a run's trash dir after t, in UTC: 20261201T101112Z.
func NewRun(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// Fsck checks that the database's blobs and the storage agree: every row
// has its bytes, of its size (and, with Verify, its SHA-256), every stored
// blob has a row, every row is used, nothing else is in the blob area, and
// no dead process left temp files. With Repair it fixes what it can without
// losing data: what it takes out of the blob area (a blob without a row, a
// damaged one, a stray file, the bytes of an unused row) goes to the trash
// area, never away; an unused row is dropped; a dead process's temp files
// are removed. A row whose bytes are missing is reported, not deleted:
// uploading the same file again restores them. Every blob is decided under
// its lock, re-checked there, so that an upload, a delete or another
// instance's work in progress is never taken for damage.
func (s *Store) Fsck(ctx context.Context, o FsckOptions) (FsckReport, error) {
	var rep FsckReport
	ins, ok := s.blobs.(Inspector)
	if !ok {
		return rep, fmt.Errorf("fsck: %s cannot be inspected", s.blobs.Describe())
	}
	if o.Run == "" {
		o.Run = NewRun(time.Now())
	}
	f := fsck{s: s, ins: ins, o: o, rep: &rep}

	// The storage first, then the rows: a blob stored in between is a row
	// with bytes the inventory missed, which the re-check under its lock
	// finds.
	stored := map[string]int64{}
	var strays []StoredObject
	err := ins.Inventory(ctx, func(obj StoredObject) error {
		rep.Stored++
		if obj.Key == "" {
			strays = append(strays, obj)
		} else {
			stored[obj.Key] = obj.Size
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: list storage: %w", err)
	}
	type row struct {
		sha        string
		size       int64
		referenced bool
	}
	rows, err := s.pool.Query(ctx, `SELECT sha256, size, mg_blob_referenced(sha256) FROM blobs ORDER BY sha256`)
	if err != nil {
		return rep, fmt.Errorf("fsck: list blobs: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var b row
		return b, r.Scan(&b.sha, &b.size, &b.referenced)
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: list blobs: %w", err)
	}
	var p FsckProgress
	p.Total = len(all)
	for _, b := range all {
		p.TotalBytes += b.size
	}
	rep.Rows, rep.RowBytes = p.Total, p.TotalBytes

	for _, b := range all {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		size, have := stored[b.sha]
		delete(stored, b.sha)
		var err error
		switch {
		case !b.referenced:
			err = f.unreferenced(ctx, b.sha, b.size)
		case !have:
			err = f.missing(ctx, b.sha, b.size)
		case size != b.size:
			err = f.damaged(ctx, FindSize, b.sha, b.size, fmt.Sprintf("stored with %d bytes, the database says %d", size, b.size))
		case o.Verify:
			err = f.verify(ctx, b.sha, b.size)
		}
		if err != nil {
			return rep, fmt.Errorf("fsck: blob %s: %w", b.sha, err)
		}
		p.Done++
		p.DoneBytes += b.size
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	for sha, size := range stored {
		if err := f.orphan(ctx, sha, size); err != nil {
			return rep, fmt.Errorf("fsck: blob %s: %w", sha, err)
		}
	}
	for _, obj := range strays {
		fd := Finding{Kind: FindStray, Name: obj.Name, Detail: fmt.Sprintf("%d bytes in the blob area, not named like a blob", obj.Size)}
		if err := f.trash(ctx, &fd, obj.Name); err != nil {
			return rep, fmt.Errorf("fsck: %s: %w", obj.Name, err)
		}
		rep.Findings = append(rep.Findings, fd)
	}
	if err := f.spool(); err != nil {
		return rep, fmt.Errorf("fsck: temp dir: %w", err)
	}
	return rep, nil
}

// fsck is one run of Fsck.
type fsck struct {
	s   *Store
	ins Inspector
	o   FsckOptions
	rep *FsckReport
}

func (f *fsck) add(fd Finding) { f.rep.Findings = append(f.rep.Findings, fd) }

// trash moves name to the trash area when repairing, and says so in fd.
func (f *fsck) trash(ctx context.Context, fd *Finding, name string) error {
	if !f.o.Repair {
		return nil
	}
	to, err := f.ins.Trash(ctx, name, f.o.Run)
	if err != nil {
		return err
	}
	f.noteTrash(to, name)
	fd.Repaired, fd.Action = true, "moved to "+to
	return nil
}

// noteTrash keeps where this run's trash is, from where name went.
func (f *fsck) noteTrash(to, name string) {
	if i := strings.Index(to, "/"+f.o.Run+"/"); i >= 0 && strings.HasSuffix(to, name[strings.LastIndexByte(name, '/')+1:]) {
		f.rep.TrashedTo = to[:i+len(f.o.Run)+2]
	}
}

// missing reports a row without bytes, if that is still so under its lock.
func (f *fsck) missing(ctx context.Context, sha string, size int64) error {
	return f.s.withBlob(ctx, sha, func(hasRow bool) error {
		if !hasRow {
			return nil // deleted meanwhile
		}
		if _, err := f.ins.Size(ctx, sha); !errors.Is(err, ErrBlobMissing) {
			return err // stored meanwhile (nil), or the storage failed
		}
		uses, err := f.s.blobUses(ctx, sha)
		if err != nil {
			return err
		}
		f.add(Finding{Kind: FindMissing, Name: sha,
			Detail: fmt.Sprintf("%d bytes in the database, not in storage; %s", size, uses),
			Action: "left: upload the same file again (or put it back) to restore it"})
		return nil
	})
}

// damaged reports a stored blob whose bytes are not what its row says and,
// when repairing, moves them to the trash: the row then reads as missing,
// which uploading the original again repairs (a blob in place is never
// overwritten, so the damaged one would stay forever).
func (f *fsck) damaged(ctx context.Context, kind FindingKind, sha string, size int64, detail string) error {
	return f.s.withBlob(ctx, sha, func(hasRow bool) error {
		if !hasRow {
			return nil
		}
		if kind == FindSize {
			n, err := f.ins.Size(ctx, sha)
			if errors.Is(err, ErrBlobMissing) || (err == nil && n == size) {
				return nil // settled meanwhile
			}
			if err != nil {
				return err
			}
		}
		uses, err := f.s.blobUses(ctx, sha)
		if err != nil {
			return err
		}
		fd := Finding{Kind: kind, Name: sha, Detail: detail + "; " + uses,
			Action: "left: --repair moves it to the trash, then upload the original again"}
		if err := f.trash(ctx, &fd, f.name(sha)); err != nil {
			return err
		}
		if fd.Repaired {
			fd.Action += "; upload the original again to restore it"
		}
		f.add(fd)
		return nil
	})
}

// verify reads the blob and checks its SHA-256.
func (f *fsck) verify(ctx context.Context, sha string, size int64) error {
	r, err := f.s.blobs.Open(ctx, sha, size)
	if errors.Is(err, ErrBlobMissing) {
		return f.missing(ctx, sha, size)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if errors.Is(err, ErrBlobMissing) {
		return f.missing(ctx, sha, size)
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	f.rep.Verified++
	if got := hex.EncodeToString(h.Sum(nil)); got != sha || n != size {
		return f.damaged(ctx, FindSHA256, sha, size, fmt.Sprintf("%d bytes read with SHA-256 %s", n, got))
	}
	return nil
}

// orphan reports, and when repairing trashes, a stored blob that has no
// row, if that is still so under its lock.
func (f *fsck) orphan(ctx context.Context, sha string, size int64) error {
	return f.s.withBlob(ctx, sha, func(hasRow bool) error {
		if hasRow {
			return nil // an upload committed meanwhile
		}
		if _, err := f.ins.Size(ctx, sha); err != nil {
			if errors.Is(err, ErrBlobMissing) {
				return nil // removed meanwhile
			}
			return err
		}
		fd := Finding{Kind: FindOrphan, Name: sha, Detail: fmt.Sprintf("%d bytes stored, no row", size),
			Action: "left: --repair moves it to the trash"}
		if err := f.trash(ctx, &fd, f.name(sha)); err != nil {
			return err
		}
		f.add(fd)
		return nil
	})
}

// unreferenced reports a row nothing uses and, when repairing, drops it
// (and the derived files only it used) as a delete would, moving their
// bytes to the trash after the commit.
func (f *fsck) unreferenced(ctx context.Context, sha string, size int64) error {
	fd := Finding{Kind: FindUnreferenced, Name: sha, Detail: fmt.Sprintf("a row (%d bytes) that no item, derived file, poster or caption uses", size),
		Action: "left: --repair drops the row and moves the bytes to the trash"}
	if !f.o.Repair {
		var still bool
		err := f.s.withBlob(ctx, sha, func(hasRow bool) error {
			if !hasRow {
				return nil
			}
			return f.s.pool.QueryRow(ctx, `SELECT NOT mg_blob_referenced($1)`, sha).Scan(&still)
		})
		if err == nil && still {
			f.add(fd)
		}
		return err
	}
	var gone []string
	err := pgx.BeginFunc(ctx, f.s.pool, func(tx pgx.Tx) error {
		var err error
		gone, err = f.s.dropUnreferenced(ctx, tx, []string{sha})
		return err
	})
	if err != nil {
		return err
	}
	if len(gone) == 0 {
		return nil // used again meanwhile
	}
	f.s.changed()
	var moved []string
	for _, b := range gone {
		err := f.s.withBlob(ctx, b, func(hasRow bool) error {
			if hasRow {
				return nil
			}
			if _, err := f.ins.Size(ctx, b); err != nil {
				if errors.Is(err, ErrBlobMissing) {
					return nil
				}
				return err
			}
			to, err := f.ins.Trash(ctx, f.name(b), f.o.Run)
			if err == nil {
				f.noteTrash(to, b)
				moved = append(moved, b)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	fd.Repaired = true
	fd.Action = fmt.Sprintf("dropped %d row(s), moved %d blob(s) to the trash", len(gone), len(moved))
	if len(gone) > 1 {
		fd.Action += " (its derived files with it)"
	}
	f.add(fd)
	return nil
}

// name is where Inventory names the blob sha.
func (f *fsck) name(sha string) string {
	if _, ok := f.s.blobs.(localPather); ok {
		return sha[0:2] + "/" + sha[2:4] + "/" + sha
	}
	return sha
}

// spool reports, and when repairing removes, what dead processes left in
// the temp dir: the lock each live process holds tells them apart.
func (f *fsck) spool() error {
	if f.s.spool == nil {
		return nil
	}
	left, err := f.s.spool.Leftovers()
	if err != nil {
		return err
	}
	if f.o.Repair && len(left) > 0 {
		if err := f.s.spool.CleanDead(); err != nil {
			return err
		}
	}
	for _, l := range left {
		fd := Finding{Kind: FindSpool, Name: l.Name, Detail: fmt.Sprintf("left by a process that is gone (%d bytes)", l.Bytes),
			Action: "left: --repair removes it (so does the next start of serve)"}
		if f.o.Repair {
			fd.Repaired, fd.Action = true, "removed"
		}
		f.add(fd)
	}
	return nil
}

// blobUses says in words what uses the blob sha, for a report: at most a
// few items, by id and file name.
func (s *Store) blobUses(ctx context.Context, sha string) (string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT 'the file of item', m.id::text, m.filename FROM media m WHERE m.blob = $1
		UNION ALL SELECT 'the chosen poster of item', m.id::text, m.filename FROM media m WHERE m.poster = $1
		UNION ALL SELECT 'the ' || d.kind || ' of item', m.id::text, m.filename
			FROM derivatives d JOIN media m ON m.blob = d.source WHERE d.blob = $1
		UNION ALL SELECT 'a caption (' || c.lang || ') of item', m.id::text, m.filename
			FROM captions c JOIN media m ON m.id = c.media_id WHERE c.blob = $1
		ORDER BY 1, 2 LIMIT 4`, sha)
	if err != nil {
		return "", err
	}
	var uses []string
	var what, id, filename string
	if _, err := pgx.ForEachRow(rows, []any{&what, &id, &filename}, func() error {
		uses = append(uses, fmt.Sprintf("%s %s %q", what, id, filename))
		return nil
	}); err != nil {
		return "", err
	}
	switch len(uses) {
	case 0:
		return "used by no item", nil
	case 4:
		uses[3] = "more"
	}
	return strings.Join(uses, ", "), nil
}
