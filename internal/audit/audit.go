// Package audit records who read what: every decision on the streaming path
// goes into a bounded in-memory buffer, where repeats of the same request
// fold into one row, and is written to PostgreSQL in batches with COPY, so
// the hot path never waits for the database.
package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/errs"
)

// Entry is one decision: at what time, on which item, for whom (a user's
// email or link:<id>), allowed or denied, the Range asked for, how the
// reader got in (see Via) and the bytes the answer carried. Read back, an
// entry may stand for several identical requests (see FoldWindow): then
// Requests counts them, Last is the time of the last one and Bytes is
// their sum.
type Entry struct {
	At       time.Time `json:"at"`
	Last     time.Time `json:"last_at,omitzero"`
	MediaID  string    `json:"-"`
	Actor    string    `json:"who"`
	Allowed  bool      `json:"allowed"`
	Range    string    `json:"range,omitempty"`
	Action   string    `json:"action,omitempty"` // "" for a read; "replace" when the file was replaced
	Via      string    `json:"via,omitempty"`
	Bytes    int64     `json:"bytes"`
	Requests int64     `json:"requests"`
	// UserID and Role are the signed-in reader's: the writer finds Via from
	// them (mg_via) when it is empty, off the streaming path.
	UserID string `json:"-"`
	Role   string `json:"-"`
}

// ViaLink is the Via of a read through a share link (Actor link:<id>).
const ViaLink = "share link"

// FoldWindow is how long a row of the audit may stand for identical
// requests (same item, reader, way in, outcome, action and Range): a player
// or a script asking for the same thing again and again, or a flood of
// refused requests, costs the database a row per write (Interval) instead of
// one per request, since a written row takes no more repeats. A request with
// another Range, or one past the window, starts a row of its own; the
// grouping into viewings (ViewGap) is the same either way.
const FoldWindow = time.Second

// Options size the buffer and the batches.
type Options struct {
	Buffer   int           // rows held before new ones are dropped; default 65536
	Batch    int           // rows per COPY at most; default 5000
	Interval time.Duration // how long a row may wait for its batch; default 200ms
}

// Log is the read audit.
type Log struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	opt     Options
	dropped atomic.Int64
	full    chan struct{} // a batch is ready: wakes Run before its tick
	done    chan struct{}

	mu       sync.Mutex
	pending  []Entry         // rows waiting for their write
	last     map[foldKey]int // the newest pending row of each kind of request
	inflight int             // rows of the write under way, still counted against Buffer
}

// foldKey is what identical requests share.
type foldKey struct {
	media, actor, rng, action, via, user, role string
	allowed                                    bool
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
	return &Log{pool: pool, log: log, opt: opt, full: make(chan struct{}, 1), done: make(chan struct{}),
		last: make(map[foldKey]int)}
}

// Record queues e. It never blocks on the database: when the buffer is
// full (the database is slower than the traffic, or down) the entry is
// dropped and counted. An entry identical to a pending row that began less
// than FoldWindow before it is added to that row instead of making its own.
func (l *Log) Record(e Entry) {
	if e.At.IsZero() {
		// The wall clock alone: times are compared as they are stored, so a
		// clock stepped back starts a row instead of ending one before it began.
		e.At = time.Now().Round(0)
	}
	k := foldKey{e.MediaID, e.Actor, e.Range, e.Action, e.Via, e.UserID, e.Role, e.Allowed}
	l.mu.Lock()
	if i, ok := l.last[k]; ok {
		row := &l.pending[i]
		if last := cmp.Or(row.Last, row.At); !e.At.Before(last) && e.At.Sub(row.At) < FoldWindow {
			row.Last, row.Requests, row.Bytes = e.At, row.Requests+1, row.Bytes+e.Bytes
			l.mu.Unlock()
			return
		}
	}
	if len(l.pending)+l.inflight >= l.opt.Buffer {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	e.Last, e.Requests = time.Time{}, 1
	l.pending = append(l.pending, e)
	l.last[k] = len(l.pending) - 1
	ready := len(l.pending) == l.opt.Batch
	l.mu.Unlock()
	if ready {
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
}

// Dropped returns how many entries were dropped because the buffer was full
// or their write failed.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Depth returns how many rows wait in the buffer or are being written, of
// Capacity.
func (l *Log) Depth() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending) + l.inflight
}

// Capacity returns the most rows the buffer holds (Options.Buffer), those
// being written included.
func (l *Log) Capacity() int { return l.opt.Buffer }

// take removes every pending row at once, to be written: the lock is held
// for a swap, never for a copy, however full the buffer. The rows count
// against the buffer until written gives them back.
func (l *Log) take() []Entry {
	fresh := make(map[foldKey]int)
	l.mu.Lock()
	defer l.mu.Unlock()
	rows := l.pending
	l.pending, l.last = nil, fresh
	l.inflight += len(rows)
	return rows
}

