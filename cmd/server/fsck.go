package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/jobs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/uploads"
)

// The exit statuses of fsck besides 0 (clean) and 1 (it could not run).
const (
	fsckDamageLeft     exitStatus = 2 // something is wrong, and (some of it) still is
	fsckDamageRepaired exitStatus = 3 // something was wrong; --repair fixed all of it
)

// fsckCmd is "mediagate fsck [--verify] [--repair]".
func fsckCmd(ctx context.Context, e env, args []string) error {
	var verify, repair bool
	cfg, err := loadConfig(e, "fsck", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&verify, "verify", false, "read every blob back and check its SHA-256")
		fs.BoolVar(&repair, "repair", false, "fix what can be fixed without losing data (see the README)")
	})
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	storage, closeStorage, err := openStorage(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStorage()
	store := media.NewStore(pool, storage, acl.NewDecider(pool), e.log)
	// So that an unused row that --repair drops takes its due pipeline job
	// with it, as a delete does.
	pipeline, err := jobs.New(pool, store, jobs.Options{Log: e.log})
	if err != nil {
		return err
	}
	store.SetEnqueuer(pipeline)
	upStore, err := uploads.For(storage.Blobs, cfg.UploadsDir(), storage.Spool.Dir())
	if err != nil {
		return err
	}
	ups, err := uploads.New(pool, store, uploads.Options{Store: upStore, Expiry: cfg.UploadExpiry, Log: e.log})
	if err != nil {
		return err
	}
	defer ups.Close()

	start := time.Now()
	bar := newProgressBar(e.stderr)
	rep, err := store.Fsck(ctx, media.FsckOptions{Verify: verify, Repair: repair, Run: media.NewRun(start),
		Progress: func(p media.FsckProgress) { bar.update(p.Done, p.Total, p.DoneBytes, p.TotalBytes) }})
	bar.done()
	if err != nil {
		return err
	}
	up, err := ups.Fsck(ctx, start, repair)
	if err != nil {
		return fmt.Errorf("fsck: uploads: %w", err)
	}
	findings := append(rep.Findings, up.Findings...)
	writeFsckReport(e.stdout, storage.Blobs.Describe(), verify, rep, up, findings)
	e.log.Info("fsck done", "problems", len(findings), "took", time.Since(start).Round(time.Millisecond))
	for _, f := range findings {
		if !f.Repaired {
			return fsckDamageLeft
		}
	}
	if len(findings) > 0 {
		return fsckDamageRepaired
	}
	return nil
}

// writeFsckReport writes what fsck found, one problem a line, and a
// summary last.
func writeFsckReport(w io.Writer, where string, verify bool, rep media.FsckReport, up uploads.FsckReport, findings []media.Finding) {
	fmt.Fprintf(w, "storage: %s\n", where)
	line := fmt.Sprintf("blobs: %d in the database (%s), %d objects stored", rep.Rows, humanBytes(rep.RowBytes), rep.Stored)
	if verify {
		line += fmt.Sprintf(", %d read back and checked against their SHA-256", rep.Verified)
	}
	fmt.Fprintln(w, line)
	if up.InProgress > 0 {
		fmt.Fprintf(w, "resumable uploads in progress: %d (not a problem: they may resume)\n", up.InProgress)
	}
	if len(findings) == 0 {
		fmt.Fprintln(w, "clean: no problems found")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n\t\t-> %s\n", f.Kind, f.Name, f.Detail, f.Action)
	}
	tw.Flush()
	fmt.Fprintln(w)
	kinds := map[media.FindingKind]int{}
	repaired := 0
	for _, f := range findings {
		kinds[f.Kind]++
		if f.Repaired {
			repaired++
		}
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "%d problems (%s): %d repaired, %d left\n", len(findings), strings.Join(parts, ", "), repaired, len(findings)-repaired)
	if rep.TrashedTo != "" {
		fmt.Fprintf(w, "moved to the trash: %s (remove it once you are sure nothing there is needed)\n", rep.TrashedTo)
	}
}
