// Package audit records who read what: every decision on the streaming path
// goes through a bounded in-memory buffer and is written to PostgreSQL in
// batches with COPY, so the hot path never waits for the database.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/errs"
)

// Entry is one decision: at what time, on which item, for whom (a user's
// email or link:<id>), allowed or denied, and the Range asked for.
type Entry struct {
	At      time.Time `json:"at"`
	MediaID string    `json:"-"`
	Actor   string    `json:"who"`
	Allowed bool      `json:"allowed"`
	Range   string    `json:"range,omitempty"`
	Action  string    `json:"action,omitempty"` // "" for a read; "replace" when the file was replaced
}

// Options size the buffer and the batches.
type Options struct {
	Buffer   int           // entries held before new ones are dropped; default 65536
	Batch    int           // entries per COPY at most; default 5000
	Interval time.Duration // how long an entry may wait for its batch; default 200ms
}

// Log is the read audit.
type Log struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	opt     Options
	ch      chan Entry
	dropped atomic.Int64
	done    chan struct{}
}

// New returns a Log; Run must be running for entries to be written.
func New(pool *pgxpool.Pool, log *slog.Logger, opt Options) *Log {
	if opt.Buffer <= 0 {
		opt.Buffer = 65536
	}
	if opt.Batch <= 0 {
		opt.Batch = 5000
	}
	if opt.Interval <= 0 {
		opt.Interval = 200 * time.Millisecond
	}
	return &Log{pool: pool, log: log, opt: opt, ch: make(chan Entry, opt.Buffer), done: make(chan struct{})}
}

// Record queues e. It never blocks: when the buffer is full (the database
// is slower than the traffic, or down) the entry is dropped and counted.
func (l *Log) Record(e Entry) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	select {
	case l.ch <- e:
	default:
		l.dropped.Add(1)
	}
}

// Dropped returns how many entries were dropped because the buffer was full
// or their write failed.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Depth returns how many entries wait in the buffer, of Capacity.
func (l *Log) Depth() int { return len(l.ch) }

// Capacity returns the most entries the buffer holds (Options.Buffer).
func (l *Log) Capacity() int { return cap(l.ch) }

// Run writes queued entries in batches until ctx ends, then writes what is
// still queued (with a fresh 10 s deadline) and returns. A clean shutdown
// therefore loses nothing; a crash loses at most the buffer's content, which
// is never older than Interval plus one write.
func (l *Log) Run(ctx context.Context) {
	defer close(l.done)
	batch := make([]Entry, 0, l.opt.Batch)
	var reported int64
	tick := time.NewTicker(l.opt.Interval)
	defer tick.Stop()
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := l.write(ctx, batch); err != nil {
			l.dropped.Add(int64(len(batch)))
			l.log.Warn("audit entries lost", "count", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-l.ch:
			batch = append(batch, e)
			if len(batch) >= l.opt.Batch {
				flush(ctx)
			}
		case <-tick.C:
			flush(ctx)
			if n := l.dropped.Load(); n > reported {
				l.log.Warn("audit buffer full: entries dropped", "since_last_report", n-reported, "total", n)
				reported = n
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for {
				select {
				case e := <-l.ch:
					batch = append(batch, e)
					if len(batch) >= l.opt.Batch {
						flush(final)
					}
					continue
				default:
				}
				break
			}
			flush(final)
			return
		}
	}
}

// Wait blocks until Run has returned.
func (l *Log) Wait() { <-l.done }

func (l *Log) write(ctx context.Context, batch []Entry) error {
	_, err := l.pool.CopyFrom(ctx, pgx.Identifier{"access_log"},
		[]string{"at", "media_id", "actor", "allowed", "byte_range"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			e := batch[i]
			return []any{e.At, e.MediaID, e.Actor, e.Allowed, e.Range}, nil
		}))
	return err
}

// Page is a page of the audit of one item, newest first.
type Page struct {
	Entries []Entry `json:"entries"`
	Next    string  `json:"next_cursor"`
}

// List returns the audit of one item, newest first, limit at a time before
// the cursor (an RFC 3339 time from a previous page). The caller checks the
// principal may manage the item.
func (l *Log) List(ctx context.Context, mediaID, cursor string, limit int) (Page, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	before := time.Now().Add(time.Hour)
	if cursor != "" {
		t, err := time.Parse(time.RFC3339Nano, cursor)
		if err != nil {
			return Page{}, fmt.Errorf("%w: malformed cursor", errs.ErrInvalid)
		}
		before = t
	}
	rows, err := l.pool.Query(ctx, `SELECT at, actor, allowed, byte_range, CASE WHEN action = 'read' THEN '' ELSE action END FROM access_log
		WHERE media_id = $1 AND at < $2 ORDER BY at DESC LIMIT $3`, mediaID, before, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("read audit: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		e := Entry{MediaID: mediaID}
		err := row.Scan(&e.At, &e.Actor, &e.Allowed, &e.Range, &e.Action)
		return e, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Page{}, fmt.Errorf("read audit: %w", err)
	}
	p := Page{Entries: entries}
	if len(entries) > limit {
		p.Entries = entries[:limit]
		p.Next = p.Entries[limit-1].At.Format(time.RFC3339Nano)
	}
	if p.Entries == nil {
		p.Entries = []Entry{}
	}
	return p, nil
}