// written gives back n rows of the write under way.
func (l *Log) written(n int) {
	l.mu.Lock()
	l.inflight -= n
	l.mu.Unlock()
}

// Run writes queued rows in batches until ctx ends, then finishes the write
// under way, writes what is still queued (with a fresh 10 s deadline) and
// returns. A clean shutdown therefore loses nothing; a crash loses at most the buffer's content, which
// is never older than Interval plus one write.
func (l *Log) Run(ctx context.Context) {
	defer close(l.done)
	var reported int64
	tick := time.NewTicker(l.opt.Interval)
	defer tick.Stop()
	// flush writes every pending row, Batch rows per COPY, each within
	// writeTimeout of its start.
	flush := func(ctx context.Context) {
		rows := l.take()
		for start := 0; start < len(rows); start += l.opt.Batch {
			batch := rows[start:min(start+l.opt.Batch, len(rows))]
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := l.write(wctx, batch)
			cancel()
			if err != nil {
				var n int64
				for _, e := range batch {
					n += e.Requests
				}
				l.dropped.Add(n)
				l.log.Warn("audit entries lost", "count", n, "err", err)
			}
			l.written(len(batch))
		}
	}
	// Writes begun before ctx ends are finished: the end of ctx only stops
	// the loop, and the last flush writes the rest.
	live := context.WithoutCancel(ctx)
	for {
		select {
		case <-l.full:
			flush(live)
		case <-tick.C:
			flush(live)
			if n := l.dropped.Load(); n > reported {
				l.log.Warn("audit buffer full: entries dropped", "since_last_report", n-reported, "total", n)
				reported = n
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			flush(final)
			return
		}
	}
}

// writeTimeout bounds one COPY: a database that stopped answering loses
// the batch (counted, logged) rather than holding the writer forever.
const writeTimeout = 10 * time.Second

// Wait blocks until Run has returned.
func (l *Log) Wait() { <-l.done }

func (l *Log) write(ctx context.Context, batch []Entry) error {
	if err := l.resolveVia(ctx, batch); err != nil {
		// The reads are still worth keeping without it.
		l.log.Warn("audit: how readers got in is not recorded", "count", len(batch), "err", err)
	}
	// Values of the columns' own types, which pgx encodes directly (a
	// string for the uuid would cost it a failed plan and a text fallback).
	_, err := l.pool.CopyFrom(ctx, pgx.Identifier{"access_log"},
		[]string{"at", "last_at", "media_id", "actor", "allowed", "byte_range", "via", "bytes", "requests"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			e := batch[i]
			id, err := parseUUID(e.MediaID)
			if err != nil {
				return nil, err
			}
			last := pgtype.Timestamptz{Time: e.Last, Valid: !e.Last.IsZero()}
			return []any{e.At, last, id, e.Actor, e.Allowed, e.Range, e.Via, e.Bytes, int32(min(max(e.Requests, 1), 1<<31-1))}, nil
		}))
	return err
}

// parseUUID reads an item's id.
func parseUUID(s string) (pgtype.UUID, error) {
	var u pgtype.UUID
	if err := u.Scan(s); err != nil {
		return u, fmt.Errorf("audit: %q is not an item id: %w", s, err)
	}
	return u, nil
}

