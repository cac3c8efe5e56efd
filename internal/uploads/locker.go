package uploads

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/mediagate/mediagate/internal/errs"
)

// lockClass is the first key of the two-key advisory locks on uploads (the
// throttle's class is 74202; the one-key locks elsewhere never meet the
// two-key ones).
const lockClass = 74203

// LockerOptions tune a Locker; the zero value is the defaults.
type LockerOptions struct {
	// MaxHeld bounds the locks this instance holds at once, each on a
	// PostgreSQL connection of its own. Every tus request but OPTIONS and a
	// POST without bytes holds one while it runs, a PATCH for as long as
	// its body streams. A request that finds them all taken waits (tusd
	// waits 20 s) and then gets a 503. Default 16.
	MaxHeld int
	// Poll is how often a Lock that waits tries again and repeats its
	// request for release. Default 100 ms.
	Poll time.Duration
	// Check is how long a holder's connection may stay silent before it is
	// pinged; a ping that fails within Check loses the lock. Default 5 s.
	Check time.Duration
	Log   *slog.Logger
}

// Locker is tusd's handler.Locker for every instance at once. An upload's
// lock is a session-level PostgreSQL advisory lock (lockClass, a hash of
// the id), held on a connection of its own for as long as the lock is held,
// so a lock dies with its holder: PostgreSQL releases it when the session
// ends, whatever the way.
//
// A Lock that finds the upload locked asks the holder to let go, as tusd
// wants (a resumed PATCH stops the one it replaces): it NOTIFYs the
// upload's channel, which the holder's connection LISTENs to, and the
// holder calls its requestRelease. It asks again every Poll until it gets
// the lock or its context ends, so a request that crossed the holder's
// LISTEN is only late. A holder whose connection fails (closed, killed,
// unanswered ping) has lost the lock and calls requestRelease too, so that
// its PATCH stops writing.
type Locker struct {
	held   *pgxpool.Pool // the locks' connections, at most MaxHeld
	notify *pgxpool.Pool // the app's, for the short release requests
	max    int
	poll   time.Duration
	check  time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	locks  map[*pgLock]struct{} // held now, for Close
	closed bool
}

// NewLocker returns a Locker on pool's database. Its connections are its
// own (at most o.MaxHeld, closed when idle for a minute), never pool's.
func NewLocker(pool *pgxpool.Pool, o LockerOptions) (*Locker, error) {
	if o.MaxHeld <= 0 {
		o.MaxHeld = 16
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Check <= 0 {
		o.Check = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg := pool.Config()
	cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = int32(o.MaxHeld), 0, 0
	cfg.MaxConnIdleTime = time.Minute
	params := cfg.ConnConfig.RuntimeParams
	params["application_name"] = "mediagate upload locks"
	// The server ends a session whose client vanished (and frees its
	// locks) after about 25 s instead of the system's 2 hours. A holder
	// cut off the same way loses its lock sooner, after at most 2 Check.
	params["tcp_keepalives_idle"], params["tcp_keepalives_interval"], params["tcp_keepalives_count"] = "10", "5", "3"
	held, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("upload locks: %w", err)
	}
	return &Locker{held: held, notify: pool, max: o.MaxHeld, poll: o.Poll, check: o.Check, log: o.Log,
		locks: map[*pgLock]struct{}{}}, nil
}

// Close asks the holders of this instance's locks to let go, waits a while
// for them to and closes the locks' connections; any lock still held is
// released by PostgreSQL when its connection closes.
func (l *Locker) Close() {
	l.mu.Lock()
	l.closed = true
	var holders []*pgLock
	for k := range l.locks {
		holders = append(holders, k)
	}
	l.mu.Unlock()
	for _, k := range holders {
		k.requestRelease()
	}
	done := make(chan struct{})
	go func() { defer close(done); l.held.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		l.log.Warn("upload locks still held at close")
	}
}

// NewLock returns the (unlocked) lock of the upload id.
func (l *Locker) NewLock(id string) (tusd.Lock, error) { return l.newLock(id), nil }

func (l *Locker) newLock(id string) *pgLock {
	h := fnv.New32a()
	h.Write([]byte(id))
	key := h.Sum32()
	return &pgLock{l: l, id: id, key: int32(key), channel: fmt.Sprintf("mediagate_upload_%08x", key)}
}

// TryLock takes the lock of the upload id if it is free, without asking a
// holder to let go: ok is false when it is held.
func (l *Locker) TryLock(ctx context.Context, id string) (lock tusd.Lock, ok bool, err error) {
	k := l.newLock(id)
	ok, err = k.try(ctx, func() {})
	if !ok {
		return nil, false, err
	}
	return k, true, nil
}

// pgLock is one upload's lock, for one request. tusd calls Lock and then
// Unlock, from one goroutine.
type pgLock struct {
	l       *Locker
	id      string
	key     int32  // the advisory lock's second key
	channel string // where release requests go: named after key, never after what a client sent

	conn           *pgxpool.Conn // while held
	requestRelease func()
	stop           context.CancelFunc // ends watch
	done           chan struct{}      // closed when watch has ended
	lost           atomic.Bool        // the connection failed while held
}

// errAllHeld is every lock connection of this instance taken.
var errAllHeld = fmt.Errorf("%w: too many resumable uploads at once on this server", errs.ErrUnavailable)

// Lock takes the lock, asking its holder, wherever it is, to let go every
// Poll until ctx ends. Then it returns tusd.ErrLockTimeout, or an
// errs.ErrUnavailable when the lock could not even be tried (PostgreSQL
// away, every lock connection of this instance taken).
func (k *pgLock) Lock(ctx context.Context, requestRelease func()) error {
	if k.conn != nil {
		return errors.New("upload lock: already locked")
	}
	var last error // why the last try failed; nil: the lock is held
	for {
		ok, err := k.try(ctx, requestRelease)
		if ok {
			return nil
		}
		if ctx.Err() == nil {
			last = err
		}
		k.l.ask(ctx, k.channel)
		t := time.NewTimer(k.l.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return last
			}
			return tusd.ErrLockTimeout
		case <-t.C:
		}
	}
}

