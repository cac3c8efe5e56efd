package session_test

import (
	"fmt"
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

func fail(t *testing.T, th *session.Throttle, email, client string, n int) {
	t.Helper()
	for range n {
		if err := th.Fail(ctxT(t), email, client); err != nil {
			t.Fatalf("Fail: %v", err)
		}
	}
}

func checkThrottled(t *testing.T, th *session.Throttle, email, client string, want bool) {
	t.Helper()
	err := th.Check(ctxT(t), email, client)
	switch {
	case want && !isOnly(err, errs.ErrThrottled):
		t.Errorf("Check(%s, %s) = %v, want ErrThrottled", email, client, err)
	case !want && err != nil:
		t.Errorf("Check(%s, %s) = %v, want nil", email, client, err)
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
	th.PerClient = 15
	fail(t, th, "a@example.com", "c", th.PerAccount)
	fail(t, th, "b@example.com", "d", th.PerAccount)
	checkThrottled(t, th, "a@example.com", "e", true)
	if err := th.Succeed(ctxT(t), "a@example.com"); err != nil {
		t.Fatalf("Succeed: %v", err)
	}
	checkThrottled(t, th, "a@example.com", "e", false)
	// Only that account is forgotten: not the other account, not the client.
	checkThrottled(t, th, "b@example.com", "e", true)
	fail(t, th, "z@example.com", "c", th.PerClient-th.PerAccount)
	checkThrottled(t, th, "new@example.com", "c", true)
	var n int
	if err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM login_failures WHERE key = 'account:a@example.com'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d failures left for the account after Succeed (%v)", n, err)
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

	// Fail forgets the old rows.
	var old, recent int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failed_at < now() - interval '15 minutes'),
		count(*) FILTER (WHERE failed_at >= now() - interval '15 minutes') FROM login_failures`).Scan(&old, &recent); err != nil {
		t.Fatal(err)
	}
	if old != 0 || recent != 2 {
		t.Errorf("after Fail: %d old and %d recent rows, want 0 and 2", old, recent)
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
	if err := th.Check(ctxT(t), "a@example.com", "c"); err == nil {
		t.Error("Check on a closed pool = nil, want an error")
	}
	if err := th.Fail(ctxT(t), "a@example.com", "c"); err == nil {
		t.Error("Fail on a closed pool = nil, want an error")
	}
	if err := th.Succeed(ctxT(t), "a@example.com"); err == nil {
		t.Error("Succeed on a closed pool = nil, want an error")
	}
}
