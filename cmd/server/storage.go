package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/s3store"
)

// openStorage opens the blob storage cfg names and this process's spool,
// and checks that the storage can be used, so that a wrong setting is one
// line at start rather than a failure at the first upload. close releases
// the spool.
func openStorage(ctx context.Context, cfg config.Config) (st media.Storage, closeFn func() error, err error) {
	switch cfg.Storage {
	case config.StorageS3:
		s3, err := s3store.New(s3store.FromConfig(cfg))
		if err != nil {
			return st, nil, err
		}
		checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := s3.Check(checkCtx); err != nil {
			return st, nil, err
		}
		spool, err := media.OpenSpool(cfg.TmpDir())
		if err != nil {
			return st, nil, fmt.Errorf("data dir: %w", err)
		}
		return media.Storage{Blobs: s3, Spool: spool, MaxUpload: cfg.MaxUpload}, spool.Close, nil
	default:
		disk, err := media.OpenDisk(cfg)
		if err != nil {
			return st, nil, err
		}
		return media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: cfg.MaxUpload}, disk.Close, nil
	}
}

// storageCmd is "mediagate storage copy --to s3|local".
func storageCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "copy" {
		return errors.New("storage: usage: mediagate storage copy --to s3|local")
	}
	var to string
	cfg, err := loadConfig(e, "storage copy", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "s3|local: the storage to copy every blob into, from the other one")
	})
	if err != nil {
		return err
	}
	src, dst := cfg, cfg
	switch config.StorageKind(to) {
	case config.StorageS3:
		src.Storage, dst.Storage = config.StorageLocal, config.StorageS3
	case config.StorageLocal:
		src.Storage, dst.Storage = config.StorageS3, config.StorageLocal
	default:
		return fmt.Errorf("storage copy: --to must be s3 or local, got %q", to)
	}
	for _, c := range []*config.Config{&src, &dst} {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("storage copy: %w", err)
		}
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	from, closeFrom, err := openStorage(ctx, src)
	if err != nil {
		return err
	}
	defer closeFrom()
	into, closeInto, err := openStorage(ctx, dst)
	if err != nil {
		return err
	}
	defer closeInto()
	store := media.NewStore(pool, from, acl.NewDecider(pool), e.log)
	e.log.Info("copying blobs", "from", from.Blobs.Describe(), "to", into.Blobs.Describe())
	bar := newProgressBar(e.stderr)
	start := time.Now()
	p, err := store.CopyTo(ctx, into.Blobs, func(p media.CopyProgress) { bar.update(p.Done, p.Total, p.DoneBytes, p.TotalBytes) })
	bar.done()
	if err != nil {
		return fmt.Errorf("storage copy: after %d of %d blobs: %w (run it again to go on)", p.Done, p.Total, err)
	}
	e.log.Info("copied", "blobs", p.Total, "copied", p.Copied, "already_there", p.Present,
		"bytes", p.TotalBytes, "took", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "%d blobs: %d copied, %d already there\n", p.Total, p.Copied, p.Present)
	return nil
}

// progressBar draws the progress of a long run over blobs (storage copy,
// fsck) on a terminal, and nothing elsewhere (the closing log line says it
// all).
type progressBar struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newProgressBar(w io.Writer) *progressBar {
	b := &progressBar{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

func (b *progressBar) update(done, total int, doneBytes, totalBytes int64) {
	if !b.tty || (time.Since(b.last) < 100*time.Millisecond && done < total) {
		return
	}
	b.last = time.Now()
	const width = 30
	frac := 1.0
	if totalBytes > 0 {
		frac = float64(doneBytes) / float64(totalBytes)
	}
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %d/%d blobs  %s/%s ", strings.Repeat("=", n), strings.Repeat(" ", width-n),
		frac*100, done, total, humanBytes(doneBytes), humanBytes(totalBytes))
}

func (b *progressBar) done() {
	if b.tty && !b.last.IsZero() {
		fmt.Fprintln(b.w)
	}
}

// humanBytes writes n in binary units: 5 MiB, 1.2 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
