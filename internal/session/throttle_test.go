package session_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

func newThrottle(t *testing.T) (*pgxpool.Pool, *session.Throttle) {
	t.Helper()
	pool, _ := testdb.New(t)
	return pool, session.NewThrottle(pool)
}

// fail makes n attempts at email's password from client that turn out
// wrong: counted by Begin, and nothing else.
func fail(t *testing.T, th *session.Throttle, email, client string, n int) {
	t.Helper()
	for range n {
		if _, err := th.Begin(ctxT(t), session.AccountKey(email), client); err != nil {
			t.Fatalf("Begin: %v", err)
		}
	}
}

// checkThrottled begins an attempt and takes it back, and checks whether it
// was refused.
func checkThrottled(t *testing.T, th *session.Throttle, email, client string, want bool) {
	t.Helper()
	a, err := th.Begin(ctxT(t), session.AccountKey(email), client)
	if err == nil {
		a.Abort()
	}
	switch {
	case want && !isOnly(err, errs.ErrThrottled):
		t.Errorf("Begin(%s, %s) = %v, want ErrThrottled", email, client, err)
	case !want && err != nil:
		t.Errorf("Begin(%s, %s) = %v, want nil", email, client, err)
	}
}

func TestThrottleDefaults(t *testing.T) {
	t.Parallel()
	th := session.NewThrottle(nil)
	if th.Window != 15*time.Minute || th.PerAccount != 10 || th.PerClient != 50 {
		t.Errorf("NewThrottle = window %v, %d per account, %d per client; want 15m, 10, 50",
			th.Window, th.PerAccount, th.PerClient)
	}
}

func TestThrottlePerAccount(t *testing.T) {
	t.Parallel()
	_, th := newThrottle(t)
	checkThrottled(t, th, "a@example.com", "c0", false)
	// Failures from many clients all count against the account.
	for i := range th.PerAccount - 1 {
		fail(t, th, "a@example.com", fmt.Sprintf("c%d", i), 1)
	}
	checkThrottled(t, th, "a@example.com", "fresh", false) // one short of the limit
	fail(t, th, "a@example.com", "c-last", 1)
	checkThrottled(t, th, "a@example.com", "fresh", true)
	checkThrottled(t, th, "a@example.com", "c0", true)
	// Another account, even from a client that took part, is not throttled.
	checkThrottled(t, th, "b@example.com", "c0", false)
	checkThrottled(t, th, "b@example.com", "fresh", false)
}

func TestThrottlePerClient(t *testing.T) {
	t.Parallel()
	_, th := newThrottle(t)
	for i := range th.PerClient - 1 {
		fail(t, th, fmt.Sprintf("u%d@example.com", i), "10.0.0.1", 1)
	}
	checkThrottled(t, th, "new@example.com", "10.0.0.1", false) // one short of the limit
	fail(t, th, "last@example.com", "10.0.0.1", 1)
	checkThrottled(t, th, "new@example.com", "10.0.0.1", true)
	checkThrottled(t, th, "u0@example.com", "10.0.0.1", true)
	// Another client, even for an account that took part, is not throttled.
	checkThrottled(t, th, "new@example.com", "10.0.0.2", false)
	checkThrottled(t, th, "u0@example.com", "10.0.0.2", false)
}

// TestThrottleKeysDoNotCollide checks that an account and a client with the
// same text are counted apart.
func TestThrottleKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	_, th := newThrottle(t)
	th.PerAccount, th.PerClient = 3, 3
	fail(t, th, "x", "other", 3)
	checkThrottled(t, th, "someone", "x", false)
	checkThrottled(t, th, "x", "y", true)
}

func TestThrottleSucceed(t *testing.T) {
	t.Parallel()
	pool, th := newThrottle(t)
	th.PerClient = 30
	fail(t, th, "a@example.com", "c", th.PerAccount-1)
	fail(t, th, "b@example.com", "c", th.PerAccount)
	checkThrottled(t, th, "b@example.com", "e", true)
	a, err := th.Begin(ctxT(t), session.AccountKey("a@example.com"), "c")
	if err != nil {
		t.Fatalf("Begin, one short of the limit: %v", err)
	}
	if err := a.Succeed(ctxT(t)); err != nil {
		t.Fatalf("Succeed: %v", err)
	}
	// The account's failures are forgotten, and the right attempt itself
	// did not count against the client...
	var forAccount, fromClient int
	if err := pool.QueryRow(ctxT(t), `SELECT count(*) FILTER (WHERE key = 'account:a@example.com'),
		count(*) FILTER (WHERE key = 'client:c') FROM login_failures`).Scan(&forAccount, &fromClient); err != nil {
		t.Fatal(err)
	}
	if want := 2*th.PerAccount - 1; forAccount != 0 || fromClient != want {
		t.Errorf("after Succeed: %d failures of the account and %d of the client, want 0 and %d", forAccount, fromClient, want)
	}
	fail(t, th, "a@example.com", "e", th.PerAccount-1)
	checkThrottled(t, th, "a@example.com", "e", false)
	// ...but the other account stays throttled.
	checkThrottled(t, th, "b@example.com", "e", true)
}

