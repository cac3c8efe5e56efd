package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// newConfig returns a valid configuration on a fresh data dir of t's own.
func newConfig(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openDisk opens a Disk on cfg and closes it when t ends.
func openDisk(t testing.TB, cfg config.Config) *media.Disk {
	t.Helper()
	d, err := media.OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close disk: %v", err)
		}
	})
	return d
}

// env is a Store on its own PostgreSQL database and data dir.
type env struct {
	t     *testing.T
	cfg   config.Config
	pool  *pgxpool.Pool
	disk  *media.Disk
	store *media.Store
	users *session.Users
	n     atomic.Int32
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, _ := testdb.New(t)
	cfg := newConfig(t)
	disk := openDisk(t, cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &env{
		t: t, cfg: cfg, pool: pool, disk: disk,
		store: media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: 1 << 30}, acl.NewDecider(pool), log),
		users: session.NewUsers(pool),
	}
}

// user creates a user with role and returns its principal.
func (e *env) user(role acl.Role) acl.Principal {
	e.t.Helper()
	email := fmt.Sprintf("%s%d@example.com", role, e.n.Add(1))
	u, err := e.users.Create(context.Background(), email, role, "password123")
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Principal()
}

// receive streams content through the env's Disk.
func (e *env) receive(content []byte) *media.Received {
	e.t.Helper()
	rec, err := e.disk.Receive(bytes.NewReader(content), 1<<30)
	if err != nil {
		e.t.Fatalf("receive: %v", err)
	}
	return rec
}

// upload receives content and stores it as an item of p named name.
func (e *env) upload(p acl.Principal, content []byte, name string) media.Item {
	e.t.Helper()
	it, err := e.store.Create(context.Background(), p, e.receive(content), name, nil)
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return it
}

// grant gives subject level on item, as the grants API would.
func (e *env) grant(item string, subject acl.Principal, level acl.Level) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(),
		`INSERT INTO grants (media_id, subject_type, subject_id, permission) VALUES ($1,'user',$2,$3)`,
		item, subject.UserID, int16(level))
	if err != nil {
		e.t.Fatal(err)
	}
}

// blobRows returns the sha256 of every row in blobs, sorted.
func (e *env) blobRows() []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT sha256 FROM blobs ORDER BY sha256`)
	if err != nil {
		e.t.Fatal(err)
	}
	shas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return shas
}

// itemBlobs returns the blob of every media row.
func (e *env) itemBlobs() map[string]string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT id::text, blob FROM media`)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	var id, blob string
	if _, err := pgx.ForEachRow(rows, []any{&id, &blob}, func() error { out[id] = blob; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// published returns public_name -> blob for every published item that is
// not in the trash (a trashed one's file is withdrawn).
func (e *env) published() map[string]string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT public_name, blob FROM media m
		WHERE public_name IS NOT NULL AND NOT (SELECT t FROM mg_media_trashed(m.id) t)`)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	var name, blob string
	if _, err := pgx.ForEachRow(rows, []any{&name, &blob}, func() error { out[name] = blob; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// blobFiles walks the private dir and returns the names of all files in it,
// sorted; a file not at private/ab/cd/<sha> fails the test.
func blobFiles(t testing.TB, d *media.Disk, cfg config.Config) []string {
	t.Helper()
	var shas []string
	err := filepath.WalkDir(cfg.PrivateDir(), func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		sha := de.Name()
		if !shaRE.MatchString(sha) || path != d.BlobPath(sha) {
			t.Errorf("unexpected file in the private dir: %s", path)
		}
		shas = append(shas, sha)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(shas)
	return shas
}

// dirNames lists the names in dir, sorted; a missing dir is empty.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// tempFiles counts the files under the temp dir other than the lock files of
// live Disks: uploads in progress or left behind.
func tempFiles(t testing.TB, cfg config.Config) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(cfg.TmpDir(), func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if filepath.Dir(path) == cfg.TmpDir() && strings.HasSuffix(de.Name(), ".lock") {
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// assertConsistent checks that the database and the data dir agree: one file
// per blob row and no other, every item's blob present and readable by
// others (nginx), nothing in the trash, no upload left in the temp dir, and
// the public dir holding exactly the published links, each the blob's inode.
func (e *env) assertConsistent() {
	e.t.Helper()
	rows, files := e.blobRows(), blobFiles(e.t, e.disk, e.cfg)
	if !slices.Equal(rows, files) {
		e.t.Errorf("blob rows %v != blob files %v", rows, files)
	}
	for id, sha := range e.itemBlobs() {
		fi, err := os.Stat(e.disk.BlobPath(sha))
		if err != nil {
			e.t.Errorf("item %s: blob file: %v", id, err)
			continue
		}
		if fi.Mode().Perm()&0o444 != 0o444 {
			e.t.Errorf("item %s: blob mode %v is not readable by all", id, fi.Mode())
		}
	}
	if names := dirNames(e.t, e.cfg.TrashDir()); len(names) != 0 {
		e.t.Errorf("trash holds %v", names)
	}
	if files := tempFiles(e.t, e.cfg); len(files) != 0 {
		e.t.Errorf("temp dir holds %v", files)
	}
	want := e.published()
	got := dirNames(e.t, e.cfg.PublicDir())
	if len(got) != len(want) {
		e.t.Errorf("public dir holds %v, database publishes %v", got, want)
	}
	for name, sha := range want {
		pub, err := os.Stat(e.disk.PublicPath(name))
		if err != nil {
			e.t.Errorf("published %s: %v", name, err)
			continue
		}
		blob, err := os.Stat(e.disk.BlobPath(sha))
		if err != nil || !os.SameFile(pub, blob) {
			e.t.Errorf("published %s is not a hard link of blob %s (%v)", name, sha, err)
		}
	}
}

// content returns n deterministic bytes distinct for each seed.
func content(seed string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131+len(seed)*7) ^ seed[i%len(seed)]
	}
	return b
}

// sampleMP4 is the committed test video.
func sampleMP4(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/sample.mp4")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// discardLog is a logger for code under test whose log is not checked.
var discardLog = slog.New(slog.DiscardHandler)

// deleteNow deletes the item and purges it from the trash at once: what a
// delete was before the trash, and what the janitor does in the end.
func deleteNow(ctx context.Context, s *media.Store, p acl.Principal, id string) error {
	if err := s.Delete(ctx, p, id); err != nil {
		return err
	}
	return s.Purge(ctx, p, id)
}
