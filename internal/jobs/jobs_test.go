package jobs_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/jobs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
	"github.com/mediagate/mediagate/internal/testenv"
	"github.com/mediagate/mediagate/internal/video"
)

// env is a store with the pipeline on its own database and data dir.
type env struct {
	pool  *pgxpool.Pool
	disk  *media.Disk
	store *media.Store
	jobs  *jobs.Jobs
	owner acl.Principal
}

func newEnv(t *testing.T, workers int) *env {
	t.Helper()
	return newEnvWith(t, jobs.Options{Workers: workers})
}

// newEnvWith is newEnv with the pipeline's options (Log and Poll are set
// here).
func newEnvWith(t *testing.T, o jobs.Options) *env {
	t.Helper()
	workers := o.Workers
	testenv.LookPath(t, "ffmpeg")
	pool, _ := testdb.New(t)
	ctx := t.Context()
	if err := jobs.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	disk, err := media.OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	log := slog.New(slog.DiscardHandler)
	store := media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: 1 << 30}, acl.NewDecider(pool), log)
	o.Log, o.Poll = log, 200*time.Millisecond
	j, err := jobs.New(pool, store, o)
	if err != nil {
		t.Fatal(err)
	}
	store.SetEnqueuer(j)
	if workers > 0 {
		if err := j.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			j.Stop(ctx)
		})
	}
	u, err := session.NewUsers(pool).Create(ctx, "editor@example.com", acl.RoleEditor, "password123")
	if err != nil {
		t.Fatal(err)
	}
	return &env{pool: pool, disk: disk, store: store, jobs: j, owner: u.Principal()}
}