func TestThrottleAbort(t *testing.T) {
	t.Parallel()
	pool, th := newThrottle(t)
	fail(t, th, "a@example.com", "c", 3)
	a, err := th.Begin(ctxT(t), session.AccountKey("a@example.com"), "c")
	if err != nil {
		t.Fatal(err)
	}
	a.Abort()
	var n int
	if err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM login_failures`).Scan(&n); err != nil || n != 6 {
		t.Errorf("after Abort: %d rows (%v), want the 6 of the 3 failures", n, err)
	}
}

// TestThrottleConcurrent begins many attempts at once: no more pass than the
// limits allow, however they interleave.
func TestThrottleConcurrent(t *testing.T) {
	t.Parallel()
	_, th := newThrottle(t)
	th.PerClient = 25
	count := func(n int, key func(i int) (string, string)) (passed, throttled int) {
		var wg sync.WaitGroup
		results := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				email, client := key(i)
				_, err := th.Begin(ctxT(t), session.AccountKey(email), client)
				results <- err
			})
		}
		wg.Wait()
		close(results)
		for err := range results {
			switch {
			case err == nil:
				passed++
			case isOnly(err, errs.ErrThrottled):
				throttled++
			default:
				t.Errorf("Begin: %v", err)
			}
		}
		return passed, throttled
	}
	// One account from 40 addresses.
	if p, th2 := count(40, func(i int) (string, string) { return "a@example.com", fmt.Sprintf("10.0.1.%d", i) }); p != th.PerAccount || th2 != 40-th.PerAccount {
		t.Errorf("40 concurrent attempts at one account: %d passed, %d throttled; want %d and %d", p, th2, th.PerAccount, 40-th.PerAccount)
	}
	// One address at 40 accounts.
	if p, th2 := count(40, func(i int) (string, string) { return fmt.Sprintf("u%d@example.com", i), "10.0.2.1" }); p != th.PerClient || th2 != 40-th.PerClient {
		t.Errorf("40 concurrent attempts from one client: %d passed, %d throttled; want %d and %d", p, th2, th.PerClient, 40-th.PerClient)
	}
}

func TestThrottleWindow(t *testing.T) {
	t.Parallel()
	pool, th := newThrottle(t)
	ctx := ctxT(t)
	fail(t, th, "a@example.com", "c", th.PerAccount)
	checkThrottled(t, th, "a@example.com", "other", true)

	// Failures 10 minutes old still count with the 15-minute window...
	if _, err := pool.Exec(ctx, `UPDATE login_failures SET failed_at = now() - interval '10 minutes'`); err != nil {
		t.Fatal(err)
	}
	checkThrottled(t, th, "a@example.com", "other", true)
	// ...but not with a 5-minute one: Window is honoured.
	short := *th
	short.Window = 5 * time.Minute
	checkThrottled(t, &short, "a@example.com", "other", false)

	// Older than the window, they do not count at all.
	if _, err := pool.Exec(ctx, `UPDATE login_failures SET failed_at = now() - interval '16 minutes'`); err != nil {
		t.Fatal(err)
	}
	checkThrottled(t, th, "a@example.com", "c", false)
	// Within the window again, one more failure is not enough.
	fail(t, th, "a@example.com", "c", 1)
	checkThrottled(t, th, "a@example.com", "c", false)

	// Begin forgets the old rows.
	var old, recent int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failed_at < now() - interval '15 minutes'),
		count(*) FILTER (WHERE failed_at >= now() - interval '15 minutes') FROM login_failures`).Scan(&old, &recent); err != nil {
		t.Fatal(err)
	}
	if old != 0 || recent != 2 {
		t.Errorf("after Begin: %d old and %d recent rows, want 0 and 2", old, recent)
	}
}

func TestThrottleTinyWindow(t *testing.T) {
	t.Parallel()
	_, th := newThrottle(t)
	th.Window = time.Second
	th.PerAccount = 2
	fail(t, th, "a@example.com", "c", 2)
	checkThrottled(t, th, "a@example.com", "c", true)
	time.Sleep(1100 * time.Millisecond)
	checkThrottled(t, th, "a@example.com", "c", false)
}

func TestThrottleDatabaseGone(t *testing.T) {
	t.Parallel()
	_, url := testdb.New(t)
	pool, err := db.Connect(ctxT(t), url)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	th := session.NewThrottle(pool)
	// A throttle that cannot count must not let the login through.
	if a, err := th.Begin(ctxT(t), session.AccountKey("a@example.com"), "c"); err == nil || a != nil {
		t.Error("Begin on a closed pool = nil, want an error")
	}
}