// try takes the lock if it is free, once. err says why it could not be
// tried; a lock held elsewhere is false and no error.
func (k *pgLock) try(ctx context.Context, requestRelease func()) (ok bool, err error) {
	// Waiting no longer than Poll for a connection, so that a full pool
	// still sends the release request that may free one.
	actx, cancel := context.WithTimeout(ctx, k.l.poll)
	conn, err := k.l.held.Acquire(actx)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return false, nil
	case actx.Err() != nil && k.l.held.Stat().AcquiredConns() >= int32(k.l.max):
		return false, errAllHeld
	default:
		return false, fmt.Errorf("%w: upload lock: %w", errs.ErrUnavailable, err)
	}
	// On every way out but success, a panic included, the connection goes
	// back with nothing held, or is closed.
	defer func() {
		if !ok {
			k.l.put(conn, k, false)
		}
	}()
	drain(conn)
	// LISTEN first: a request for release sent once the lock is ours must
	// reach us. One round trip, one implicit transaction.
	res, err := conn.Conn().PgConn().Exec(ctx, fmt.Sprintf(
		`LISTEN %s; SELECT pg_try_advisory_lock(%d, %d)`, k.channel, lockClass, k.key)).ReadAll()
	if err != nil {
		return false, fmt.Errorf("%w: upload lock: %w", errs.ErrUnavailable, err)
	}
	if len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != "t" {
		return false, nil
	}
	k.conn, k.requestRelease = conn, requestRelease
	k.l.mu.Lock()
	closed := k.l.closed
	k.l.locks[k] = struct{}{}
	k.l.mu.Unlock()
	ctxWatch, stop := context.WithCancel(context.Background())
	k.stop, k.done = stop, make(chan struct{})
	go k.watch(ctxWatch)
	if closed {
		requestRelease()
	}
	return true, nil
}

// watch waits on the holder's connection until ctx ends (Unlock) for
// release requests, calling requestRelease for each, and for the
// connection to fail, which loses the lock.
func (k *pgLock) watch(ctx context.Context) {
	defer close(k.done)
	c := k.conn.Conn()
	for {
		wctx, cancel := context.WithTimeout(ctx, k.l.check)
		n, err := c.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			// The connection may carry a request for another lock it held.
			if n != nil && n.Channel == k.channel {
				k.requestRelease()
			}
			continue
		case wctx.Err() != nil:
			// Quiet for Check: is the session still there?
			pctx, cancel := context.WithTimeout(ctx, k.l.check)
			err = c.Ping(pctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				continue
			}
		}
		k.lost.Store(true)
		k.l.log.Warn("upload lock lost with its connection", "upload", k.id, "err", err)
		k.requestRelease()
		return
	}
}

// Unlock releases the lock. A lock lost with its connection is released
// already (PostgreSQL ended the session).
func (k *pgLock) Unlock() error {
	if k.conn == nil {
		return nil
	}
	k.stop()
	<-k.done
	k.l.mu.Lock()
	delete(k.l.locks, k)
	k.l.mu.Unlock()
	conn := k.conn
	k.conn = nil
	k.l.put(conn, k, !k.lost.Load())
	return nil
}

// put gives a lock's connection back to the pool with nothing held and
// nothing listened to; unlock says the advisory lock is held. A connection
// in doubt is closed instead, which releases whatever its session held.
func (l *Locker) put(conn *pgxpool.Conn, k *pgLock, unlock bool) {
	if conn.Conn().IsClosed() {
		conn.Release() // the pool drops it
		return
	}
	sql := "UNLISTEN " + k.channel
	if unlock {
		sql += fmt.Sprintf("; SELECT pg_advisory_unlock(%d, %d)", lockClass, k.key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := conn.Conn().PgConn().Exec(ctx, sql).ReadAll()
	if err == nil && unlock && (len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != "t") {
		err = errors.New("the lock was not held")
	}
	if err != nil {
		l.log.Warn("release an upload lock: closing its connection", "upload", k.id, "err", err)
		pc := conn.Hijack()
		pc.Close(ctx)
		return
	}
	conn.Release()
}

// ask requests the release of the lock whose channel is given, from
// whichever instance holds it. A request that fails is sent again at the
// next try.
func (l *Locker) ask(ctx context.Context, channel string) {
	ctx, cancel := context.WithTimeout(ctx, l.poll)
	defer cancel()
	if _, err := l.notify.Exec(ctx, `SELECT pg_notify($1, '')`, channel); err != nil && ctx.Err() == nil {
		l.log.Debug("request the release of an upload lock", "channel", channel, "err", err)
	}
}

// drain drops the notifications conn received before this lock was taken:
// requests for the release of locks it held for others.
func drain(conn *pgxpool.Conn) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		n, _ := conn.Conn().WaitForNotification(done)
		if n == nil {
			return
		}
	}
}

// pid is the server process holding the lock, for tests.
func (k *pgLock) pid() uint32 {
	if k.conn == nil {
		return 0
	}
	return k.conn.Conn().PgConn().PID()
}
