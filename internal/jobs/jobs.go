// Package jobs runs the media pipeline as durable River jobs in
// PostgreSQL: each new blob of video, audio or an image gets one job
// (inserted in the transaction that records the blob, unique per blob,
// retried with backoff, cancelled when the blob goes), which probes it and
// makes its posters, thumbnails and faststart rendition with package video.
// A file ffmpeg refuses fails the job at once; an ffmpeg run that goes past
// its wall-clock cap is tried again a few times first, as a busy machine
// causes that too. River's schema has its own migration track (Migrate).
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/video"
)

// Migrate brings River's own tables up to date on their own track (River's
// migration versions, not ours), then checks that nothing is left to apply.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	v, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: validate migrations: %w", err)
	}
	if !v.OK {
		return fmt.Errorf("jobs: River's schema is not up to date: %v", v.Messages)
	}
	return nil
}

// ProcessArgs is the job of one blob.
type ProcessArgs struct {
	Blob string `json:"blob"`
}

// Kind names the job in River.
func (ProcessArgs) Kind() string { return "process_blob" }

// InsertOpts makes the job unique per blob while it is due or running.
func (ProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, Queue: queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

const queue = "media"

// timeoutAttempts is how many attempts a job gets whose ffmpeg runs go past
// their wall-clock cap, River's backoff (1 s, then 16 s) between them; then
// it fails for good. A file ffmpeg refuses fails at its first attempt.
const timeoutAttempts = 3

// Options configure the workers.
type Options struct {
	Workers       int           // jobs worked at once; 0 inserts only (the CLI, or an instance that does not work)
	Log           *slog.Logger  //
	Timeout       time.Duration // for one job; default 30 minutes
	Poll          time.Duration // how often to look for due jobs besides notifications; default 1 s
	FFmpegTimeout time.Duration // the wall-clock cap of one ffprobe or ffmpeg run; default video.DefaultTimeout
}

// Jobs is the pipeline's River client.
type Jobs struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	store  *media.Store
	log    *slog.Logger
	video  video.Runner
	work   func(ctx context.Context, b media.Blob) error

	failures atomic.Uint64 // attempts that failed, here
}

// New returns Jobs on pool for store. With Options.Workers > 0 it works
// jobs once started.
func New(pool *pgxpool.Pool, store *media.Store, o Options) (*Jobs, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	j := &Jobs{pool: pool, store: store, log: o.Log, video: video.Runner{Timeout: o.FFmpegTimeout}}
	j.work = j.process
	cfg := &river.Config{
		Logger:     o.Log.With("component", "jobs"),
		JobTimeout: o.Timeout,
		// Fewer words from River at info level: our own lines say what a job did.
		FetchPollInterval: o.Poll,
	}
	if o.Workers > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &processWorker{j: j}); err != nil {
			return nil, err
		}
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{queue: {MaxWorkers: o.Workers}}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	j.client = c
	return j, nil
}

// Start works jobs until Stop.
func (j *Jobs) Start(ctx context.Context) error { return j.client.Start(ctx) }

// Stop waits for running jobs to finish (until ctx is done, then cancels
// them; River retries them later).
func (j *Jobs) Stop(ctx context.Context) error {
	err := j.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return j.client.StopAndCancel(context.Background())
	}
	return err
}

