package session

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/errs"
)

// Throttle limits failed logins per account and per client address. Counts
// live in PostgreSQL, so every instance sees the same ones and a restart
// forgets nothing.
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

func accountKey(email string) string { return "account:" + email }
func clientKey(client string) string { return "client:" + client }

// Check returns ErrThrottled when the account or the client is over its limit.
func (t *Throttle) Check(ctx context.Context, email, client string) error {
	return t.CheckKey(ctx, accountKey(email), client)
}

// Fail records a failed login and forgets failures older than the window.
func (t *Throttle) Fail(ctx context.Context, email, client string) error {
	return t.FailKey(ctx, accountKey(email), client)
}

// Succeed forgets the account's failures.
func (t *Throttle) Succeed(ctx context.Context, email string) error {
	return t.SucceedKey(ctx, accountKey(email))
}

// CheckKey is Check for a secret other than an account's password, such as
// a share link's: key names it ("link:<id>") and is allowed PerAccount
// failures, and the client's failures count together with its failed logins.
func (t *Throttle) CheckKey(ctx context.Context, key, client string) error {
	var forKey, fromClient int
	err := t.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE key = $1), count(*) FILTER (WHERE key = $2)
		FROM login_failures WHERE key IN ($1, $2) AND failed_at > now() - $3::interval`,
		key, clientKey(client), t.Window).Scan(&forKey, &fromClient)
	if err != nil {
		return fmt.Errorf("check password throttle: %w", err)
	}
	if forKey >= t.PerAccount || fromClient >= t.PerClient {
		return fmt.Errorf("%w: too many wrong passwords, try again in %d minutes", errs.ErrThrottled, int(t.Window.Minutes()))
	}
	return nil
}

// FailKey is Fail for CheckKey's key.
func (t *Throttle) FailKey(ctx context.Context, key, client string) error {
	_, err := t.pool.Exec(ctx, `
		WITH gone AS (DELETE FROM login_failures WHERE failed_at < now() - $3::interval)
		INSERT INTO login_failures (key) VALUES ($1), ($2)`,
		key, clientKey(client), t.Window)
	if err != nil {
		return fmt.Errorf("record wrong password: %w", err)
	}
	return nil
}

// SucceedKey forgets key's failures.
func (t *Throttle) SucceedKey(ctx context.Context, key string) error {
	_, err := t.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return err
}
