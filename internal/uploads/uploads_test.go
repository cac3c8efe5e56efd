package uploads

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/testdb"
)

// env is Uploads with a Files store on a fresh database, seen as tusd sees
// it (core), with one user who may upload.
type env struct {
	t     *testing.T
	u     *Uploads
	pool  *pgxpool.Pool
	core  tusd.DataStore
	dir   string
	owner acl.Principal
}

// newEnv keeps the partial uploads in a Files store, or in the one store
// returns.
func newEnv(t *testing.T, expiry time.Duration, store func() Store) *env {
	t.Helper()
	pool, _ := testdb.New(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	dir := cfg.UploadsDir()
	var st Store
	if store != nil {
		st = store()
	} else {
		var err error
		if st, err = Files(dir); err != nil {
			t.Fatal(err)
		}
	}
	disk, err := media.OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	log := slog.New(slog.DiscardHandler)
	items := media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: 1 << 30}, acl.NewDecider(pool), log)
	u, err := New(pool, items, Options{Store: st, Expiry: expiry, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	composer := tusd.NewStoreComposer()
	u.UseIn(composer, func(_ context.Context, err error) error { return err })
	e := &env{t: t, u: u, pool: pool, core: composer.Core, dir: dir, owner: acl.Principal{Role: acl.RoleEditor}}
	if err := pool.QueryRow(context.Background(),
		`INSERT INTO users (email, role, password_hash) VALUES ('ed@example.com', 'editor', 'x') RETURNING id`).Scan(&e.owner.UserID); err != nil {
		t.Fatal(err)
	}
	return e
}

// create makes an upload of size bytes through tusd's view of the store and
// writes the first written of them.
func (e *env) create(size, written int) string {
	e.t.Helper()
	ctx := context.Background()
	c := Changes(e.owner, "a.txt", nil)
	up, err := e.core.NewUpload(ctx, tusd.FileInfo{ID: c.ID, Size: int64(size), MetaData: c.MetaData})
	if err != nil {
		e.t.Fatal(err)
	}
	if written > 0 {
		if _, err := up.WriteChunk(ctx, 0, bytes.NewReader(bytes.Repeat([]byte("x"), written))); err != nil {
			e.t.Fatal(err)
		}
	}
	return c.ID
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatal(err)
	}
}

// files lists the store's dir.
func (e *env) files() []string {
	e.t.Helper()
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

func (e *env) hasFiles(id string) bool {
	return slices.ContainsFunc(e.files(), func(name string) bool { return strings.HasPrefix(name, id) })
}

func (e *env) hasReceipt(id string) bool {
	_, err := e.u.receipt(context.Background(), id)
	if err != nil && !errors.Is(err, errNoReceipt) {
		e.t.Fatal(err)
	}
	return err == nil
}

// TestStoreKeepsReceipts checks what tusd reads of uploads: a receipt is
// recorded with the upload, a finished upload is complete from its receipt
// alone, and bytes without a receipt are no upload.
func TestStoreKeepsReceipts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Hour, nil)
	ctx := context.Background()

	open := e.create(100, 40)
	r, err := e.u.Owned(ctx, e.owner, open)
	if err != nil || r.Size != 100 || r.Filename != "a.txt" || r.Folder != nil || r.Finished() {
		t.Errorf("receipt of a new upload = %+v, %v", r, err)
	}
	finished := e.create(100, 100)
	item := "5b0d3a8e-6a1f-4c3e-9d7b-2f1e0c9a8b7d"
	if err := e.u.finished(ctx, finished, item); err != nil {
		t.Fatal(err)
	}
	if err := e.u.dropData(ctx, Receipt{ID: finished}); err != nil {
		t.Fatal(err)
	}
	orphan := NewID()
	for _, name := range []string{orphan, orphan + ".info"} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		id           string
		offset, size int64
		item         string
		err          error
	}{
		{"unfinished", open, 40, 100, "", nil},
		{"finished", finished, 100, 100, item, nil},
		{"bytes without a receipt", orphan, 0, 0, "", tusd.ErrNotFound},
		{"never created", NewID(), 0, 0, "", tusd.ErrNotFound},
		{"not an id", "../" + open, 0, 0, "", tusd.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := e.core.GetUpload(ctx, tt.id)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Errorf("GetUpload = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := up.GetInfo(ctx)
			if err != nil || info.Offset != tt.offset || info.Size != tt.size || info.MetaData[metaItem] != tt.item {
				t.Errorf("GetInfo = %+v, %v; want offset %d of %d, item %q", info, err, tt.offset, tt.size, tt.item)
			}
		})
	}

	// Another user's, or nobody's once the account is gone, is not found.
	for _, p := range []acl.Principal{{UserID: "1f6d2c1e-0b9a-4d8e-8f7a-6e5d4c3b2a19", Role: acl.RoleAdmin}, {}} {
		if _, err := e.u.Owned(ctx, p, open); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Owned by %+v = %v, want ErrNotFound", p, err)
		}
	}
	e.exec(`DELETE FROM users WHERE id = $1`, e.owner.UserID)
	if _, err := e.u.Owned(ctx, e.owner, open); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Owned after the account went = %v, want ErrNotFound", err)
	}

	// Terminating removes the bytes and then the receipt, finished or not.
	for _, id := range []string{open, finished} {
		up, err := e.core.GetUpload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.(tusd.TerminatableUpload).Terminate(ctx); err != nil {
			t.Fatal(err)
		}
		if e.hasFiles(id) || e.hasReceipt(id) {
			t.Errorf("terminated upload %s: files %v, receipt %v", id, e.hasFiles(id), e.hasReceipt(id))
		}
	}
}

