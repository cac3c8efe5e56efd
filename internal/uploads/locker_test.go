package uploads

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/testdb"
)

// instances returns n Lockers on one fresh database, each on a pool of its
// own, as n instances of the app would be.
func instances(t *testing.T, n int, o LockerOptions) ([]*Locker, *pgxpool.Pool) {
	t.Helper()
	pool, url := testdb.New(t)
	var out []*Locker
	for i := 0; i < n; i++ {
		p := pool
		if i > 0 {
			var err error
			if p, err = pgxpool.New(context.Background(), url); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
		}
		l, err := NewLocker(p, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// A connection closed in doubt leaves the pool in the
			// background (pgxpool destroys it asynchronously): give it
			// a moment before calling it a leak.
			held := l.held.Stat().AcquiredConns()
			for deadline := time.Now().Add(2 * time.Second); held != 0 && time.Now().Before(deadline); held = l.held.Stat().AcquiredConns() {
				time.Sleep(10 * time.Millisecond)
			}
			if held != 0 {
				t.Errorf("locker %d still has %d connections out", i, held)
			}
			l.Close()
		})
		out = append(out, l)
	}
	return out, pool
}

// hold takes id's lock on l, failing t unless it gets it within 5 s.
func hold(t *testing.T, l *Locker, id string, requestRelease func()) tusd.Lock {
	t.Helper()
	lock, _ := l.NewLock(id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lock.Lock(ctx, requestRelease); err != nil {
		t.Fatalf("lock %s: %v", id, err)
	}
	return lock
}

// signal returns a requestRelease that counts its calls and closes the
// channel at the first.
func signal() (func(), <-chan struct{}, *atomic.Int32) {
	ch := make(chan struct{})
	var n atomic.Int32
	return func() {
		if n.Add(1) == 1 {
			close(ch)
		}
	}, ch, &n
}

// TestLockExcludes takes one upload's lock many times at once from two
// instances and from several requests within each: never two holders at
// once, and every request gets it in turn.
func TestLockExcludes(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 2, LockerOptions{Poll: 10 * time.Millisecond})
	const perLocker, rounds = 4, 5
	var inUse atomic.Bool
	var taken atomic.Int32
	var wg sync.WaitGroup
	for _, l := range ls {
		for g := 0; g < perLocker; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					lock, _ := l.NewLock("one")
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := lock.Lock(ctx, func() {}) // holders ignore requests: all take turns
					cancel()
					if err != nil {
						t.Errorf("lock: %v", err)
						return
					}
					if !inUse.CompareAndSwap(false, true) {
						t.Error("two holders at once")
					}
					time.Sleep(2 * time.Millisecond)
					inUse.Store(false)
					taken.Add(1)
					lock.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if got, want := taken.Load(), int32(len(ls)*perLocker*rounds); got != want {
		t.Errorf("lock taken %d times, want %d", got, want)
	}

	// Other uploads' locks are other locks.
	first := hold(t, ls[0], "first", func() {})
	defer first.Unlock()
	second := hold(t, ls[1], "second", func() {})
	second.Unlock()
}

// TestLockRequestsRelease checks tusd's semantics: a Lock that finds the
// upload locked makes the holder's requestRelease run, wherever the holder
// is, and gets the lock once the holder lets go.
func TestLockRequestsRelease(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 2, LockerOptions{})
	for _, tt := range []struct {
		name           string
		holder, waiter *Locker
	}{
		{"another instance", ls[0], ls[1]},
		{"the same instance", ls[1], ls[1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "release " + tt.name
			release, asked, _ := signal()
			lock := hold(t, tt.holder, id, release)
			go func() { <-asked; lock.Unlock() }() // as tusd's PATCH stops

			start := time.Now()
			second := hold(t, tt.waiter, id, func() {})
			t.Logf("the holder let go and the lock changed hands in %v", time.Since(start))
			second.Unlock()
		})
	}
}

// TestLockTimesOut checks that a Lock whose holder does not let go gives up
// when its context ends, with tusd's error, having asked the holder.
func TestLockTimesOut(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 2, LockerOptions{})
	release, asked, n := signal()
	lock := hold(t, ls[0], "stubborn", release)
	defer lock.Unlock()

	waiter, _ := ls[1].NewLock("stubborn")
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := waiter.Lock(ctx, func() {})
	took := time.Since(start)
	if !errors.Is(err, tusd.ErrLockTimeout) {
		t.Errorf("Lock = %v, want tusd.ErrLockTimeout", err)
	}
	if took < 400*time.Millisecond || took > 2*time.Second {
		t.Errorf("Lock gave up after %v, want about 400ms", took)
	}
	select {
	case <-asked:
		t.Logf("the holder was asked %d times", n.Load())
	default:
		t.Error("the holder was never asked to let go")
	}
}