// clip makes a 2 s test video with ffmpeg; faststart puts its moov first.
func clip(t *testing.T, faststart bool) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:v", "mpeg4", "-c:a", "aac", "-pix_fmt", "yuv420p"}
	if faststart {
		args = append(args, "-movflags", "+faststart")
	}
	if b, err := exec.Command("ffmpeg", append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// settled waits until the pipeline is done with sha.
func (e *env) settled(t *testing.T, sha string) media.Info {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		in, err := e.store.BlobInfo(t.Context(), sha)
		if err != nil {
			t.Fatal(err)
		}
		if in.State == media.InfoReady || in.State == media.InfoFailed {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline is still %q on %s after 60 s", in.State, sha)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finished lists the jobs once none is running any more: River records how
// a job ended just after the worker set the blob's state.
func (e *env) finished(t *testing.T) ([]jobs.Job, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := e.jobs.List(t.Context(), 5)
		running := false
		for _, j := range list {
			running = running || j.State == "running"
		}
		if err != nil || !running || time.Now().After(deadline) {
			return list, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) derived(t *testing.T, it media.Item, kind string) []byte {
	t.Helper()
	d, err := e.store.Derived(t.Context(), it, kind)
	if err != nil {
		t.Fatalf("Derived(%s): %v", kind, err)
	}
	b, err := os.ReadFile(e.disk.BlobPath(d.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVideoPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	ctx := t.Context()
	data := clip(t, false)
	if need, err := video.NeedsFaststart(bytes.NewReader(data), int64(len(data))); err != nil || !need {
		t.Fatalf("the test clip should have its moov last: %v, %v", need, err)
	}
	it, err := e.store.Upload(ctx, e.owner, bytes.NewReader(data), "clip.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := e.settled(t, it.SHA256)
	if in.State != media.InfoReady || in.Kind != "video" || in.Width != 640 || in.Height != 360 || in.Duration < 1.9 || in.Duration > 2.2 {
		t.Fatalf("info = %+v, want a ready 640x360 video of 2 s", in)
	}
	for kind, box := range map[string][2]int{media.DerivedPoster: {1280, 720}, media.DerivedThumb: {320, 180}} {
		img, err := jpeg.Decode(bytes.NewReader(e.derived(t, it, kind)))
		if err != nil {
			t.Fatalf("%s: not a JPEG: %v", kind, err)
		}
		if b := img.Bounds(); b.Dx() > box[0] || b.Dy() > box[1] || b.Dx() < box[0]/4 {
			t.Errorf("%s is %v, want it to fit %dx%d", kind, b, box[0], box[1])
		}
	}
	stream := e.derived(t, it, media.DerivedStream)
	if need, err := video.NeedsFaststart(bytes.NewReader(stream), int64(len(stream))); err != nil || need {
		t.Errorf("the rendition still needs faststart: %v, %v", need, err)
	}

	// The same content again: one job, the same derived files.
	again, err := e.store.Upload(ctx, e.owner, bytes.NewReader(data), "again.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d1, d2 := e.derived(t, it, media.DerivedPoster), e.derived(t, again, media.DerivedPoster); !bytes.Equal(d1, d2) {
		t.Error("two items of the same content have different posters")
	}
	list, err := e.jobs.List(ctx, 10)
	if err != nil || len(list) != 1 {
		t.Errorf("jobs = %+v, %v; want one job for one blob", list, err)
	}

	// Deleting both items removes the blob and every derived file.
	for _, x := range []media.Item{it, again} {
		if err := deleteNow(ctx, e.store, e.owner, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	var left int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM blobs`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d blob rows left after deleting both items (%v)", left, err)
	}
	n := 0
	e.disk.Walk(ctx, func(string) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d blob files left after deleting both items", n)
	}
}

func TestFaststartClipNeedsNoRendition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	it, err := e.store.Upload(t.Context(), e.owner, bytes.NewReader(clip(t, true)), "fast.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if in := e.settled(t, it.SHA256); in.State != media.InfoReady || in.Derived[media.DerivedStream] || !in.Derived[media.DerivedPoster] {
		t.Errorf("info = %+v, want ready with a poster and no rendition", in)
	}
}

func TestBadMediaFailsWithAReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	data := clip(t, false)
	cut := data[:len(data)/2] // moov at the end: cut off
	it, err := e.store.Upload(t.Context(), e.owner, bytes.NewReader(cut), "cut.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := e.settled(t, it.SHA256)
	if in.State != media.InfoFailed || in.Reason == "" || bytes.Contains([]byte(in.Reason), []byte("/")) {
		t.Errorf("info = %+v, want failed with a readable reason and no path", in)
	}
	// It counts as a failure once its attempt is over, and the job is
	// cancelled: no retry helps.
	for start := time.Now(); e.jobs.Failures() != 1; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("Failures() = %d, want 1", e.jobs.Failures())
		}
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		states, err := e.jobs.States(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if states["cancelled"] == 1 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("States() = %v, want the job cancelled", states)
		}
	}
	// Final at once: one attempt, no retry scheduled.
	if list, err := e.finished(t); err != nil || len(list) != 1 || list[0].State != "cancelled" || list[0].Attempt != 1 {
		t.Errorf("jobs = %+v, %v; want one job, cancelled after its first attempt", list, err)
	}
	// The item itself stays downloadable.
	got, err := e.store.Get(t.Context(), e.owner, it.ID)
	if err != nil || got.Size != int64(len(cut)) {
		t.Errorf("the failed item: %+v, %v", got, err)
	}
	// A file that is not media gets no job at all.
	txt, err := e.store.Upload(t.Context(), e.owner, bytes.NewReader([]byte("just words\n")), "notes.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := e.store.BlobInfo(t.Context(), txt.SHA256); in.State != "" {
		t.Errorf("a text file has pipeline state %q", in.State)
	}
}

// TestTimeoutIsRetriedThenFails gives every ffprobe and ffmpeg run a
// wall-clock cap of 5 ms, which no real run meets: a timeout may be a busy
// machine, so the job is tried again after River's backoff, three times in
// all, and then fails with a reason that says so. (A file ffmpeg refuses
// fails at its first attempt: TestBadMediaFailsWithAReason.)
func TestTimeoutIsRetriedThenFails(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, jobs.Options{Workers: 1, FFmpegTimeout: 5 * time.Millisecond})
	ctx := t.Context()
	it, err := e.store.Upload(ctx, e.owner, bytes.NewReader(clip(t, true)), "slow.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	in := e.settled(t, it.SHA256)
	took := time.Since(start)
	t.Logf("failed after %v: %q", took.Round(time.Millisecond), in.Reason)
	if in.State != media.InfoFailed || !strings.HasPrefix(in.Reason, "processing took too long, 3 times") {
		t.Errorf("info = %+v, want failed after 3 timeouts", in)
	}
	// River's backoff between the attempts: about 1 s, then about 16 s.
	if took < 15*time.Second {
		t.Errorf("failed after %v: the attempts were not spaced by River's backoff", took)
	}
	list, err := e.finished(t)
	if err != nil || len(list) != 1 || list[0].State != "cancelled" || list[0].Attempt != 3 || !strings.Contains(list[0].Error, "took too long") {
		t.Errorf("jobs = %+v, %v; want one job, cancelled after 3 attempts that took too long", list, err)
	}
	if len(in.Derived) != 0 {
		t.Errorf("derived files %v after failing", in.Derived)
	}
}

// TestDeleteCancelsTheJob deletes an item before any worker ran: its job is
// cancelled in the same transaction, and nothing is derived afterwards.
func TestDeleteCancelsTheJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0) // nobody works the jobs
	ctx := t.Context()
	it, err := e.store.Upload(ctx, e.owner, bytes.NewReader(clip(t, false)), "gone.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := e.jobs.List(ctx, 5)
	if len(list) != 1 || list[0].State != "available" || list[0].Blob != it.SHA256 {
		t.Fatalf("jobs after the upload: %+v", list)
	}
	if err := deleteNow(ctx, e.store, e.owner, it.ID); err != nil {
		t.Fatal(err)
	}
	list, _ = e.jobs.List(ctx, 5)
	if len(list) != 1 || list[0].State != "cancelled" {
		t.Errorf("jobs after the delete: %+v, want the job cancelled", list)
	}
	states, err := e.jobs.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every state is there, so that a scrape shows the ones at 0.
	want := map[string]int64{"available": 0, "cancelled": 1, "completed": 0, "discarded": 0, "pending": 0, "retryable": 0, "running": 0, "scheduled": 0}
	if !maps.Equal(states, want) || e.jobs.Failures() != 0 {
		t.Errorf("States() = %v, Failures() = %d; want %v and 0", states, e.jobs.Failures(), want)
	}
	_ = io.Discard
}

// deleteNow deletes the item and purges it from the trash at once.
func deleteNow(ctx context.Context, s *media.Store, p acl.Principal, id string) error {
	if err := s.Delete(ctx, p, id); err != nil {
		return err
	}
	return s.Purge(ctx, p, id)
}