// TestExpire checks the janitor: what saw no activity for the expiry goes,
// bytes first, unless its lock is held; files that belong to no receipt go
// once they are as old.
func TestExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Hour, nil)
	ctx := context.Background()
	other, err := NewLocker(e.pool, LockerOptions{}) // another instance
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	old := time.Now().Add(-2 * time.Hour)
	orphan := func(mtime time.Time) string {
		id := NewID()
		for _, name := range []string{id, id + ".info"} {
			p := filepath.Join(e.dir, name)
			if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	finish := func(id string) {
		if err := e.u.finished(ctx, id, "5b0d3a8e-6a1f-4c3e-9d7b-2f1e0c9a8b7d"); err != nil {
			t.Fatal(err)
		}
		if err := e.u.dropData(ctx, Receipt{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	type upload struct {
		name    string
		id      string
		idle    bool // last active two hours ago
		gone    bool // want it removed
		hasData bool // want its files while it is kept
	}
	ups := []*upload{
		{name: "idle", id: e.create(100, 10), idle: true, gone: true},
		{name: "active", id: e.create(100, 10), hasData: true},
		{name: "idle, locked", id: e.create(100, 10), idle: true, hasData: true},
		{name: "finished, idle", id: e.create(100, 100), idle: true, gone: true},
		{name: "finished", id: e.create(100, 100)},
		{name: "idle, bytes gone", id: e.create(100, 10), idle: true, gone: true},
		{name: "old files without a receipt", id: orphan(old), gone: true},
		{name: "new files without a receipt", id: orphan(time.Now()), hasData: true},
	}
	var idle []string
	for _, up := range ups {
		if up.idle {
			idle = append(idle, up.id)
		}
		switch up.name {
		case "finished, idle", "finished":
			finish(up.id)
		case "idle, bytes gone":
			for _, name := range []string{up.id, up.id + ".info"} {
				if err := os.Remove(filepath.Join(e.dir, name)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	e.exec(`UPDATE resumable_uploads SET active_at = now() - interval '2 hours' WHERE id = ANY($1)`, idle)
	release, asked, _ := signal()
	locked := hold(t, other, ups[2].id, release)
	defer locked.Unlock()

	n, err := e.u.Expire(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, up := range ups {
		if up.gone {
			want++
		}
		hasReceipt := up.name != "old files without a receipt" && up.name != "new files without a receipt"
		if got := e.hasReceipt(up.id); got != (hasReceipt && !up.gone) {
			t.Errorf("%s: receipt kept = %v", up.name, got)
		}
		if got := e.hasFiles(up.id); got != (up.hasData && !up.gone) {
			t.Errorf("%s: files kept = %v (%v)", up.name, got, e.files())
		}
	}
	if n != want {
		t.Errorf("Expire removed %d, want %d", n, want)
	}
	select {
	case <-asked:
		t.Error("the janitor asked a holder to let go")
	default:
	}

	// Released, the idle one goes at the next run.
	locked.Unlock()
	if n, err := e.u.Expire(ctx, time.Now()); n != 1 || err != nil || e.hasReceipt(ups[2].id) || e.hasFiles(ups[2].id) {
		t.Errorf("after the release, Expire = %d, %v", n, err)
	}
}

func TestExactReader(t *testing.T) {
	tests := []struct {
		name string
		data string
		want int64
		ok   bool
	}{
		{"exact", "hello", 5, true},
		{"short", "hell", 5, false},
		{"long", "hello!", 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := io.ReadAll(&exactReader{r: strings.NewReader(tt.data), want: tt.want})
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, errs.ErrInvalid)) {
				t.Errorf("ReadAll = %q, %v", got, err)
			}
		})
	}
}