// TestLockLostWithItsConnection kills the holder's PostgreSQL session, as a
// crash, a restart or an operator would: PostgreSQL frees the lock, the
// holder learns it has lost it (requestRelease, so that its PATCH stops
// writing), and another instance takes it.
func TestLockLostWithItsConnection(t *testing.T) {
	t.Parallel()
	ls, pool := instances(t, 2, LockerOptions{})
	release, lost, _ := signal()
	lock := hold(t, ls[0], "doomed", release)
	pid := lock.(*pgLock).pid()
	if _, err := pool.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-lost:
		t.Logf("the holder learnt of the loss in %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the holder was not told that its lock is lost")
	}
	other := hold(t, ls[1], "doomed", func() {})
	if err := lock.Unlock(); err != nil {
		t.Errorf("Unlock of a lost lock: %v", err)
	}
	other.Unlock()
	// The dead connection did not go back to the pool for another lock.
	again := hold(t, ls[0], "doomed", func() {})
	again.Unlock()
}

// TestLockBound checks the bound on an instance's lock connections: a Lock
// beyond it waits, then fails as unavailable (a 503), and gets in once a
// connection is free.
func TestLockBound(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 1, LockerOptions{MaxHeld: 1})
	first := hold(t, ls[0], "first", func() {})
	second, _ := ls[0].NewLock("second")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := second.Lock(ctx, func() {}); !errors.Is(err, errs.ErrUnavailable) {
		t.Errorf("Lock beyond the bound = %v, want ErrUnavailable", err)
	}
	first.Unlock()
	hold(t, ls[0], "second", func() {}).Unlock()
}

// TestTryLock checks the janitor's lock: it takes a free lock and leaves a
// held one alone, without asking its holder to let go.
func TestTryLock(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 2, LockerOptions{})
	ctx := context.Background()
	release, asked, _ := signal()
	lock := hold(t, ls[0], "busy", release)
	if _, ok, err := ls[1].TryLock(ctx, "busy"); ok || err != nil {
		t.Errorf("TryLock of a held lock = %v, %v", ok, err)
	}
	select {
	case <-asked:
		t.Error("TryLock asked the holder to let go")
	case <-time.After(300 * time.Millisecond):
	}
	lock.Unlock()
	free, ok, err := ls[1].TryLock(ctx, "busy")
	if !ok || err != nil {
		t.Fatalf("TryLock of a free lock = %v, %v", ok, err)
	}
	free.Unlock()
}

// TestLockSurvivesPanics checks that a holder that panics (its deferred
// Unlock runs, as in tusd's handlers) leaves the lock free for others.
func TestLockSurvivesPanics(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 2, LockerOptions{})
	func() {
		defer func() { recover() }()
		lock := hold(t, ls[0], "panicky", func() {})
		defer lock.Unlock()
		panic("boom")
	}()
	free, ok, err := ls[1].TryLock(context.Background(), "panicky")
	if !ok || err != nil {
		t.Fatalf("after the holder panicked, TryLock = %v, %v", ok, err)
	}
	free.Unlock()
}

// TestLockIgnoresOldRequests gives a lock a connection that received a
// request for the release of the same upload's lock while it held it for
// someone else, before: that request must not stop the new holder. One
// connection per instance makes the reuse certain.
func TestLockIgnoresOldRequests(t *testing.T) {
	t.Parallel()
	ls, _ := instances(t, 1, LockerOptions{MaxHeld: 1})
	l := ls[0]
	ctx := context.Background()
	conn, err := l.held.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	channel := l.newLock("reused").channel
	// A notification the session sends itself arrives, and waits in pgx,
	// while these run.
	for _, sql := range []string{"LISTEN " + channel, "SELECT pg_notify('" + channel + "', '')", "UNLISTEN *"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	conn.Release()

	release, asked, _ := signal()
	lock := hold(t, l, "reused", release)
	defer lock.Unlock()
	select {
	case <-asked:
		t.Error("an old request stopped a new holder")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestLockKeys checks that an upload's lock keys come from a hash of its id,
// the channel only from the key: nothing a client sends reaches SQL.
func TestLockKeys(t *testing.T) {
	l := &Locker{}
	for _, tt := range []struct{ a, b string }{
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdee"},
		{"x; DROP TABLE users", `"; LISTEN x`},
	} {
		ka, kb := l.newLock(tt.a), l.newLock(tt.b)
		if ka.key == kb.key {
			t.Errorf("%q and %q share key %d", tt.a, tt.b, ka.key)
		}
		for _, k := range []*pgLock{ka, kb} {
			if want := fmt.Sprintf("mediagate_upload_%08x", uint32(k.key)); k.channel != want {
				t.Errorf("channel %q, want %q", k.channel, want)
			}
		}
	}
}