// EnqueueTx implements media.Enqueuer.
func (j *Jobs) EnqueueTx(ctx context.Context, tx pgx.Tx, blob string) (int64, error) {
	res, err := j.client.InsertTx(ctx, tx, ProcessArgs{Blob: blob}, nil)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

// CancelTx implements media.Canceler: a job of a blob that is gone.
func (j *Jobs) CancelTx(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := j.client.JobCancelTx(ctx, tx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil
	}
	return err
}

// Job is a job as `mediagate jobs` lists it.
type Job struct {
	ID        int64
	State     string
	Blob      string
	Attempt   int
	Error     string // the last attempt's
	CreatedAt time.Time
}

// List returns the most recent jobs, newest first.
func (j *Jobs) List(ctx context.Context, n int) ([]Job, error) {
	res, err := j.client.JobList(ctx, river.NewJobListParams().Kinds(ProcessArgs{}.Kind()).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(n))
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, r := range res.Jobs {
		out = append(out, toJob(r))
	}
	return out, nil
}

func toJob(r *rivertype.JobRow) Job {
	jb := Job{ID: r.ID, State: string(r.State), Attempt: r.Attempt, CreatedAt: r.CreatedAt}
	var args ProcessArgs
	if err := jsonUnmarshal(r.EncodedArgs, &args); err == nil {
		jb.Blob = args.Blob
	}
	if n := len(r.Errors); n > 0 {
		jb.Error = r.Errors[n-1].Error
	}
	return jb
}

// Retry makes job id due again now and the blob's state pending.
func (j *Jobs) Retry(ctx context.Context, id int64) (Job, error) {
	var out Job
	err := pgx.BeginFunc(ctx, j.pool, func(tx pgx.Tx) error {
		r, err := j.client.JobRetryTx(ctx, tx, id)
		if errors.Is(err, river.ErrNotFound) {
			return fmt.Errorf("%w: no job %d", errs.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		out = toJob(r)
		return media.RestartTx(ctx, tx, out.Blob, id)
	})
	return out, err
}

// RetryBlob starts the pipeline again for a blob whose job failed: what a
// manager's "retry" does.
func (j *Jobs) RetryBlob(ctx context.Context, blob string) error {
	return pgx.BeginFunc(ctx, j.pool, func(tx pgx.Tx) error {
		res, err := j.client.InsertTx(ctx, tx, ProcessArgs{Blob: blob}, nil)
		if err != nil {
			return err
		}
		id := res.Job.ID
		if res.UniqueSkippedAsDuplicate {
			if _, err := j.client.JobRetryTx(ctx, tx, id); err != nil && !errors.Is(err, river.ErrNotFound) {
				return err
			}
		}
		return media.RestartTx(ctx, tx, blob, id)
	})
}

// Failures returns how many attempts at a job failed in this process since
// it started (retried or not).
func (j *Jobs) Failures() uint64 { return j.failures.Load() }

// States returns how many of the pipeline's jobs are in each of River's
// states (every state, 0 included), across all instances.
func (j *Jobs) States(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, s := range rivertype.JobStates() {
		out[string(s)] = 0
	}
	rows, err := j.pool.Query(ctx, `SELECT state::text, count(*) FROM river_job WHERE kind = $1 GROUP BY state`, ProcessArgs{}.Kind())
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	var state string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		out[state] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// processWorker works ProcessArgs jobs.
type processWorker struct {
	river.WorkerDefaults[ProcessArgs]
	j *Jobs
}

func (w *processWorker) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	err := w.work(ctx, job)
	if err != nil && !errors.Is(err, errBlobGone) {
		w.j.failures.Add(1)
	}
	return err
}

// errBlobGone ends the job of a blob deleted meanwhile: not a failure.
var errBlobGone = errors.New("the blob is gone")

func (w *processWorker) work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	j := w.j
	b, err := j.store.LoadBlob(ctx, job.Args.Blob)
	if errors.Is(err, errs.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("%w: %s", errBlobGone, job.Args.Blob))
	}
	if err != nil {
		return err
	}
	start := time.Now()
	err = j.work(ctx, b)
	var bad *badMedia
	var slow *slowMedia
	switch {
	case err == nil:
		j.log.Info("media ready", "blob", b.SHA256, "took", time.Since(start).Round(time.Millisecond))
		return j.store.SetState(context.WithoutCancel(ctx), b.SHA256, media.InfoReady, "")
	case errors.As(err, &bad):
		// The content itself is the problem: no retry will help.
		j.log.Warn("media pipeline refused a file", "blob", b.SHA256, "reason", bad.Reason, "err", err)
		if serr := j.store.SetState(context.WithoutCancel(ctx), b.SHA256, media.InfoFailed, bad.Reason); serr != nil {
			return serr
		}
		return river.JobCancel(err)
	case errors.As(err, &slow) && job.Attempt < timeoutAttempts:
		// Perhaps only a busy machine: River tries again after its backoff.
		j.log.Warn("media pipeline timed out; will try again", "blob", b.SHA256, "attempt", job.Attempt, "err", err)
		return err
	case errors.As(err, &slow):
		// As slow every time: the file itself, most likely.
		reason := fmt.Sprintf("%s, %d times in a row: the file may be too heavy, or the server too busy; a manager can retry", slow.Reason, job.Attempt)
		j.log.Warn("media pipeline gave up on a file that takes too long", "blob", b.SHA256, "attempts", job.Attempt, "err", err)
		if serr := j.store.SetState(context.WithoutCancel(ctx), b.SHA256, media.InfoFailed, reason); serr != nil {
			return serr
		}
		return river.JobCancel(err)
	}
	if job.Attempt >= job.MaxAttempts {
		reason := "preparing the preview failed; a manager can retry"
		if serr := j.store.SetState(context.WithoutCancel(ctx), b.SHA256, media.InfoFailed, reason); serr != nil {
			return serr
		}
	}
	return err
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