// resolveVia fills in the Via of the batch's allowed reads by signed-in
// users, one query for the batch: what gave them access when the batch is
// written, a moment after the decision.
func (l *Log) resolveVia(ctx context.Context, batch []Entry) error {
	type who struct{ user, role, item string }
	var users, roles, items []string
	seen := map[who]bool{}
	for _, e := range batch {
		k := who{e.UserID, e.Role, e.MediaID}
		if e.Allowed && e.Via == "" && e.UserID != "" && !seen[k] {
			seen[k] = true
			users, roles, items = append(users, k.user), append(roles, k.role), append(items, k.item)
		}
	}
	if len(users) == 0 {
		return nil
	}
	rows, err := l.pool.Query(ctx, `SELECT t.n, COALESCE(mg_via(t.u, t.r, t.i), '')
		FROM unnest($1::uuid[], $2::text[], $3::uuid[]) WITH ORDINALITY AS t(u, r, i, n)`, users, roles, items)
	if err != nil {
		return err
	}
	via := map[who]string{}
	var n int64
	var v string
	if _, err := pgx.ForEachRow(rows, []any{&n, &v}, func() error {
		if n >= 1 && n <= int64(len(users)) {
			via[who{users[n-1], roles[n-1], items[n-1]}] = v
		}
		return nil
	}); err != nil {
		return err
	}
	for i, e := range batch {
		if v, ok := via[who{e.UserID, e.Role, e.MediaID}]; ok && e.Allowed && e.Via == "" {
			batch[i].Via = v
		}
	}
	return nil
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
	rows, err := l.pool.Query(ctx, `SELECT at, COALESCE(last_at, at), actor, allowed, byte_range,
			CASE WHEN action = 'read' THEN '' ELSE action END, via, bytes, requests
		FROM access_log WHERE media_id = $1 AND at < $2 ORDER BY at DESC LIMIT $3`, mediaID, before, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("read audit: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		e := Entry{MediaID: mediaID}
		err := row.Scan(&e.At, &e.Last, &e.Actor, &e.Allowed, &e.Range, &e.Action, &e.Via, &e.Bytes, &e.Requests)
		if e.Requests == 1 {
			e.Last = time.Time{}
		}
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

// ViewGap is how long a reader may go without a request and still be in
// the same viewing: a player asks for parts of a file as it plays, and a
// paused or buffered one asks nothing for a while. A longer silence starts a
// new row.
const ViewGap = 5 * time.Minute

// View is one viewing in the audit of an item: the requests one reader
// (Who) made through one way in (Via), each within ViewGap of the one
// before, all allowed or all refused: when it started and ended, how many
// requests there were and the bytes their answers carried.
type View struct {
	Who      string    `json:"who"`
	Via      string    `json:"via"`
	Allowed  bool      `json:"allowed"`
	Action   string    `json:"action,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	Requests int64     `json:"requests"`
	Bytes    int64     `json:"bytes"`
}

// Views is a page of viewings, newest first.
type Views struct {
	Views []View `json:"views"`
	Next  string `json:"next_cursor"`
}

// viewCursor is where a page of views ends: the last view's key.
type viewCursor struct {
	Started time.Time `json:"s"`
	Who     string    `json:"w"`
	Via     string    `json:"v"`
	Allowed bool      `json:"a"`
	Action  string    `json:"x"`
}

// ListViews returns the audit of one item grouped into viewings, newest
// first, limit at a time after the cursor (from a previous page). The rows
// are one per request, or per run of identical ones (FoldWindow); they are
// grouped here, when read (gaps and islands: a request more than ViewGap
// after the one before it by the same reader and way in starts a viewing).
// The caller checks the principal may manage the item.
func (l *Log) ListViews(ctx context.Context, mediaID, cursor string, limit int) (Views, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	// Past every real key: started in the future.
	c := viewCursor{Started: time.Now().Add(24 * time.Hour)}
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || json.Unmarshal(b, &c) != nil || c.Started.IsZero() {
			return Views{}, fmt.Errorf("%w: malformed cursor", errs.ErrInvalid)
		}
	}
	rows, err := l.pool.Query(ctx, `
		WITH marked AS (
			SELECT at, COALESCE(last_at, at) AS last, actor, via, allowed, action, bytes, requests,
				-- Against the latest time before the row, not the row before's:
				-- folded rows of other ranges overlap.
				CASE WHEN at - max(COALESCE(last_at, at)) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
					<= make_interval(secs => $2) THEN 0 ELSE 1 END AS starts
			FROM access_log WHERE media_id = $1
			WINDOW w AS (PARTITION BY actor, via, allowed, action ORDER BY at)
		), numbered AS (
			SELECT *, sum(starts) OVER (PARTITION BY actor, via, allowed, action ORDER BY at ROWS UNBOUNDED PRECEDING) AS n
			FROM marked
		), views AS (
			SELECT actor, via, allowed, action, min(at) AS started, max(last) AS ended, sum(requests)::bigint AS requests, sum(bytes)::bigint AS bytes
			FROM numbered GROUP BY actor, via, allowed, action, n
		)
		SELECT actor, via, allowed, CASE WHEN action = 'read' THEN '' ELSE action END, started, ended, requests, bytes FROM views
		WHERE (started, actor, via, allowed, action) < ($3, $4, $5, $6, $7)
		ORDER BY started DESC, actor DESC, via DESC, allowed DESC, action DESC
		LIMIT $8`,
		mediaID, ViewGap.Seconds(), c.Started, c.Who, c.Via, c.Allowed, cmp.Or(c.Action, "read"), limit+1)
	if err != nil {
		return Views{}, fmt.Errorf("read audit: %w", err)
	}
	views, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (View, error) {
		var v View
		err := row.Scan(&v.Who, &v.Via, &v.Allowed, &v.Action, &v.Started, &v.Ended, &v.Requests, &v.Bytes)
		return v, err
	})
	if err != nil {
		return Views{}, fmt.Errorf("read audit: %w", err)
	}
	p := Views{Views: views}
	if len(views) > limit {
		p.Views = views[:limit]
		last := p.Views[limit-1]
		b, _ := json.Marshal(viewCursor{Started: last.Started, Who: last.Who, Via: last.Via, Allowed: last.Allowed, Action: last.Action})
		p.Next = base64.RawURLEncoding.EncodeToString(b)
	}
	if p.Views == nil {
		p.Views = []View{}
	}
	return p, nil
}
