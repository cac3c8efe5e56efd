// Package passwd hashes and checks passwords with argon2id, never more of
// them at once than a fixed bound, so that a burst of sign-ins costs bounded
// memory (each operation holds the parameters' whole memory block).
package passwd

import (
	"context"
	"fmt"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/mediagate/mediagate/internal/errs"
)

// Params are OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
var Params = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// DefaultWait is how long an operation waits for a free slot before it is
// refused with ErrBusy.
const DefaultWait = 2 * time.Second

// ErrBusy is a password operation refused because the bound was reached and
// no slot freed up in time: a 503, to be retried shortly.
var ErrBusy = fmt.Errorf("%w: too many passwords are being checked at once, try again in a moment", errs.ErrUnavailable)

// Hasher hashes and compares passwords, at most a fixed number at a time.
type Hasher struct {
	params *argon2id.Params
	slots  chan struct{}
	wait   time.Duration
}

// New returns a Hasher using params that runs at most concurrency operations
// at once (at least one) and makes the others wait up to wait.
func New(params *argon2id.Params, concurrency int, wait time.Duration) *Hasher {
	return &Hasher{params: params, slots: make(chan struct{}, max(concurrency, 1)), wait: wait}
}

// Bound returns how many operations may run at once.
func (h *Hasher) Bound() int { return cap(h.slots) }

// acquire takes a slot, waiting at most h.wait; release gives it back.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errs.ErrUnavailable, ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC-encoded argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	hash, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// Compare reports whether password matches hash, in constant time. The cost
// is that of hash's own parameters.
func (h *Hasher) Compare(ctx context.Context, password, hash string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	return ok, nil
}
