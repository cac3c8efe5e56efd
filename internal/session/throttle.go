package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/errs"
)

// Throttle limits wrong passwords per account (or other secret) and per
// client address. Counts live in PostgreSQL, so every instance sees the same
// ones and a restart forgets nothing.
//
// An attempt is counted before its password is checked (Begin), under
// advisory locks on the key and the client, so that the limits hold however
// many attempts arrive at once: an attempt in flight counts as a failure
// until it turns out right (Attempt.Succeed) or could not be made
// (Attempt.Abort).
type Throttle struct {
	pool       *pgxpool.Pool
	Window     time.Duration
	PerAccount int
	PerClient  int
}

// NewThrottle returns a Throttle allowing 10 failures per account and 50 per
// client in 15 minutes.
func NewThrottle(pool *pgxpool.Pool) *Throttle {
	return &Throttle{pool: pool, Window: 15 * time.Minute, PerAccount: 10, PerClient: 50}
}

// AccountKey is the throttle key of the account with email.
func AccountKey(email string) string { return "account:" + email }

func clientKey(client string) string { return "client:" + client }

// throttleLockClass is the first half of the two-key advisory locks the
// throttle takes; the two-key form never meets the one-key locks elsewhere.
const throttleLockClass = 74202

// Attempt is one password try, already counted against its key and client.
type Attempt struct {
	t    *Throttle
	key  string
	rows [2]int64 // the rows counted against the key and the client
}

// Begin counts one attempt at key's secret from client, or returns
// ErrThrottled when the key or the client is at its limit (and counts
// nothing). The caller checks the password next and then calls Succeed when
// it was right, Abort when it could not be checked; a wrong one needs no
// call: the attempt stays counted as a failure.
func (t *Throttle) Begin(ctx context.Context, key, client string) (*Attempt, error) {
	a := &Attempt{t: t, key: key}
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		// Always the key first, then the client: no two attempts wait on
		// each other in opposite orders.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2)), pg_advisory_xact_lock($1, hashtext($3))`,
			throttleLockClass, key, clientKey(client)); err != nil {
			return err
		}
		var forKey, fromClient int
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE key = $1), count(*) FILTER (WHERE key = $2)
			FROM login_failures WHERE key IN ($1, $2) AND failed_at > now() - $3::interval`,
			key, clientKey(client), t.Window).Scan(&forKey, &fromClient); err != nil {
			return err
		}
		if forKey >= t.PerAccount || fromClient >= t.PerClient {
			return fmt.Errorf("%w: too many wrong passwords, try again in %d minutes", errs.ErrThrottled, int(t.Window.Minutes()))
		}
		return tx.QueryRow(ctx, `
			WITH gone AS (DELETE FROM login_failures WHERE failed_at < now() - $3::interval),
			     counted AS (INSERT INTO login_failures (key) VALUES ($1), ($2) RETURNING id, key)
			SELECT (SELECT id FROM counted WHERE key = $1), (SELECT id FROM counted WHERE key = $2)`,
			key, clientKey(client), t.Window).Scan(&a.rows[0], &a.rows[1])
	})
	if err != nil {
		if errors.Is(err, errs.ErrThrottled) {
			return nil, err
		}
		return nil, fmt.Errorf("count password attempt: %w", err)
	}
	return a, nil
}

// Succeed forgets the key's failures, this attempt's among them; the
// client's count loses this attempt.
func (a *Attempt) Succeed(ctx context.Context) error {
	_, err := a.t.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1 OR id = $2`, a.key, a.rows[1])
	if err != nil {
		return fmt.Errorf("forget password failures: %w", err)
	}
	return nil
}

// Abort takes back an attempt whose password could not be checked (the
// hashing bound reached, the database away): it was no failure. It uses a
// context of its own, so that it runs even when ctx is what failed.
func (a *Attempt) Abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.t.pool.Exec(ctx, `DELETE FROM login_failures WHERE id = ANY($1)`, a.rows[:]) //nolint:errcheck // at worst one attempt too many stays counted
}
